package posting

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func TestEncodeDecode(t *testing.T) {
	tests := [][]Posting{
		nil,
		{{Doc: "a", TF: 1, Length: 3}},
		{{Doc: "", TF: 0, Length: 0}, {Doc: "日本", TF: math.MaxUint32, Length: math.MaxUint32}},
	}
	for _, ps := range tests {
		b := Encode(nil, ps)
		got, err := Decode(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) == 0 && len(got) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, ps) {
			t.Fatalf("round trip %v -> %v", ps, got)
		}
	}
}

func TestDecodeCorrupt(t *testing.T) {
	good := Encode(nil, []Posting{{Doc: "abc", TF: 2, Length: 9}})
	for i := 0; i < len(good); i++ {
		if _, err := Decode(nil, good[:i]); err == nil {
			t.Errorf("truncated at %d: no error", i)
		}
	}
	if _, err := Decode(nil, append(good, 0)); err == nil {
		t.Error("trailing byte: no error")
	}
}

func full() Chunk { return Chunk{Lo: 0, Hi: math.MaxUint64} }

func TestApplyIsIdempotentAndOrdered(t *testing.T) {
	ops := []Op{
		{Doc: "d1", TF: 1, Length: 5},
		{Doc: "d2", TF: 2, Length: 7},
		{Doc: "d1"}, // remove
		{Doc: "d1", TF: 3, Length: 4},
		{Doc: "d3"}, // remove of a missing doc
	}
	c := full()
	if !c.Apply(ops) {
		t.Fatal("first apply reported no change")
	}
	want := map[string]Posting{"d1": {"d1", 3, 4}, "d2": {"d2", 2, 7}}
	if len(c.Postings) != 2 {
		t.Fatalf("postings = %v", c.Postings)
	}
	for _, p := range c.Postings {
		if want[p.Doc] != p {
			t.Errorf("posting %v, want %v", p, want[p.Doc])
		}
	}
	before := slices.Clone(c.Postings)
	if c.Apply(ops[3:]) {
		t.Error("re-applying the tail reported a change")
	}
	if !reflect.DeepEqual(before, c.Postings) {
		t.Error("re-applying changed the chunk")
	}
	if !slices.IsSortedFunc(c.Postings, func(a, b Posting) int { return less(Hash(a.Doc), a.Doc, Hash(b.Doc), b.Doc) }) {
		t.Error("postings not sorted")
	}
}

func TestSplitOverMax(t *testing.T) {
	for _, n := range []int{MaxChunk, MaxChunk + 1, 12345, 3 * MaxChunk} {
		t.Run(fmt.Sprintf("postings=%d", n), func(t *testing.T) {
			c := full()
			ops := make([]Op, n)
			for i := range ops {
				ops[i] = Op{Doc: fmt.Sprintf("doc-%d", i), TF: 1, Length: 1}
			}
			c.Apply(ops)
			chunks := Split(c, MaxChunk)
			if n <= MaxChunk && len(chunks) != 1 {
				t.Fatalf("%d postings split into %d chunks", n, len(chunks))
			}
			if n > MaxChunk && len(chunks) < 2 {
				t.Fatalf("%d postings in %d chunk", n, len(chunks))
			}
			total := 0
			seen := map[string]bool{}
			next := uint64(0)
			for i, ch := range chunks {
				if len(ch.Postings) > MaxChunk {
					t.Errorf("chunk %d has %d postings", i, len(ch.Postings))
				}
				if ch.Lo != next {
					t.Errorf("chunk %d starts at %x, want %x", i, ch.Lo, next)
				}
				next = ch.Hi + 1
				for _, p := range ch.Postings {
					if seen[p.Doc] {
						t.Errorf("%s in two chunks", p.Doc)
					}
					seen[p.Doc] = true
					if !ch.Contains(p.Doc) {
						t.Errorf("%s outside chunk %d range", p.Doc, i)
					}
				}
				total += len(ch.Postings)
			}
			if chunks[len(chunks)-1].Hi != math.MaxUint64 {
				t.Error("ranges do not cover the hash space")
			}
			if total != n {
				t.Errorf("total %d, want %d", total, n)
			}
			// Deterministic: the same input splits the same way.
			if again := Split(c, MaxChunk); !reflect.DeepEqual(again, chunks) {
				t.Error("split is not deterministic")
			}
		})
	}
}

// TestRandomOpsMatchModel applies random ops through chunks that split as
// they grow and compares the union with a plain map.
func TestRandomOpsMatchModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	model := map[string]Posting{}
	chunks := []Chunk{full()}
	const max = 50
	for round := 0; round < 200; round++ {
		var ops []Op
		for i := 0; i < 20; i++ {
			doc := fmt.Sprintf("d%d", r.IntN(400))
			if r.IntN(4) == 0 {
				ops = append(ops, Op{Doc: doc})
				delete(model, doc)
			} else {
				p := Op{Doc: doc, TF: uint32(1 + r.IntN(5)), Length: uint32(1 + r.IntN(100))}
				ops = append(ops, p)
				model[doc] = p
			}
		}
		var next []Chunk
		for _, c := range chunks {
			var mine []Op
			for _, op := range ops {
				if c.Contains(op.Doc) {
					mine = append(mine, op)
				}
			}
			c.Apply(mine)
			next = append(next, Split(c, max)...)
		}
		chunks = next
	}
	got := map[string]Posting{}
	for _, c := range chunks {
		if len(c.Postings) > max {
			t.Fatalf("chunk over max: %d", len(c.Postings))
		}
		for _, p := range c.Postings {
			got[p.Doc] = p
		}
	}
	if !reflect.DeepEqual(got, model) {
		t.Fatalf("chunks hold %d postings, model %d", len(got), len(model))
	}
}

// TestApplyMergeMatchesOneByOne checks the merging path of Apply (more than
// applyMergeMin ops) against applying the same ops one at a time: same
// postings, same changed report, for ops that add, replace, re-set,
// remove and remove missing documents, with repeats of a document.
// randomChunk holds about half of documents d0 … d<docs-1>, with random term
// frequencies and the given field lengths.
func randomChunk(r *rand.Rand, docs int, length func() uint32) Chunk {
	c := full()
	for d := range docs {
		if r.IntN(2) == 0 {
			c.Apply([]Op{{Doc: fmt.Sprintf("d%d", d), TF: uint32(1 + r.IntN(3)), Length: length()}})
		}
	}
	return c
}

func TestApplyMergeMatchesOneByOne(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for round := range 300 {
		docs := 5 + r.IntN(300)
		base := randomChunk(r, docs, func() uint32 { return 10 })
		n := applyMergeMin + 1 + r.IntN(200)
		if round%10 == 0 {
			n = 1 + r.IntN(applyMergeMin) // the one-by-one path, for the changed report on small sets
		}
		ops := make([]Op, n)
		for i := range ops {
			ops[i] = Op{Doc: fmt.Sprintf("d%d", r.IntN(docs))}
			if r.IntN(3) > 0 {
				ops[i].TF, ops[i].Length = uint32(1+r.IntN(3)), 10
			}
		}
		if round%7 == 0 {
			// Only ops that change nothing: re-set what is there, remove what is not.
			ops = ops[:0]
			for _, p := range base.Postings {
				ops = append(ops, p)
			}
			for d := range applyMergeMin + 1 {
				ops = append(ops, Op{Doc: fmt.Sprintf("missing%d", d)})
			}
		}
		merged := Chunk{Lo: base.Lo, Hi: base.Hi, Postings: slices.Clone(base.Postings)}
		gotChanged := merged.Apply(ops)
		single := Chunk{Lo: base.Lo, Hi: base.Hi, Postings: slices.Clone(base.Postings)}
		wantChanged := false
		for _, op := range ops {
			if single.Apply([]Op{op}) {
				wantChanged = true
			}
		}
		if !slices.Equal(merged.Postings, single.Postings) {
			t.Fatalf("round %d (%d ops): merged %d postings, one by one %d", round, len(ops), len(merged.Postings), len(single.Postings))
		}
		if gotChanged != wantChanged {
			t.Fatalf("round %d (%d ops): changed %v, one by one %v", round, len(ops), gotChanged, wantChanged)
		}
	}
}

// ApplyEncoded gives, in binary form, what merging the same ops into the
// decoded chunk gives: the same postings, count and changed report, on empty
// and filled chunks, with removals, re-sets and documents not there.
func TestApplyEncodedMatchesApply(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for round := range 400 {
		docs := 1 + r.IntN(300)
		base := randomChunk(r, docs, func() uint32 { return uint32(1 + r.IntN(300)) })
		ops := make([]Op, 1+r.IntN(200))
		for i := range ops {
			ops[i] = Op{Doc: fmt.Sprintf("d%d", r.IntN(docs+5))}
			if r.IntN(3) > 0 {
				ops[i].TF, ops[i].Length = uint32(1+r.IntN(3)), uint32(1+r.IntN(300))
			}
		}
		if round%7 == 0 {
			ops = ops[:0] // only ops that change nothing
			for _, p := range base.Postings {
				ops = append(ops, p)
			}
			ops = append(ops, Op{Doc: "missing"})
		}
		if round%7 == 3 && len(base.Postings) > 0 {
			// Only re-sets, one of them with another term frequency.
			ops = ops[:0]
			for _, p := range base.Postings {
				ops = append(ops, p)
			}
			ops[r.IntN(len(ops))].TF += 7
		}
		var block []byte
		if len(base.Postings) > 0 || round%2 == 0 {
			block = Encode(nil, base.Postings) // else nil: no stored chunk
		}
		prefix := []byte("prefix")
		out, n, changed, err := ApplyEncoded(slices.Clone(prefix), block, ops)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if !bytes.HasPrefix(out, prefix) {
			t.Fatalf("round %d: dst's bytes not kept", round)
		}
		want := Chunk{Lo: base.Lo, Hi: base.Hi, Postings: slices.Clone(base.Postings)}
		wantChanged := want.merge(ops)
		got, err := Decode(nil, out[len(prefix):])
		if err != nil {
			t.Fatalf("round %d: the result does not decode: %v", round, err)
		}
		if !slices.Equal(got, want.Postings) || n != len(want.Postings) {
			t.Fatalf("round %d (%d ops): %d postings (n %d), merged %d", round, len(ops), len(got), n, len(want.Postings))
		}
		if changed != wantChanged {
			t.Fatalf("round %d (%d ops): changed %v, merged %v", round, len(ops), changed, wantChanged)
		}
		// Applied again, the same ops change nothing.
		if _, _, again, _ := ApplyEncoded(nil, out[len(prefix):], ops); again {
			t.Fatalf("round %d: the same ops changed the result again", round)
		}
	}
}

func TestApplyEncodedCorrupt(t *testing.T) {
	good := Encode(nil, []Posting{{Doc: "a", TF: 1, Length: 2}, {Doc: "b", TF: 1, Length: 2}})
	for name, b := range map[string][]byte{
		"count past the block": {200, 1},
		"cut in a posting":     good[:len(good)-2],
		"trailing bytes":       append(slices.Clone(good), 0),
	} {
		if _, _, _, err := ApplyEncoded(nil, b, []Op{{Doc: "zzz", TF: 1, Length: 1}}); !errors.Is(err, errCorrupt) {
			t.Errorf("%s: %v, want a corrupt block", name, err)
		}
	}
}

func TestUvarintLen(t *testing.T) {
	for _, x := range []uint64{0, 1, 127, 128, 16383, 16384, 1<<32 - 1, math.MaxUint64} {
		if got, want := uvarintLen(x), len(binary.AppendUvarint(nil, x)); got != want {
			t.Errorf("uvarintLen(%d) = %d, want %d", x, got, want)
		}
	}
}
