package mongostore

import (
	"fmt"
	"slices"
	"testing"

	"github.com/bits-and-blooms/bloom/v3"
)

func newTestKnown(headsMax, headMax int) *known {
	return &known{
		filter: bloom.NewWithEstimates(1000, 0.01), capacity: 1000,
		heads: map[string]*headDoc{}, chunks: map[string][]byte{},
		headsMax: headsMax, headMax: headMax, chunkMax: 1 << 20,
	}
}

func writeHeads(k *known, ids ...string) {
	tw := &termWrites{}
	for _, id := range ids {
		tw.Heads = append(tw.Heads, headDoc{ID: id, P: make([]byte, 10)})
	}
	k.wrote(tw)
}

func cached(k *known) []string {
	var ids []string
	for id := range k.heads {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// TestKnownEvictsLeastRecentlyWritten checks that the remembered heads are
// evicted in the order they were last written, by count and by bytes, and
// that the bookkeeping stays exact and bounded.
func TestKnownEvictsLeastRecentlyWritten(t *testing.T) {
	k := newTestKnown(3, 1<<20)
	writeHeads(k, "a", "b", "c")
	writeHeads(k, "a") // written again: now the most recent
	writeHeads(k, "d") // evicts b, the least recently written
	if got, want := cached(k), []string{"a", "c", "d"}; !slices.Equal(got, want) {
		t.Fatalf("after d: %v, want %v", got, want)
	}
	k.wrote(&termWrites{HeadDeletes: []string{"c"}}) // emptied term
	writeHeads(k, "e")                               // room left by c: nothing evicted
	writeHeads(k, "f")                               // evicts a (c's queue entry is skipped)
	if got, want := cached(k), []string{"d", "e", "f"}; !slices.Equal(got, want) {
		t.Fatalf("after f: %v, want %v", got, want)
	}

	// By bytes: each head is headSize bytes; room for two.
	size := headSize(&headDoc{ID: "x0", P: make([]byte, 10)})
	k = newTestKnown(100, 2*size)
	writeHeads(k, "x0", "x1")
	writeHeads(k, "x0")
	writeHeads(k, "x2") // evicts x1
	if got, want := cached(k), []string{"x0", "x2"}; !slices.Equal(got, want) {
		t.Fatalf("by bytes: %v, want %v", got, want)
	}

	// Heads written again and again without eviction: the queue of write
	// order stays bounded, and the byte count exact.
	k = newTestKnown(1000, 1<<30)
	for i := range 20000 {
		writeHeads(k, fmt.Sprintf("h%d", i%50))
	}
	if len(k.heads) != 50 {
		t.Fatalf("%d heads, want 50", len(k.heads))
	}
	if len(k.order) > 2*len(k.heads)+1025 {
		t.Errorf("order holds %d entries for %d heads", len(k.order), len(k.heads))
	}
	total := 0
	for _, h := range k.heads {
		total += headSize(h)
	}
	if total != k.headBytes {
		t.Errorf("headBytes %d, want %d", k.headBytes, total)
	}
	// Then the 50 heads in a new order; filling the cache past its count
	// evicts them in that order.
	for i := 49; i >= 0; i-- {
		writeHeads(k, fmt.Sprintf("h%d", i))
	}
	for i := range 960 {
		writeHeads(k, fmt.Sprintf("n%d", i))
	}
	for i := range 50 {
		_, ok := k.heads[fmt.Sprintf("h%d", i)]
		if want := i < 40; ok != want { // h49..h40 were written first: evicted
			t.Errorf("h%d cached %v, want %v", i, ok, want)
		}
	}
}
