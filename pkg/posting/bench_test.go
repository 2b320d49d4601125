package posting

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// benchPostings returns n postings of documents "godoc-<i>" sorted by (hash,
// doc), as a chunk holds them, with deterministic tf and field lengths.
func benchPostings(n int) []Posting {
	r := rand.New(rand.NewPCG(uint64(n), 1))
	ps := make([]Posting, n)
	for i := range ps {
		ps[i] = Posting{Doc: fmt.Sprintf("godoc-%d", i), TF: 1 + uint32(r.IntN(4)), Length: 10 + uint32(r.IntN(2000))}
	}
	sortPostings(ps)
	return ps
}

func sortPostings(ps []Posting) {
	slices.SortFunc(ps, func(a, b Posting) int { return less(Hash(a.Doc), a.Doc, Hash(b.Doc), b.Doc) })
}

var benchListSizes = []int{100, MaxChunk}

func BenchmarkEncode(b *testing.B) {
	for _, n := range benchListSizes {
		b.Run(fmt.Sprintf("postings=%d", n), func(b *testing.B) {
			ps := benchPostings(n)
			b.ReportAllocs()
			b.SetBytes(int64(len(Encode(nil, ps))))
			var buf []byte
			for b.Loop() {
				buf = Encode(buf[:0], ps)
			}
		})
	}
}

// BenchmarkDecode decodes into a fresh slice each time, as the persister and
// search do (Decode(nil, …)).
func BenchmarkDecode(b *testing.B) {
	for _, n := range benchListSizes {
		b.Run(fmt.Sprintf("postings=%d", n), func(b *testing.B) {
			buf := Encode(nil, benchPostings(n))
			b.ReportAllocs()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if _, err := Decode(nil, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchOps returns n ops against the postings of benchPostings(chunk): a
// third insert new documents, a third replace existing postings with another
// tf, a third remove existing documents; in random (batch) order.
func benchOps(chunk, n int) []Op {
	r := rand.New(rand.NewPCG(uint64(n), 2))
	ops := make([]Op, 0, n)
	for i := range n {
		switch i % 3 {
		case 0:
			ops = append(ops, Op{Doc: fmt.Sprintf("new-%d", i), TF: 1, Length: 40})
		case 1:
			ops = append(ops, Op{Doc: fmt.Sprintf("godoc-%d", r.IntN(chunk)), TF: 7, Length: 50})
		case 2:
			ops = append(ops, Op{Doc: fmt.Sprintf("godoc-%d", r.IntN(chunk))})
		}
	}
	r.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
	return ops
}

// BenchmarkChunkApply applies one batch of ops to a chunk of MaxChunk
// postings. Every operation starts from a freshly decoded copy of the chunk
// (restored outside the timer), as the persister does.
func BenchmarkChunkApply(b *testing.B) {
	base := benchPostings(MaxChunk)
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("postings=%d/ops=%d", MaxChunk, n), func(b *testing.B) {
			ops := benchOps(MaxChunk, n)
			c := Chunk{Lo: 0, Hi: math.MaxUint64}
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				c.Postings = slices.Clone(base)
				b.StartTimer()
				if !c.Apply(ops) {
					b.Fatal("chunk unchanged")
				}
			}
		})
	}
	// A bulk load: a new term's first MaxChunk documents in one batch.
	b.Run(fmt.Sprintf("postings=0/ops=%d", MaxChunk), func(b *testing.B) {
		ops := benchOps(MaxChunk, MaxChunk)
		b.ReportAllocs()
		for b.Loop() {
			c := Chunk{Lo: 0, Hi: math.MaxUint64}
			if !c.Apply(ops) || len(c.Postings) == 0 {
				b.Fatal("chunk unchanged")
			}
		}
	})
}

// BenchmarkSplit splits a chunk of 2×MaxChunk postings into chunks of at most
// MaxChunk.
func BenchmarkSplit(b *testing.B) {
	n := 2 * MaxChunk
	b.Run(fmt.Sprintf("postings=%d", n), func(b *testing.B) {
		c := Chunk{Lo: 0, Hi: math.MaxUint64, Postings: benchPostings(n)}
		b.ReportAllocs()
		for b.Loop() {
			if parts := Split(c, MaxChunk); len(parts) < 2 {
				b.Fatalf("split into %d chunks", len(parts))
			}
		}
	})
}

// BenchmarkPlanChunk is what the persister does with one stored chunk and a
// batch's ops for it: decode, apply, encode (path=decoded), or the same in
// the binary form (path=encoded).
func BenchmarkPlanChunk(b *testing.B) {
	block := Encode(nil, benchPostings(MaxChunk))
	for _, n := range []int{10, 100, 1000} {
		ops := benchOps(MaxChunk, n)
		b.Run(fmt.Sprintf("postings=%d/ops=%d/path=decoded", MaxChunk, n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ps, err := Decode(nil, block)
				if err != nil {
					b.Fatal(err)
				}
				c := Chunk{Lo: 0, Hi: math.MaxUint64, Postings: ps}
				if !c.Apply(ops) {
					b.Fatal("chunk unchanged")
				}
				_ = Encode(nil, c.Postings)
			}
		})
		b.Run(fmt.Sprintf("postings=%d/ops=%d/path=encoded", MaxChunk, n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, changed, err := ApplyEncoded(nil, block, ops); err != nil || !changed {
					b.Fatal("chunk unchanged", err)
				}
			}
		})
	}
}
