package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestUpdateByIDs checks the patched update command (_patch/internal/
// handler: common.UpdateByIDs and the per-statement close of the
// statement-by-statement path; the SQLite backend's upsert for commands of
// replacements) against what MongoDB does: replacements and update
// operators by _id, upserts, unchanged documents, missing documents without
// upsert, more than 100 statements, duplicate ids and a failing statement.
func TestUpdateByIDs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := startEmbedded(t, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	c := client.Database("byid").Collection("c")
	id := func(i int) string { return fmt.Sprintf("k%04d", i) }
	docs := make([]any, 300)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: id(i)}, {Key: "v", Value: i}}
	}
	if _, err := c.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	want := map[string]int32{}
	for i := range 300 {
		want[id(i)] = int32(i)
	}

	// 250 replacements (upserts): 150 of stored documents, 20 of them
	// unchanged, and 100 new ones.
	var models []mongo.WriteModel
	for i := 150; i < 400; i++ {
		v := int32(i + 1000)
		if i < 170 {
			v = int32(i) // the stored value: matched, not modified
		}
		models = append(models, mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: id(i)}}).
			SetReplacement(bson.D{{Key: "_id", Value: id(i)}, {Key: "v", Value: v}}).SetUpsert(true))
		want[id(i)] = v
	}
	r, err := c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
	if err != nil {
		t.Fatal(err)
	}
	if r.MatchedCount != 150 || r.ModifiedCount != 130 || r.UpsertedCount != 100 {
		t.Errorf("replacements: matched %d modified %d upserted %d, want 150 130 100", r.MatchedCount, r.ModifiedCount, r.UpsertedCount)
	}
	for i := 300; i < 400; i++ {
		if got := r.UpsertedIDs[int64(i-150)]; got != id(i) {
			t.Errorf("upserted id of statement %d: %v, want %s", i-150, got, id(i))
			break
		}
	}

	// _ids that are not strings: an ObjectID and an integer, stored, then
	// replaced (one of each changed) in one command, then found by value.
	oid := bson.NewObjectID()
	oc := client.Database("byid").Collection("other")
	if _, err := oc.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: oid}, {Key: "v", Value: 1}}, bson.D{{Key: "_id", Value: int32(7)}, {Key: "v", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	r, err = oc.BulkWrite(ctx, []mongo.WriteModel{
		mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: oid}}).SetReplacement(bson.D{{Key: "_id", Value: oid}, {Key: "v", Value: 2}}).SetUpsert(true),
		mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: int32(7)}}).SetReplacement(bson.D{{Key: "_id", Value: int32(7)}, {Key: "v", Value: 1}}).SetUpsert(true),
	}, options.BulkWrite().SetOrdered(false))
	if err != nil {
		t.Fatal(err)
	}
	if r.MatchedCount != 2 || r.ModifiedCount != 1 || r.UpsertedCount != 0 {
		t.Errorf("ObjectID and integer _ids: matched %d modified %d upserted %d, want 2 1 0", r.MatchedCount, r.ModifiedCount, r.UpsertedCount)
	}
	var od struct {
		V int32 `bson:"v"`
	}
	if err := oc.FindOne(ctx, bson.D{{Key: "_id", Value: oid}}).Decode(&od); err != nil || od.V != 2 {
		t.Errorf("ObjectID _id after its replacement: v %d (%v), want 2", od.V, err)
	}

	// Replacements without upsert: 5 of stored documents, 5 of missing ones
	// (nothing inserted).
	models = models[:0]
	for i := 395; i < 405; i++ {
		models = append(models, mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: id(i)}}).
			SetReplacement(bson.D{{Key: "v", Value: int32(-i)}}))
		if i < 400 {
			want[id(i)] = int32(-i)
		}
	}
	if r, err = c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		t.Fatal(err)
	}
	if r.MatchedCount != 5 || r.ModifiedCount != 5 || r.UpsertedCount != 0 {
		t.Errorf("replacements without upsert: matched %d modified %d upserted %d, want 5 5 0", r.MatchedCount, r.ModifiedCount, r.UpsertedCount)
	}

	// 200 $inc updates, 10 of them of missing documents without upsert.
	models = models[:0]
	for i := 0; i < 200; i++ {
		k := id(i * 2)
		if i >= 190 {
			k = id(1000 + i)
		}
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: k}}).
			SetUpdate(bson.D{{Key: "$inc", Value: bson.D{{Key: "v", Value: 7}}}}))
		if i < 190 {
			want[k] += 7
		}
	}
	if r, err = c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		t.Fatal(err)
	}
	if r.MatchedCount != 190 || r.ModifiedCount != 190 || r.UpsertedCount != 0 {
		t.Errorf("$inc: matched %d modified %d upserted %d, want 190 190 0", r.MatchedCount, r.ModifiedCount, r.UpsertedCount)
	}

	// Duplicate ids take the statement-by-statement path (150 statements,
	// more than FerretDB's 100 pooled connections): the second $inc of an
	// id sees the first.
	models = models[:0]
	for i := range 150 {
		k := id(i % 75)
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: k}}).
			SetUpdate(bson.D{{Key: "$inc", Value: bson.D{{Key: "v", Value: 1}}}}))
		want[k]++
	}
	if r, err = c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		t.Fatal(err)
	}
	if r.MatchedCount != 150 || r.ModifiedCount != 150 {
		t.Errorf("duplicate ids: matched %d modified %d, want 150 150", r.MatchedCount, r.ModifiedCount)
	}

	// A statement that would change an _id fails the command; the ones
	// before it are applied (upstream's behaviour, which the patch falls
	// back to when a statement fails before anything is written).
	models = []mongo.WriteModel{
		mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: id(1)}}).SetReplacement(bson.D{{Key: "v", Value: -1}}),
		mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: id(2)}}).SetReplacement(bson.D{{Key: "_id", Value: "other"}, {Key: "v", Value: -2}}),
	}
	if _, err = c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(true)); err == nil || !strings.Contains(err.Error(), "_id") {
		t.Errorf("changing an _id: %v, want an immutable field error", err)
	}
	want[id(1)] = -1

	cur, err := c.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		ID string `bson:"_id"`
		V  int32  `bson:"v"`
	}
	if err := cur.All(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("%d documents, want %d", len(got), len(want))
	}
	for _, d := range got {
		if w, ok := want[d.ID]; !ok || d.V != w {
			t.Errorf("%s: v %d, want %d (stored: %v)", d.ID, d.V, w, ok)
		}
	}
}

// TestIDInUsesIndex checks the patched Query of the SQLite backend:
// {_id: {$in: [...]}} is an index search, and finds and deletes by it give
// MongoDB's results (other $in values are still filtered in memory).
func TestIDInUsesIndex(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := startEmbedded(t, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	db := client.Database("idin")
	c := db.Collection("c")
	docs := make([]any, 1000)
	for i := range docs {
		var k any = fmt.Sprintf("k%04d", i)
		if i%100 == 0 {
			k = int32(i) // a number _id: not pushed down, still found
		}
		docs[i] = bson.D{{Key: "_id", Value: k}, {Key: "n", Value: i}}
	}
	if _, err := c.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	in := bson.A{"k0005", "k0007", "k0999", "missing"}
	var res bson.M
	err := db.RunCommand(ctx, bson.D{{Key: "explain", Value: bson.D{
		{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: in}}}}}}}}).Decode(&res)
	if err != nil {
		t.Fatal(err)
	}
	if plan := fmt.Sprint(res["queryPlanner"]); !strings.Contains(plan, "USING INDEX") || res["filterPushdown"] != true {
		t.Fatalf("find by _id $in is not an index search: queryPlanner %s, filterPushdown %v", plan, res["filterPushdown"])
	}
	count := func(filter bson.D) int {
		t.Helper()
		cur, err := c.Find(ctx, filter)
		if err != nil {
			t.Fatal(err)
		}
		var got []bson.M
		if err := cur.All(ctx, &got); err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	if n := count(bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: in}}}}); n != 3 {
		t.Errorf("find $in strings: %d documents, want 3", n)
	}
	if n := count(bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{"k0005", int32(300)}}}}}); n != 2 {
		t.Errorf("find $in of a string and a number: %d documents, want 2", n)
	}
	dr, err := c.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: in}}}})
	if err != nil || dr.DeletedCount != 3 {
		t.Fatalf("deleteMany $in: %+v, %v", dr, err)
	}
	if n := count(bson.D{}); n != 997 {
		t.Errorf("%d documents after deleting 3 of 1000", n)
	}
}
