//go:build integration

package mongostore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/termflow/termflow/pkg/analysis"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// missingChunks lists the chunks that heads list but the chunks collection
// does not hold, and the ids the journal (if any) is rewriting.
func missingChunks(ctx context.Context, s *Store) (missing []string, rewriting map[string]bool, err error) {
	cur, err := s.terms.Find(ctx, bson.D{})
	if err != nil {
		return nil, nil, err
	}
	var heads []headDoc
	if err := cur.All(ctx, &heads); err != nil {
		return nil, nil, err
	}
	cur, err = s.chunks.Find(ctx, bson.D{})
	if err != nil {
		return nil, nil, err
	}
	var chunks []chunkDoc
	if err := cur.All(ctx, &chunks); err != nil {
		return nil, nil, err
	}
	have := map[string]bool{}
	for _, c := range chunks {
		have[c.ID] = true
	}
	for _, h := range heads {
		for _, m := range h.Chunks {
			if id := chunkID(h.ID, uint64(m.Lo), uint64(m.Hi)); !have[id] {
				missing = append(missing, id)
			}
		}
	}
	cur, err = s.journal.Find(ctx, bson.D{})
	if err != nil {
		return nil, nil, err
	}
	var parts []journalPart
	if err := cur.All(ctx, &parts); err != nil {
		return nil, nil, err
	}
	rewriting = map[string]bool{}
	for _, p := range parts {
		for _, id := range p.W.ChunkIDs {
			rewriting[id] = true
		}
	}
	return missing, rewriting, nil
}

// TestHeadsNeverListMissingChunks checks, before every write of a crash-free
// run and of runs crashed at every write position (restart mode), that no
// head lists a chunk that is missing, except a chunk the journal is
// rewriting in place (delete then insert: FerretDB has no cheap in-place
// replace, see search.go's retry).
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
				missing, rewriting, err := missingChunks(ctx, s)
				if err != nil {
					return err
				}
				checked++
				for _, id := range missing {
					if !rewriting[id] && failed == nil {
						failed = fmt.Errorf("before write %d: a head lists missing chunk %s", writes, id)
					}
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

// TestReadDuringChunkRewrite reads a term while the persister has deleted
// one of its listed chunks and not yet inserted its new value (the in-place
// rewrite of a chunk): the reader must wait for the chunk, not fail.
func TestReadDuringChunkRewrite(t *testing.T) {
	evs := crashScript()
	ctx := context.Background()
	s := openTestStore(t)
	s.maxChunk = crashChunk
	cp := Checkpoint{Offset: -1}
	if _, err := s.Apply(ctx, 0, evs[0], &cp); err != nil {
		t.Fatal(err)
	}
	type result struct {
		what string
		n    int
		err  error
	}
	results := make(chan result, 2)
	started := false
	s.writeHook = func() error {
		if started {
			return nil
		}
		missing, _, err := missingChunks(ctx, s)
		if err != nil || len(missing) == 0 {
			return err
		}
		started = true
		tk, _, _ := strings.Cut(missing[0], "#")
		parts := strings.Split(tk, "|") // index|term|field
		go func() {
			ps, _, err := s.Postings(ctx, parts[0], parts[2], parts[1])
			results <- result{"postings " + tk, len(ps), err}
		}()
		go func() {
			res, err := s.Search(ctx, parts[0], analysis.ParseQuery(parts[2]+":"+parts[1]), 0, 1)
			results <- result{"search " + tk, res.Total, err}
		}()
		time.Sleep(300 * time.Millisecond) // the readers find the chunk missing
		return nil
	}
	for i := 1; i < len(evs); i++ {
		if _, err := s.Apply(ctx, int64(i), evs[i], &cp); err != nil {
			t.Fatal(err)
		}
	}
	if !started {
		t.Fatal("no write left a listed chunk missing: the test reads nothing")
	}
	for range 2 {
		r := <-results
		if r.err != nil || r.n == 0 {
			t.Errorf("%s during a chunk rewrite: %d results, error %v", r.what, r.n, r.err)
		}
	}
}
