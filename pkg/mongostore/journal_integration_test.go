//go:build integration

package mongostore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestRecoverJournals: a journal of several parts is redone only when it is
// complete and its batch is not covered by the checkpoint; incomplete ones
// (several of them) and covered ones are dropped without a write.
func TestRecoverJournals(t *testing.T) {
	evs := crashScript()
	ctx := context.Background()
	ref := openTestStore(t)
	ref.maxChunk = crashChunk
	want := make([]map[string][]bson.M, len(evs)) // state after event i
	cp := Checkpoint{Offset: -1}
	for i, ev := range evs {
		if _, err := ref.Apply(ctx, int64(i), ev, &cp); err != nil {
			t.Fatal(err)
		}
		want[i] = dump(t, ref)
	}
	check := func(s *Store, i int, when string) {
		t.Helper()
		got := dump(t, s)
		for c, docs := range want[i] {
			if !reflect.DeepEqual(docs, got[c]) {
				t.Errorf("%s: %s differs from the state after event %d: %d documents, want %d%s", when, c, i, len(got[c]), len(docs), firstDiff(docs, got[c]))
			}
		}
	}
	journalDocs := func(s *Store) []bson.M {
		cur, err := s.journal.Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var out []bson.M
		if err := cur.All(ctx, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	insert := func(s *Store, docs []bson.M) {
		t.Helper()
		for _, d := range docs {
			if _, err := s.journal.InsertOne(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
	}

	s := openTestStore(t)
	s.maxChunk, s.journalPartMax = crashChunk, 1500
	cp = Checkpoint{Offset: -1}
	if _, err := s.Apply(ctx, 0, evs[0], &cp); err != nil {
		t.Fatal(err)
	}
	// Event 1 stops right after its journal: documents, then the journal.
	journaled := false
	s.writeHook = func() error {
		if n, _ := s.journal.CountDocuments(ctx, bson.D{}); n > 0 {
			journaled = true
			return errCrash
		}
		return nil
	}
	if _, err := s.Apply(ctx, 1, evs[1], &cp); !errors.Is(err, errCrash) || !journaled {
		t.Fatalf("apply stopped by %v, journal written %v", err, journaled)
	}
	s.writeHook = nil
	j1 := journalDocs(s)
	if len(j1) < 3 {
		t.Fatalf("journal of %d parts, want several", len(j1))
	}
	// Another incomplete journal at a later offset (a copy of j1 under
	// other ids, one part short) and j1 without its last part.
	var other []bson.M
	for _, d := range j1[1:] {
		c := bson.M{}
		for k, v := range d {
			c[k] = v
		}
		c["_id"], c["off"] = fmt.Sprintf("x%v", d["_id"]), int64(5)
		other = append(other, c)
	}
	if _, err := s.journal.DeleteOne(ctx, bson.D{{Key: "_id", Value: j1[len(j1)-1]["_id"]}}); err != nil {
		t.Fatal(err)
	}
	insert(s, other)
	if _, err := s.recover(ctx); err != nil {
		t.Fatal(err)
	}
	// Only event 1's documents were written; its terms are not.
	if n := len(journalDocs(s)); n != 0 {
		t.Fatalf("%d journal documents left after recover", n)
	}
	st := dump(t, s)
	for _, c := range []string{CollTerms, CollChunks, CollIndexStats, CollFieldStats, CollCheckpoints} {
		if !reflect.DeepEqual(st[c], want[0][c]) {
			t.Errorf("incomplete journals changed %s%s", c, firstDiff(want[0][c], st[c]))
		}
	}
	// The complete journal plus an incomplete one: the complete one is redone.
	insert(s, j1)
	insert(s, other)
	s.clean = false
	cp = Checkpoint{Offset: 0}
	if _, err := s.ApplyBatch(ctx, []Item{{Offset: 1, Event: evs[1]}}, &cp); err != nil {
		t.Fatal(err)
	}
	if cp.Offset != 1 {
		t.Fatalf("checkpoint %d after redoing the journal of event 1", cp.Offset)
	}
	check(s, 1, "after redoing a journal of several parts")
	// Event 2, then event 1's journal again (its checkpoint was written,
	// the journal not removed): it must not be redone.
	if _, err := s.Apply(ctx, 2, evs[2], &cp); err != nil {
		t.Fatal(err)
	}
	insert(s, j1)
	if _, err := s.recover(ctx); err != nil {
		t.Fatal(err)
	}
	check(s, 2, "after recovering from a covered journal")
}

// TestRecoverOldJournal: a journal of the earlier format (every term write
// of its batch, with the batch's statistics and checkpoint in part 0) is
// redone whole, checkpoint included.
func TestRecoverOldJournal(t *testing.T) {
	evs := crashScript()
	ctx := context.Background()
	ref := openTestStore(t)
	ref.maxChunk = crashChunk
	cp := Checkpoint{Offset: -1}
	for i := range 2 {
		if _, err := ref.Apply(ctx, int64(i), evs[i], &cp); err != nil {
			t.Fatal(err)
		}
	}
	want, refCP := dump(t, ref), cp

	s := openTestStore(t)
	s.maxChunk = crashChunk
	cp = Checkpoint{Offset: -1}
	if _, err := s.Apply(ctx, 0, evs[0], &cp); err != nil {
		t.Fatal(err)
	}
	before := dump(t, s)
	// Event 1's documents were written (they come before the journal).
	if _, err := s.docs.DeleteMany(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	for _, d := range want[CollDocuments] {
		if _, err := s.docs.InsertOne(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(docs []bson.M) []any {
		out := make([]any, len(docs))
		for i, d := range docs {
			out[i] = d["_id"]
		}
		return out
	}
	gone := func(c string) []any {
		keep := map[any]bool{}
		for _, d := range want[c] {
			keep[d["_id"]] = true
		}
		var out []any
		for _, d := range before[c] {
			if !keep[d["_id"]] {
				out = append(out, d["_id"])
			}
		}
		return out
	}
	part := bson.M{
		"_id": fmt.Sprintf("%020d/%04d", 1, 0), "off": int64(1), "parts": 1,
		"w": bson.M{
			"chunkIDs": ids(want[CollChunks]), "chunks": want[CollChunks],
			"headIDs": ids(want[CollTerms]), "heads": want[CollTerms],
			"headDeletes": gone(CollTerms), "chunkDeletes": gone(CollChunks),
		},
		"stats": bson.M{"indexes": want[CollIndexStats], "fields": want[CollFieldStats]},
		"cp":    refCP,
	}
	if _, err := s.journal.InsertOne(ctx, part); err != nil {
		t.Fatal(err)
	}
	s.clean = false
	got, err := s.recover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Offset != 1 {
		t.Fatalf("checkpoint %d after redoing an old journal of event 1", got.Offset)
	}
	after := dump(t, s)
	for c, docs := range want {
		if !reflect.DeepEqual(docs, after[c]) {
			t.Errorf("%s differs from the state after event 1: %d documents, want %d%s", c, len(after[c]), len(docs), firstDiff(docs, after[c]))
		}
	}
}
