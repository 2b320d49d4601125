//go:build integration

package mongostore

import (
	"context"
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestRawWrites: insertRaw and replaceRaw write what InsertMany and a bulk
// write of upserting replacements would, report the documents they wrote,
// and return duplicate keys as the BulkWriteException insertFresh reads.
func TestRawWrites(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	c := s.db.Collection("raw")
	var cmds []Command
	s.SetCommandHook(func(cmd Command) { cmds = append(cmds, cmd) })
	raw := func(id string, n int) bson.Raw {
		b, err := bson.Marshal(bson.D{{Key: "_id", Value: id}, {Key: "n", Value: int32(n)}, {Key: "a", Value: bson.A{"x", int32(n)}}})
		if err != nil {
			t.Fatal(err)
		}
		return bson.Raw(b)
	}
	if err := s.insertRaw(ctx, c, []bson.Raw{raw("a", 1), raw("b", 2), raw("c", 3)}); err != nil {
		t.Fatal(err)
	}
	// b is stored already: the others go in, b comes back by its index.
	err := s.insertRaw(ctx, c, []bson.Raw{raw("d", 4), raw("b", 5), raw("e", 6)})
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || len(bwe.WriteErrors) != 1 || bwe.WriteErrors[0].Index != 1 || !mongo.IsDuplicateKeyError(bwe.WriteErrors[0]) {
		t.Fatalf("duplicate insert: %v", err)
	}
	// Replace b and d, upsert f.
	if err := s.replaceRaw(ctx, c, []string{"b", "d", "f"}, []bson.Raw{raw("b", 20), raw("d", 40), raw("f", 60)}); err != nil {
		t.Fatal(err)
	}
	cur, err := c.Find(ctx, bson.D{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		ID string `bson:"_id"`
		N  int    `bson:"n"`
		A  bson.A `bson:"a"`
	}
	if err := cur.All(ctx, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"a": 1, "b": 20, "c": 3, "d": 40, "e": 6, "f": 60}
	if len(got) != len(want) {
		t.Fatalf("stored %+v", got)
	}
	for _, g := range got {
		if want[g.ID] != g.N || len(g.A) != 2 || g.A[0] != "x" {
			t.Fatalf("stored %+v, want n %d", g, want[g.ID])
		}
	}
	wantCmds := []Command{{"raw", "insert", 3}, {"raw", "insert", 0}, {"raw", "update", 3}}
	if len(cmds) != len(wantCmds) {
		t.Fatalf("commands %+v", cmds)
	}
	for i := range wantCmds {
		if cmds[i] != wantCmds[i] {
			t.Fatalf("commands %+v, want %+v", cmds, wantCmds)
		}
	}
}
