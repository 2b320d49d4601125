//go:build integration

package mongostore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/termflow/termflow/pkg/analysis"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// missingChunks lists the chunks that heads list but the chunks collection
// does not hold.
func missingChunks(ctx context.Context, s *Store) (missing []string, err error) {
	cur, err := s.terms.Find(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	var heads []headDoc
	if err := cur.All(ctx, &heads); err != nil {
		return nil, err
	}
	cur, err = s.chunks.Find(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	var chunks []chunkDoc
	if err := cur.All(ctx, &chunks); err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, c := range chunks {
		have[c.ID] = true
	}
	for _, h := range heads {
		if h.P != nil {
			continue // inline: no chunk documents
		}
		for _, m := range h.Chunks {
			if id := chunkID(h.ID, uint64(m.Lo), uint64(m.Hi)); !have[id] {
				missing = append(missing, id)
			}
		}
	}
	return missing, nil
}

// TestHeadsNeverListMissingChunks checks, before every write of a crash-free
// run and of runs crashed at every write position (restart mode), the
// undoing of crashed batches included, that no head lists a chunk that is
// missing.
func TestHeadsNeverListMissingChunks(t *testing.T) {
	evs := crashScript()
	ctx := context.Background()
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 0))
			s := openTestStore(t)
			s.maxChunk = crashChunk
			name := s.db.Name()
			var writes, crashAt, checked int
			var failed error
			hook := func() error {
				writes++
				missing, err := missingChunks(ctx, s)
				if err != nil {
					return err
				}
				checked++
				if len(missing) > 0 && failed == nil {
					failed = fmt.Errorf("before write %d: a head lists missing chunks %v", writes, missing)
				}
				if crash && writes == crashAt {
					return errCrash
				}
				return nil
			}
			s.writeHook = hook
			cp := Checkpoint{Offset: -1}
			writes, crashAt = 0, 1
			reached := int64(0)
			for next := int64(0); next < int64(len(evs)); {
				var items []Item
				for i := next; i < int64(len(evs)) && i < next+1+int64(rng.IntN(3)); i++ {
					items = append(items, Item{Offset: i, Event: evs[i]})
				}
				c := cp
				_, err := s.ApplyBatch(ctx, items, &c)
				if err == nil {
					cp = c
					next += int64(len(items))
					writes = 0
					if next > reached {
						reached, crashAt = next, 1
					}
					continue
				}
				if !errors.Is(err, errCrash) {
					t.Fatal(err)
				}
				writes, crashAt = 0, crashAt+1
				s2, err := Open(ctx, testURI(t), name, zerolog.Nop())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s2.Close(context.Background()) })
				s2.writeHook, s2.maxChunk = hook, crashChunk
				s = s2
				if cp, err = s.LoadCheckpoint(ctx); err != nil {
					t.Fatal(err)
				}
				next = max(0, next-int64(rng.IntN(2)))
			}
			if failed != nil {
				t.Fatal(failed)
			}
			t.Logf("%d states checked", checked)
		})
	}
}

// TestReadDuringChunkRewrite reads a term while a chunk its head lists is
// missing. The persister never leaves one missing (chunks are inserted
// before the heads that list them, replaced in place, deleted after: see
// TestHeadsNeverListMissingChunks), but another writer or an older
// persister (delete then insert) can: the readers must wait for the chunk,
// not fail. The chunk is taken away by hand and put back 300 ms later.
func TestReadDuringChunkRewrite(t *testing.T) {
	evs := crashScript()
	ctx := context.Background()
	s := openTestStore(t)
	s.maxChunk = crashChunk
	cp := Checkpoint{Offset: -1}
	for i, ev := range evs[:2] {
		if _, err := s.Apply(ctx, int64(i), ev, &cp); err != nil {
			t.Fatal(err)
		}
	}
	tk := TermKey("books", "body", "common")
	var h headDoc
	if err := s.terms.FindOne(ctx, bson.D{{Key: "_id", Value: tk}}).Decode(&h); err != nil {
		t.Fatal(err)
	}
	if h.P != nil || len(h.Chunks) < 2 {
		t.Fatalf("%s: %d chunks, inline %v: want chunk documents", tk, len(h.Chunks), h.P != nil)
	}
	id := chunkID(tk, uint64(h.Chunks[1].Lo), uint64(h.Chunks[1].Hi))
	var c bson.Raw
	if err := s.chunks.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.chunks.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		what string
		n    int
		err  error
	}
	results := make(chan result, 2)
	go func() {
		ps, _, err := s.Postings(ctx, "books", "body", "common")
		results <- result{"postings", len(ps), err}
	}()
	go func() {
		res, err := s.Search(ctx, "books", analysis.ParseQuery("body:common"), 0, 1)
		results <- result{"search", res.Total, err}
	}()
	time.Sleep(300 * time.Millisecond) // the readers find the chunk missing
	if _, err := s.chunks.InsertOne(ctx, c); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r := <-results
		if r.err != nil || int64(r.n) != h.N {
			t.Errorf("%s of %s while chunk %s was missing: %d results (want %d), error %v", r.what, tk, id, r.n, h.N, r.err)
		}
	}
}
