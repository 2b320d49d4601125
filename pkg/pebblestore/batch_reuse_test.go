package pebblestore

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestCloseAfterCommitLeavesOtherBatchesAlone: the indexer defers Close and
// commits, so Close runs after a successful Commit. Pebble recycles a
// committed batch; closing it again would recycle whichever batch the pool
// handed out meanwhile, wiping another partition's writes.
func TestCloseAfterCommitLeavesOtherBatchesAlone(t *testing.T) {
	s, err := Open("db", Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 200 {
		a := s.NewBatch()
		a.SetApplied("docs", 0, int64(i))
		if err := a.Commit(); err != nil {
			t.Fatal(err)
		}
		b := s.NewBatch() // may be the batch a just gave back
		b.SetPosting("i", "f", "t", "x", 1, 1)
		a.Close()
		b.SetApplied("docs", 1, int64(i))
		if err := b.Commit(); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		b.Close()
		if ps, _ := s.Postings("i", "f", "t"); len(ps) != 1 {
			t.Fatalf("round %d: posting of the second batch lost", i)
		}
		if off, _ := s.Applied("docs", 1); off != int64(i) {
			t.Fatalf("round %d: applied %d", i, off)
		}
	}
}
