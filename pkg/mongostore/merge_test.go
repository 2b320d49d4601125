package mongostore

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/termflow/termflow/pkg/dirtyterms"
)

func rec(off int64, id string) dirtyterms.Record {
	return dirtyterms.Record{Offset: off, Index: "books", ID: id, Count: 1}
}

func term(t string, ops ...dirtyterms.Op) dirtyterms.Term {
	return dirtyterms.Term{Index: "books", Field: "body", Term: t, Ops: ops}
}

func TestMergeDedupesAndRemaps(t *testing.T) {
	cp := &Checkpoint{Offset: 4, Sources: []Source{{Topic: "docs", Partition: 1, Offset: 11}}}
	items := []Item{
		// At or below the checkpoint: skipped whole.
		{Offset: 4, Event: &dirtyterms.Event{Topic: "docs", Partition: 0, LastOffset: 99,
			Records: []dirtyterms.Record{rec(99, "zz")}, Terms: []dirtyterms.Term{term("zz", dirtyterms.Op{Rec: 0, TF: 1})}}},
		// Partition 1: 10 and 11 were applied before.
		{Offset: 5, Event: &dirtyterms.Event{Topic: "docs", Partition: 1, LastOffset: 13,
			Records: []dirtyterms.Record{rec(10, "a"), rec(11, "b"), rec(12, "c"), rec(13, "a")},
			Terms: []dirtyterms.Term{
				term("x", dirtyterms.Op{Rec: 0, TF: 1}, dirtyterms.Op{Rec: 2, TF: 2}, dirtyterms.Op{Rec: 3, TF: 3}),
				term("gone", dirtyterms.Op{Rec: 1, TF: 1}), // only a dropped record
			}}},
		// Partition 0, first event of it.
		{Offset: 6, Event: &dirtyterms.Event{Topic: "docs", Partition: 0, LastOffset: 7,
			Records: []dirtyterms.Record{rec(7, "p")}, Terms: []dirtyterms.Term{term("x", dirtyterms.Op{Rec: 0, TF: 4})}}},
		// Partition 1 re-emitted by another indexer with other boundaries:
		// 12 and 13 come again (dropped), 14 is new.
		{Offset: 7, Event: &dirtyterms.Event{Topic: "docs", Partition: 1, LastOffset: 14,
			Records: []dirtyterms.Record{rec(12, "c"), rec(13, "a"), rec(14, "c")},
			Terms: []dirtyterms.Term{
				term("x", dirtyterms.Op{Rec: 0, TF: 2}, dirtyterms.Op{Rec: 1, TF: 3}, dirtyterms.Op{Rec: 2}),
				term("y", dirtyterms.Op{Rec: 2, TF: 1}),
			}}},
		// Only records applied before: nothing merged, offsets still move.
		{Offset: 8, Event: &dirtyterms.Event{Topic: "docs", Partition: 1, LastOffset: 14,
			Records: []dirtyterms.Record{rec(14, "c")}, Terms: []dirtyterms.Term{term("y", dirtyterms.Op{Rec: 0, TF: 1})}}},
	}
	var st ApplyStats
	ev, _, next := merge(items, cp, &st)
	wantRecs := []dirtyterms.Record{rec(12, "c"), rec(13, "a"), rec(7, "p"), rec(14, "c")}
	if !reflect.DeepEqual(ev.Records, wantRecs) {
		t.Errorf("records %+v, want %+v", ev.Records, wantRecs)
	}
	// A term keeps one entry per event, in order (planTerms joins them).
	wantTerms := []dirtyterms.Term{
		term("x", dirtyterms.Op{Rec: 0, TF: 2}, dirtyterms.Op{Rec: 1, TF: 3}),
		term("x", dirtyterms.Op{Rec: 2, TF: 4}),
		term("x", dirtyterms.Op{Rec: 3}),
		term("y", dirtyterms.Op{Rec: 3, TF: 1}),
	}
	if !reflect.DeepEqual(ev.Terms, wantTerms) {
		t.Errorf("terms %+v, want %+v", ev.Terms, wantTerms)
	}
	wantCP := Checkpoint{Offset: 8, Sources: []Source{{Topic: "docs", Partition: 0, Offset: 7}, {Topic: "docs", Partition: 1, Offset: 14}}}
	if !reflect.DeepEqual(next, wantCP) {
		t.Errorf("next checkpoint %+v, want %+v", next, wantCP)
	}
	if cp.Offset != 4 || len(cp.Sources) != 1 || cp.Sources[0].Offset != 11 {
		t.Errorf("merge changed the caller's checkpoint: %+v", cp)
	}
	if st.Events != 4 || st.Records != 4 || st.Duplicates != 5 {
		t.Errorf("stats %+v, want 4 events, 4 records, 5 duplicates", st)
	}
}

func TestMergeAllSkipped(t *testing.T) {
	cp := &Checkpoint{Offset: 9}
	var st ApplyStats
	ev, _, next := merge([]Item{{Offset: 8, Event: &dirtyterms.Event{Records: []dirtyterms.Record{rec(1, "a")}}}}, cp, &st)
	if next.Offset != 9 || len(ev.Records) != 0 || st.Events != 0 {
		t.Errorf("events below the checkpoint merged: %+v %+v %+v", ev, next, st)
	}
}

// BenchmarkMerge merges a zipf-10k-like batch: 100 events of 100 documents,
// each document with about 25 terms of a Zipf vocabulary (the persister's
// merge of a bulk load's poll).
func BenchmarkMerge(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.1, 2, 49999)
	var items []Item
	for e := range 100 {
		ev := &dirtyterms.Event{Topic: "docs", Partition: 0, FirstOffset: int64(e * 100), LastOffset: int64(e*100 + 99)}
		byTerm := map[string]int{}
		for d := range 100 {
			ev.Records = append(ev.Records, rec(int64(e*100+d), fmt.Sprint("d", e*100+d)))
			for range 15 + r.IntN(20) {
				t := fmt.Sprint("w", z.Uint64())
				i, ok := byTerm[t]
				if !ok {
					i = len(ev.Terms)
					byTerm[t] = i
					ev.Terms = append(ev.Terms, term(t))
				}
				if ops := ev.Terms[i].Ops; len(ops) == 0 || ops[len(ops)-1].Rec != d {
					ev.Terms[i].Ops = append(ev.Terms[i].Ops, dirtyterms.Op{Rec: d, TF: 1, Length: 20})
				}
			}
		}
		items = append(items, Item{Offset: int64(e), Event: ev})
	}
	b.ReportAllocs()
	for b.Loop() {
		var st ApplyStats
		merge(items, &Checkpoint{Offset: -1}, &st)
	}
}
