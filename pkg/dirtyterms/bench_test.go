package dirtyterms

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/termflow/termflow/pkg/progress"
)

// benchEvent returns a deterministic event of records records and terms
// dirty terms. Every record is a short document (title and body, about 20
// words) with its field deltas; a term's ops reference Zipf-distributed
// records counts, so a few terms are touched by many records and most by one
// or two, as in a real batch (about 45 ops per record, like a short
// document's distinct terms in its fields and _all).
func benchEvent(records, terms int) *Event {
	r := rand.New(rand.NewPCG(uint64(records), uint64(terms)))
	e := &Event{V: Version, Indexer: "indexer-1", Topic: "termflow.documents", Partition: 7,
		FirstOffset: 100000, LastOffset: 100000 + int64(records) - 1}
	seqs := make([]int, 0, records)
	for i := range records {
		src := fmt.Sprintf(`{"id":"doc-%d","title":"title words of document %d","body":"some body text with about fifteen words in it, number %d, and a few more words"}`, i, i, r.IntN(1e6))
		e.Records = append(e.Records, Record{Offset: e.FirstOffset + int64(i), Index: "godoc", ID: fmt.Sprintf("doc-%d", i),
			Source: json.RawMessage(src), Count: 1, Fields: []FieldDelta{
				{Field: "_all", Docs: 1, Length: 22}, {Field: "body", Docs: 1, Length: 15},
				{Field: "id", Docs: 1, Length: 2}, {Field: "title", Docs: 1, Length: 5}}})
		seqs = append(seqs, i)
	}
	zipf := rand.NewZipf(r, 2, 1, uint64(records-1))
	fields := []string{"_all", "body", "title"}
	for i := range terms {
		t := Term{Index: "godoc", Field: fields[i%len(fields)], Term: fmt.Sprintf("term%d", i)}
		n := 1 + int(zipf.Uint64())
		start := r.IntN(records)
		for j := range n {
			rec := (start + j*(records/n)) % records
			op := Op{Rec: rec, TF: 1 + uint32(r.IntN(3)), Length: 5 + uint32(r.IntN(20))}
			if r.IntN(20) == 0 {
				op.TF, op.Length = 0, 0
			}
			t.Ops = append(t.Ops, op)
		}
		slices.SortFunc(t.Ops, func(a, b Op) int { return a.Rec - b.Rec })
		e.Terms = append(e.Terms, t)
	}
	e.Progress = []progress.Message{{Operation: "op_bench", Stage: progress.Indexed, Seqs: progress.RangesOf(seqs)}}
	return e
}

var benchSizes = []struct{ records, terms int }{{1000, 10000}}

func opCount(e *Event) int {
	n := 0
	for _, t := range e.Terms {
		n += len(t.Ops)
	}
	return n
}

func BenchmarkEventEncode(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(fmt.Sprintf("records=%d/terms=%d", sz.records, sz.terms), func(b *testing.B) {
			e := benchEvent(sz.records, sz.terms)
			wire, err := e.Encode()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(wire)))
			for b.Loop() {
				if _, err := e.Encode(); err != nil {
					b.Fatal(err)
				}
			}
			// After the loop: b.Loop resets user-reported metrics.
			b.ReportMetric(float64(opCount(e)), "ops/event")
		})
	}
}

func BenchmarkEventDecode(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(fmt.Sprintf("records=%d/terms=%d", sz.records, sz.terms), func(b *testing.B) {
			e := benchEvent(sz.records, sz.terms)
			wire, err := e.Encode()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(wire)))
			for b.Loop() {
				if _, err := Decode(wire); err != nil {
					b.Fatal(err)
				}
			}
			// After the loop: b.Loop resets user-reported metrics.
			b.ReportMetric(float64(opCount(e)), "ops/event")
		})
	}
}

// TestBenchEventRoundTrip keeps the benchmark event valid.
func TestBenchEventRoundTrip(t *testing.T) {
	e := benchEvent(50, 200)
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(b); err != nil {
		t.Fatal(err)
	}
}
