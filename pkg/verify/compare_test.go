package verify

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/dirtyterms"
	"github.com/termflow/termflow/pkg/mongostore"
	"github.com/termflow/termflow/pkg/posting"
)

// actualOf lays the expected state out the way the persister stores it:
// every term's postings in one chunk over the whole hash space, split at
// posting.MaxChunk unless unsplit is set.
func actualOf(t testing.TB, e *Expected, unsplit bool) *Actual {
	t.Helper()
	e.build()
	a := &Actual{}
	for _, k := range slices.Sorted(maps.Keys(e.docs)) {
		d := e.docs[k]
		a.Documents = append(a.Documents, Document{ID: k, Index: d.index, DocID: d.id, Source: string(d.src), Offset: d.offset})
	}
	for _, ix := range slices.Sorted(maps.Keys(e.counts)) {
		a.IndexStats = append(a.IndexStats, IndexStats{ID: ix, Docs: e.counts[ix]})
	}
	for k, s := range e.fields {
		a.FieldStats = append(a.FieldStats, FieldStats{ID: k.index + "|" + k.field, Index: k.index, Field: k.field, Docs: s.docs, Len: s.length})
	}
	for _, k := range slices.SortedFunc(maps.Keys(e.terms), compareTermKeys) {
		ps := slices.Clone(e.terms[k])
		slices.SortFunc(ps, func(a, b posting.Posting) int {
			ha, hb := posting.Hash(a.Doc), posting.Hash(b.Doc)
			if ha != hb {
				if ha < hb {
					return -1
				}
				return 1
			}
			return strings.Compare(a.Doc, b.Doc)
		})
		parts := []posting.Chunk{{Lo: 0, Hi: math.MaxUint64, Postings: ps}}
		if !unsplit {
			parts = posting.Split(parts[0], posting.MaxChunk)
		}
		tk := mongostore.TermKey(k.index, k.field, k.term)
		h := Head{ID: tk, Index: k.index, Field: k.field, Term: k.term, N: int64(len(ps))}
		for _, p := range parts {
			h.Chunks = append(h.Chunks, ChunkRef{Lo: int64(p.Lo), Hi: int64(p.Hi), N: int64(len(p.Postings))})
			a.Chunks = append(a.Chunks, Chunk{ID: chunkID(tk, p.Lo, p.Hi), TK: tk, Index: k.index, Lo: int64(p.Lo), Hi: int64(p.Hi),
				N: int64(len(p.Postings)), P: posting.Encode(nil, p.Postings)})
		}
		a.Terms = append(a.Terms, h)
	}
	return a
}

func (a *Actual) head(t *testing.T, tk string) *Head {
	for i := range a.Terms {
		if a.Terms[i].ID == tk {
			return &a.Terms[i]
		}
	}
	t.Fatalf("no head %s", tk)
	return nil
}

func (a *Actual) chunk(t *testing.T, tk string, i int) *Chunk {
	h := a.head(t, tk)
	id := chunkID(tk, uint64(h.Chunks[i].Lo), uint64(h.Chunks[i].Hi))
	for j := range a.Chunks {
		if a.Chunks[j].ID == id {
			return &a.Chunks[j]
		}
	}
	t.Fatalf("no chunk %s", id)
	return nil
}

// editChunk replaces the postings of tk's i-th chunk with edit's result,
// keeping head and chunk counts consistent.
func (a *Actual) editChunk(t *testing.T, tk string, i int, edit func([]posting.Posting) []posting.Posting) {
	h := a.head(t, tk)
	c := a.chunk(t, tk, i)
	ps, err := posting.Decode(nil, c.P)
	if err != nil {
		t.Fatal(err)
	}
	ps = edit(ps)
	c.P, c.N = posting.Encode(nil, ps), int64(len(ps))
	h.N += c.N - h.Chunks[i].N
	h.Chunks[i].N = c.N
}

// setRange moves tk's i-th chunk to [lo, hi] in the head and the chunk.
func (a *Actual) setRange(t *testing.T, tk string, i int, lo, hi uint64) {
	c := a.chunk(t, tk, i)
	h := a.head(t, tk)
	h.Chunks[i].Lo, h.Chunks[i].Hi = int64(lo), int64(hi)
	c.Lo, c.Hi, c.ID = int64(lo), int64(hi), chunkID(tk, lo, hi)
}

// inline moves tk's one chunk into its head, as the store keeps a term of
// one chunk.
func (a *Actual) inline(t *testing.T, tk string) {
	h := a.head(t, tk)
	if len(h.Chunks) != 1 {
		t.Fatalf("%s has %d chunks", tk, len(h.Chunks))
	}
	c := a.chunk(t, tk, 0)
	h.P = c.P
	a.Chunks = slices.DeleteFunc(a.Chunks, func(c Chunk) bool { return c.TK == tk })
}

func (a *Actual) removeTerm(tk string) {
	a.Terms = slices.DeleteFunc(a.Terms, func(h Head) bool { return h.ID == tk })
	a.Chunks = slices.DeleteFunc(a.Chunks, func(c Chunk) bool { return c.TK == tk })
}

// corpus is a small index plus a term ("common") in 6000 documents, so it
// has two chunks.
func corpus() []*kgo.Record {
	recs := []*kgo.Record{
		rec(0, 0, "b/1", doc("1", "red apple")),
		rec(0, 1, "b/2", doc("2", "red red pear")),
		rec(0, 2, "b/1", doc("1", "green apple")),
		rec(0, 3, "b/x", "not json"),
		rec(1, 0, "b/3", doc("3", "<b>plum</b> & pear")),
		rec(1, 1, "b/4", doc("4", "gone")),
		rec(1, 2, "b/4", ""),
	}
	for i := range 6000 {
		recs = append(recs, rec(2, int64(i), fmt.Sprintf("b/c%d", i), doc(fmt.Sprintf("c%d", i), "common")))
	}
	return recs
}

func kindsOf(r *Report) []string { return slices.Sorted(maps.Keys(r.Kinds)) }

func TestCompare(t *testing.T) {
	common := mongostore.TermKey("b", "t", "common")
	red := mongostore.TermKey("b", "t", "red")
	e := ExpectedFrom(corpus(), 0, nil) // Compare does not change it
	for _, tc := range []struct {
		name    string
		unsplit bool
		edit    func(t *testing.T, a *Actual)
		kinds   []string
		diff    string // a substring of one listed difference
	}{
		{name: "equal", edit: func(*testing.T, *Actual) {}},
		{name: "inline term", edit: func(t *testing.T, a *Actual) { a.inline(t, red) }},
		{
			name: "inline posting missing",
			edit: func(t *testing.T, a *Actual) {
				a.inline(t, red)
				a.head(t, red).P = posting.Encode(nil, nil)
			},
			kinds: []string{KindChunkCount, KindPostingMissing}, diff: `chunk count: b|red|t (inline): head n 1, chunk n 1, holds 0 postings`,
		},
		{
			name: "inline term and its chunk document",
			edit: func(t *testing.T, a *Actual) {
				c := *a.chunk(t, red, 0)
				a.inline(t, red)
				a.Chunks = append(a.Chunks, c)
			},
			kinds: []string{KindChunkOrphan}, diff: "b|red|t#0000000000000000-ffffffffffffffff",
		},
		{
			name:  "inline postings of a split term",
			edit:  func(t *testing.T, a *Actual) { a.head(t, common).P = a.chunk(t, common, 0).P },
			kinds: []string{KindChunkCorrupt, KindChunkOrphan, KindPostingMissing}, diff: "b|common|t: inline postings and 2 chunks",
		},
		{
			name: "document missing",
			edit: func(_ *testing.T, a *Actual) {
				a.Documents = slices.DeleteFunc(a.Documents, func(d Document) bool { return d.ID == "b/2" })
			},
			kinds: []string{KindDocumentMissing}, diff: "document missing: b/2 (offset 1)",
		},
		{
			name: "document extra",
			edit: func(_ *testing.T, a *Actual) {
				a.Documents = append(a.Documents, Document{ID: "b/4", Index: "b", DocID: "4"})
			},
			kinds: []string{KindDocumentExtra}, diff: "document extra: b/4",
		},
		{
			name:  "document body",
			edit:  func(_ *testing.T, a *Actual) { a.Documents[0].Source = `{"t":"red apple"}` },
			kinds: []string{KindDocumentBody}, diff: `document body: b/1: {"t":"red apple"}, want {"t":"green apple"}`,
		},
		{
			name: "document body as the event carries it",
			edit: func(t *testing.T, a *Actual) {
				for i := range a.Documents {
					ev, err := json.Marshal(dirtyterms.Record{Source: json.RawMessage(" " + a.Documents[i].Source + "\n")})
					if err != nil {
						t.Fatal(err)
					}
					var back dirtyterms.Record
					if err := json.Unmarshal(ev, &back); err != nil {
						t.Fatal(err)
					}
					a.Documents[i].Source = string(back.Source)
				}
				if !strings.Contains(a.Documents[2].Source, `\u003c`) {
					t.Fatalf("event did not escape HTML: %s", a.Documents[2].Source)
				}
			},
		},
		{
			name:  "document body semantically equal",
			edit:  func(_ *testing.T, a *Actual) { a.Documents[0].Source = "{ \"t\" : \"green\\u0020apple\" }" },
			kinds: nil,
		},
		{
			name:  "document offset",
			edit:  func(_ *testing.T, a *Actual) { a.Documents[0].Offset = 0 },
			kinds: []string{KindDocumentFields}, diff: "document fields: b/1: offset 0, want 2",
		},
		{
			name:  "document count",
			edit:  func(_ *testing.T, a *Actual) { a.IndexStats[0].Docs++ },
			kinds: []string{KindDocumentCount}, diff: "document count: index b: indexstats docs 6004, want 6003",
		},
		{
			name:  "index stats missing",
			edit:  func(_ *testing.T, a *Actual) { a.IndexStats = nil },
			kinds: []string{KindDocumentCount},
		},
		{
			name: "field stats",
			edit: func(_ *testing.T, a *Actual) {
				for i := range a.FieldStats {
					if a.FieldStats[i].ID == "b|t" {
						a.FieldStats[i].Len += 2
					}
				}
			},
			kinds: []string{KindFieldStats}, diff: "field stats: b|t: docs 6003 len 6011, want docs 6003 len 6009",
		},
		{
			name:  "term missing",
			edit:  func(_ *testing.T, a *Actual) { a.removeTerm(red) },
			kinds: []string{KindTermMissing}, diff: "term missing: b|red|t (1 postings)",
		},
		{
			name: "term extra",
			edit: func(_ *testing.T, a *Actual) {
				tk := mongostore.TermKey("b", "t", "kiwi")
				ps := []posting.Posting{{Doc: "1", TF: 1, Length: 2}}
				a.Terms = append(a.Terms, Head{ID: tk, Index: "b", Field: "t", Term: "kiwi", N: 1, Chunks: []ChunkRef{{Lo: 0, Hi: -1, N: 1}}})
				a.Chunks = append(a.Chunks, Chunk{ID: chunkID(tk, 0, math.MaxUint64), TK: tk, Index: "b", Lo: 0, Hi: -1, N: 1, P: posting.Encode(nil, ps)})
			},
			kinds: []string{KindTermExtra}, diff: "term extra: b|kiwi|t (1 postings)",
		},
		{
			name:  "term head n",
			edit:  func(t *testing.T, a *Actual) { a.head(t, red).N = 2 },
			kinds: []string{KindTermHead}, diff: "term head: b|red|t: n 2, its chunks' n sum to 1",
		},
		{
			name: "posting missing",
			edit: func(t *testing.T, a *Actual) {
				a.editChunk(t, red, 0, func(ps []posting.Posting) []posting.Posting { return nil })
			},
			kinds: []string{KindPostingMissing}, diff: `posting missing: b|red|t: doc "2" (tf 2, length 3)`,
		},
		{
			name: "posting extra",
			edit: func(t *testing.T, a *Actual) {
				a.editChunk(t, red, 0, func(ps []posting.Posting) []posting.Posting {
					b, _, _, err := posting.ApplyEncoded(nil, posting.Encode(nil, ps), []posting.Op{{Doc: "1", TF: 1, Length: 2}})
					if err == nil {
						ps, err = posting.Decode(nil, b)
					}
					if err != nil {
						t.Fatal(err)
					}
					return ps
				})
			},
			kinds: []string{KindPostingExtra}, diff: `posting extra: b|red|t: doc "1" (tf 1, length 2)`,
		},
		{
			name: "posting value",
			edit: func(t *testing.T, a *Actual) {
				a.editChunk(t, red, 0, func(ps []posting.Posting) []posting.Posting { ps[0].TF = 1; return ps })
			},
			kinds: []string{KindPostingValue}, diff: `posting value: b|red|t: doc "2" tf 1 length 3, want tf 2 length 3`,
		},
		{
			name: "document in two chunks",
			edit: func(t *testing.T, a *Actual) {
				var moved posting.Posting
				a.editChunk(t, common, 0, func(ps []posting.Posting) []posting.Posting { moved = ps[len(ps)-1]; return ps })
				a.editChunk(t, common, 1, func(ps []posting.Posting) []posting.Posting { return append([]posting.Posting{moved}, ps...) })
			},
			kinds: []string{KindPostingDup, KindChunkRange}, diff: "posting duplicate: b|common|t: doc",
		},
		{
			name: "posting outside its chunk's range",
			edit: func(t *testing.T, a *Actual) {
				var moved posting.Posting
				a.editChunk(t, common, 0, func(ps []posting.Posting) []posting.Posting {
					moved = ps[len(ps)-1]
					return ps[:len(ps)-1]
				})
				a.editChunk(t, common, 1, func(ps []posting.Posting) []posting.Posting { return append([]posting.Posting{moved}, ps...) })
			},
			kinds: []string{KindChunkRange}, diff: "chunk range: b|common|t#",
		},
		{
			name:    "chunk over the limit",
			unsplit: true,
			edit:    func(*testing.T, *Actual) {},
			kinds:   []string{KindChunkOversize}, diff: "chunk oversize: b|common|t#0000000000000000-ffffffffffffffff: 6000 postings, limit 5000",
		},
		{
			name: "chunk ranges leave a gap",
			edit: func(t *testing.T, a *Actual) {
				h := a.head(t, common)
				a.setRange(t, common, 0, 0, uint64(h.Chunks[0].Hi)-1)
			},
			kinds: []string{KindChunkCoverage}, diff: "are in no chunk",
		},
		{
			name: "chunk ranges overlap",
			edit: func(t *testing.T, a *Actual) {
				h := a.head(t, common)
				a.setRange(t, common, 0, 0, uint64(h.Chunks[0].Hi)+1)
			},
			kinds: []string{KindChunkCoverage}, diff: "overlaps the chunks before it",
		},
		{
			name:  "chunk ranges end early",
			edit:  func(t *testing.T, a *Actual) { a.setRange(t, red, 0, 0, math.MaxUint64-1) },
			kinds: []string{KindChunkCoverage}, diff: "chunk coverage: b|red|t: hashes [ffffffffffffffff, ffffffffffffffff] are in no chunk",
		},
		{
			name: "chunk missing",
			edit: func(t *testing.T, a *Actual) {
				id := a.chunk(t, red, 0).ID
				a.Chunks = slices.DeleteFunc(a.Chunks, func(c Chunk) bool { return c.ID == id })
			},
			kinds: []string{KindPostingMissing, KindChunkMissing}, diff: "chunk missing: b|red|t#0000000000000000-ffffffffffffffff (1 postings)",
		},
		{
			name: "chunk orphan",
			edit: func(t *testing.T, a *Actual) {
				c := *a.chunk(t, red, 0)
				c.ID = chunkID(red, 0, 5)
				a.Chunks = append(a.Chunks, c)
			},
			kinds: []string{KindChunkOrphan}, diff: "chunk orphan: b|red|t#0000000000000000-0000000000000005 (n 1)",
		},
		{
			name:  "chunk n",
			edit:  func(t *testing.T, a *Actual) { a.chunk(t, red, 0).N = 3 },
			kinds: []string{KindChunkCount}, diff: "chunk count: b|red|t#0000000000000000-ffffffffffffffff: head n 1, chunk n 3, holds 1 postings",
		},
		{
			name:  "chunk undecodable",
			edit:  func(t *testing.T, a *Actual) { a.chunk(t, red, 0).P = []byte{0xff} },
			kinds: []string{KindPostingMissing, KindChunkCount, KindChunkCorrupt},
		},
		{
			name: "chunk out of order",
			edit: func(t *testing.T, a *Actual) {
				a.editChunk(t, common, 1, func(ps []posting.Posting) []posting.Posting { ps[0], ps[1] = ps[1], ps[0]; return ps })
			},
			kinds: []string{KindChunkCorrupt}, diff: "is out of (hash, id) order",
		},
		{
			name: "chunk fields disagree with its _id",
			edit: func(t *testing.T, a *Actual) {
				a.chunk(t, red, 0).TK = "b|red|u"
			},
			kinds: []string{KindChunkCorrupt}, diff: `chunk corrupt: b|red|t#0000000000000000-ffffffffffffffff: holds tk "b|red|u"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := actualOf(t, e, tc.unsplit)
			tc.edit(t, a)
			r := Compare(e, a, nil, 0)
			if r.Documents != 6003 || r.DeadLetters != 1 || r.Records != 6007 {
				t.Errorf("counts %+v", r)
			}
			if got := kindsOf(r); !slices.Equal(got, slices.Sorted(slices.Values(tc.kinds))) {
				t.Fatalf("kinds %v, want %v; diffs:\n%s", got, tc.kinds, strings.Join(r.Diffs, "\n"))
			}
			if r.OK() != (len(tc.kinds) == 0) {
				t.Errorf("OK %v with %d differences", r.OK(), r.DiffCount)
			}
			if tc.diff != "" && !slices.ContainsFunc(r.Diffs, func(d string) bool { return strings.Contains(d, tc.diff) }) {
				t.Errorf("no difference contains %q:\n%s", tc.diff, strings.Join(r.Diffs, "\n"))
			}
		})
	}
}

func TestCompareBoundsDiffs(t *testing.T) {
	e := ExpectedFrom(corpus(), 0, nil)
	a := actualOf(t, e, false)
	a.Documents = nil
	r := Compare(e, a, nil, 5)
	if r.DiffCount != 6003 || len(r.Diffs) != 5 || r.Kinds[KindDocumentMissing] != 6003 {
		t.Fatalf("diffCount %d, listed %d, kinds %v", r.DiffCount, len(r.Diffs), r.Kinds)
	}
	r = Compare(e, a, nil, -1)
	if len(r.Diffs) != 6003 {
		t.Fatalf("unbounded: listed %d", len(r.Diffs))
	}
	// Listed differences come in a stable order.
	if !slices.Equal(r.Diffs[:5], Compare(e, a, nil, 5).Diffs) {
		t.Fatal("order differs between runs")
	}
}

func TestCompareIndexFilter(t *testing.T) {
	recs := append(corpus(), rec(3, 0, "c/1", `{"v":1,"index":"c","id":"1","doc":{"t":"x"}}`))
	all := actualOf(t, ExpectedFrom(recs, 0, nil), false)
	e := ExpectedFrom(recs, 0, []string{"c"})
	r := Compare(e, all, nil, 0)
	if !r.OK() || r.Documents != 1 || r.Terms != 2 {
		t.Fatalf("filtered: %+v", r)
	}
}

func BenchmarkCompare(b *testing.B) {
	for _, n := range []int{2000, 20000} {
		b.Run(fmt.Sprintf("docs=%d", n), func(b *testing.B) {
			recs := make([]*kgo.Record, n)
			for i := range recs {
				id := fmt.Sprintf("d%d", i)
				recs[i] = rec(int32(i%12), int64(i/12), "b/"+id, fmt.Sprintf(
					`{"v":1,"index":"b","id":%q,"doc":{"title":"document number %d","body":"the quick brown fox %d jumps over the lazy dog %d","tags":["t%d","t%d"]}}`,
					id, i, i%100, i%1000, i%7, i%13))
			}
			a := actualOf(b, ExpectedFrom(recs, 0, nil), false)
			b.ReportAllocs()
			for b.Loop() {
				r := Compare(ExpectedFrom(recs, 0, nil), a, nil, 0)
				if !r.OK() {
					b.Fatal(r.Diffs)
				}
			}
		})
	}
}
