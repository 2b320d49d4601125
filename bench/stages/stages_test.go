package stages

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/termflow/termflow/bench/corpus"
	"github.com/termflow/termflow/pkg/analysis"
	"github.com/termflow/termflow/pkg/bulkop"
	"github.com/termflow/termflow/pkg/document"
	"github.com/termflow/termflow/pkg/mongostore"
	"github.com/termflow/termflow/pkg/pebblestore"
	"github.com/termflow/termflow/pkg/posting"
)

// fakeCorpus is a small corpus: n documents whose words repeat, so that
// common terms have many postings and rare ones few.
type fakeCorpus struct {
	name string
	docs []corpus.Doc
}

func (f *fakeCorpus) Name() string         { return f.name }
func (f *fakeCorpus) Len() int             { return len(f.docs) }
func (f *fakeCorpus) Doc(i int) corpus.Doc { return f.docs[i] }

func newFake(n int) *fakeCorpus {
	f := &fakeCorpus{name: fmt.Sprintf("fake-%d", n)}
	for i := range n {
		id := fmt.Sprintf("d%05d", i)
		body := fmt.Sprintf("common word%d word%d Rare%d", i%7, i%3, i)
		src := fmt.Sprintf(`{ "id": %q, "title": "Doc %d", "body": %q, "tags": ["t%d", "all"] }`, id, i, body, i%2)
		f.docs = append(f.docs, corpus.Doc{ID: id, JSON: []byte(src)})
	}
	return f
}

func docs(pairs ...string) *fakeCorpus {
	f := &fakeCorpus{name: "docs"}
	for i := 0; i < len(pairs); i += 2 {
		f.docs = append(f.docs, corpus.Doc{ID: pairs[i], JSON: []byte(pairs[i+1])})
	}
	return f
}

func TestAnalysisCounts(t *testing.T) {
	c := docs("1", `{"id": "1", "title": "Hello hello world"}`, "2", `{"id": 2, "n": 3.5, "ok": true}`)
	procs := runtime.GOMAXPROCS(0)
	r, err := Analysis(c, 0)
	if err != nil {
		t.Fatal(err)
	}
	// doc 1: id{1} title{hello×2, world} → 4 tokens; postings id:1, title:2, _all:3 = 6.
	// doc 2: id{2} n{3.5} ok{true} → 3 tokens; postings 3 + _all:3 = 6.
	if r.Docs != 2 || r.Tokens != 7 || r.Postings != 12 || r.Goroutines != 1 || r.GOMAXPROCS != 1 {
		t.Fatalf("docs %d tokens %d postings %d goroutines %d, want 2, 7, 12, 1", r.Docs, r.Tokens, r.Postings, r.Goroutines)
	}
	want := int64(len(envelope(c.docs[0])) + len(envelope(c.docs[1])))
	if r.Bytes != want {
		t.Fatalf("bytes %d, want %d (the envelopes)", r.Bytes, want)
	}
	if r.Seconds <= 0 || r.DocsPerSec <= 0 || r.TokensPerSec <= 0 || r.PostingsPerSec <= 0 || r.MBPerSec <= 0 {
		t.Fatalf("rates not set: %+v", r)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatal(err)
	}
	if p := runtime.GOMAXPROCS(0); p != procs {
		t.Fatalf("GOMAXPROCS %d after Analysis, %d before", p, procs)
	}
}

func TestAnalysisLimitAndErrors(t *testing.T) {
	r, err := Analysis(newFake(10), 4)
	if err != nil || r.Docs != 4 || r.Corpus != "fake-10" {
		t.Fatalf("got %+v, %v; want 4 documents of fake-10", r, err)
	}
	for name, c := range map[string]*fakeCorpus{
		"not an object": docs("1", `[1, 2]`),
		"empty id":      docs("", `{"a": "b"}`),
	} {
		if _, err := Analysis(c, 0); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestKafkaRecordsAreIngests(t *testing.T) {
	c := newFake(OperationDocs + 5)
	recs, size, err := kafkaRecords(c, c.Len(), "docs-topic", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != c.Len() {
		t.Fatalf("%d records for %d documents", len(recs), c.Len())
	}
	var sum int64
	ops := map[string]int{}
	for i, r := range recs {
		sum += recordBytes(r)
		d := c.Doc(i)
		if r.Topic != "docs-topic" || string(r.Key) != Index+"/"+d.ID {
			t.Fatalf("record %d: topic %q key %q", i, r.Topic, r.Key)
		}
		env, err := document.Decode(r.Key, r.Value, 0)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, d.JSON); err != nil {
			t.Fatal(err)
		}
		if env.Index != Index || env.ID != d.ID || env.Delete || !bytes.Equal(env.Doc, compact.Bytes()) {
			t.Fatalf("record %d: envelope %+v", i, env)
		}
		if len(r.Headers) != 2 || r.Headers[0].Key != document.HeaderOperation || r.Headers[1].Key != document.HeaderSeq {
			t.Fatalf("record %d: headers %v", i, r.Headers)
		}
		op, seq := string(r.Headers[0].Value), string(r.Headers[1].Value)
		if !bulkop.ValidID(op) {
			t.Fatalf("record %d: operation id %q", i, op)
		}
		if seq != fmt.Sprint(i%OperationDocs) {
			t.Fatalf("record %d: seq %q, want %d", i, seq, i%OperationDocs)
		}
		ops[op]++
	}
	if sum != size {
		t.Fatalf("size %d, records sum to %d", size, sum)
	}
	if len(ops) != 2 {
		t.Fatalf("%d operations, want 2 (of %d and 5 documents)", len(ops), OperationDocs)
	}
}

// TestPebbleWritesReadBack replays the batches captured from the scratch
// stores' write-ahead logs into a store: it must end up exactly like a store
// written through pebblestore's Batch directly, and hold every document.
// The stores' memtables are small, so that the batches are large ones to
// Pebble (committed as flushable batches), as a poll of thousands of
// documents is with pebblestore's default memtable.
func TestPebbleWritesReadBack(t *testing.T) {
	c := newFake(230)
	const batchDocs = 100
	batches, err := pebbleWrites(c, c.Len(), batchDocs)
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) != 3 || batches[0].docs != 100 || batches[2].docs != 30 {
		t.Fatalf("batches %d (%d, %d docs), want 3 of 100, 100, 30", len(batches), batches[0].docs, batches[len(batches)-1].docs)
	}
	open := func() *pebblestore.Store {
		s, err := pebblestore.Open("db", pebblestore.Options{FS: vfs.NewMem(), Logger: quietPebble{}, MemTableBytes: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	s, ref := open(), open()
	seen := map[string]struct{}{}
	for i, b := range batches {
		if b.keys == 0 || b.bytes == 0 {
			t.Fatalf("batch %d: %d keys of %d bytes", i, b.keys, b.bytes)
		}
		if err := commitRepr(s.DB(), b.repr); err != nil {
			t.Fatal(err)
		}
		rb := ref.NewBatch()
		if err := indexDocs(rb, c, i*batchDocs, min((i+1)*batchDocs, c.Len()), seen); err != nil {
			t.Fatal(err)
		}
		if err := rb.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	got, want := dump(t, s), dump(t, ref)
	if !slices.Equal(got, want) {
		t.Fatalf("replayed store holds %d keys, a directly written one %d (or they differ)", len(got), len(want))
	}

	if off, err := s.Applied(PebbleTopic, 0); err != nil || off != int64(c.Len()-1) {
		t.Fatalf("applied %d, %v; want %d", off, err, c.Len()-1)
	}
	// Every document's forward entry and postings are there.
	postings := map[[2]string][]string{} // field, term → ids
	for i := range c.Len() {
		d := c.Doc(i)
		an, err := analysis.AnalyzeJSON(d.JSON)
		if err != nil {
			t.Fatal(err)
		}
		f, err := s.Forward(Index, d.ID)
		if err != nil || f == nil {
			t.Fatalf("forward %s: %v, %v", d.ID, f, err)
		}
		if want := forwardOf(an); fmt.Sprint(f) != fmt.Sprint(want) {
			t.Fatalf("forward %s: %v, want %v", d.ID, f, want)
		}
		for _, fl := range an.Fields {
			for _, t := range fl.Terms {
				k := [2]string{fl.Name, t.Term}
				postings[k] = append(postings[k], d.ID)
			}
		}
	}
	for k, ids := range postings {
		ps, err := s.Postings(Index, k[0], k[1])
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.ID)
		}
		if !slices.Equal(got, ids) { // ids are in corpus order, which is id order
			t.Fatalf("postings of %v: %v, want %v", k, got, ids)
		}
	}
}

// dump returns every key and value of a store.
func dump(t *testing.T, s *pebblestore.Store) []string {
	t.Helper()
	it, err := s.DB().NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []string
	for it.First(); it.Valid(); it.Next() {
		out = append(out, fmt.Sprintf("%q=%q", it.Key(), it.Value()))
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPebble(t *testing.T) {
	c := newFake(40)
	dir := t.TempDir()
	r, err := Pebble(context.Background(), dir, c, 0, 16)
	if err != nil {
		t.Fatal(err)
	}
	if r.Docs != 40 || r.Batches != 3 || r.BatchDocs != 16 || !r.Sync || r.Keys == 0 || r.KeysPerSec <= 0 ||
		r.MBPerSec <= 0 || r.BatchBytes < r.Bytes {
		t.Fatalf("result %+v", r)
	}
	// The directory is a store that pebblestore opens, holding every
	// document and the postings of a term every document has.
	s, err := pebblestore.Open(dir, pebblestore.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range c.Len() {
		if f, err := s.Forward(Index, c.Doc(i).ID); err != nil || f == nil {
			t.Fatalf("forward entry of document %d: %v, %v", i, f, err)
		}
	}
	if ps, err := s.Postings(Index, "body", "common"); err != nil || len(ps) != 40 {
		t.Fatalf("postings of body:common: %d, %v; want 40", len(ps), err)
	}
	if _, err := Pebble(context.Background(), t.TempDir(), c, 0, 0); err == nil {
		t.Fatal("batch of 0 documents: no error")
	}
	if _, err := Pebble(context.Background(), dir, c, 0, 16); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("a store in the directory already: %v, want an error", err)
	}
}

func TestPebbleRejectsDuplicateIDs(t *testing.T) {
	c := docs("a", `{"x": "1"}`, "a", `{"x": "2"}`)
	if _, err := Pebble(context.Background(), t.TempDir(), c, 0, 10); err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Fatalf("err %v, want an id used twice", err)
	}
}

// TestPersistedDocuments checks the chunk, head and document bodies against
// the postings the analysis gives, with chunks small enough to split.
func TestPersistedDocuments(t *testing.T) {
	c := newFake(50)
	const maxChunk = 8
	set, err := persistedDocuments(c, c.Len(), maxChunk)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]posting.Posting{} // term key → postings
	var wantPostings int64
	for i := range c.Len() {
		d := c.Doc(i)
		an, _ := analysis.AnalyzeJSON(d.JSON)
		for _, f := range an.Fields {
			for _, t := range f.Terms {
				k := mongostore.TermKey(Index, f.Name, t.Term)
				want[k] = append(want[k], posting.Posting{Doc: d.ID, TF: t.TF, Length: f.Length})
				wantPostings++
			}
		}
	}
	if set.postings != wantPostings || len(set.heads) != len(want) || len(set.docs) != c.Len() {
		t.Fatalf("postings %d heads %d docs %d, want %d, %d, %d", set.postings, len(set.heads), len(set.docs),
			wantPostings, len(want), c.Len())
	}

	chunks := map[string][]benchChunk{}
	for _, raw := range set.chunks {
		var ch benchChunk
		if err := bson.Unmarshal(raw, &ch); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%s#%016x-%016x", ch.TK, uint64(ch.Lo), uint64(ch.Hi)); ch.ID != want || ch.Index != Index {
			t.Fatalf("chunk %q (index %q), want id %q", ch.ID, ch.Index, want)
		}
		if ch.N > maxChunk || ch.N < 1 {
			t.Fatalf("chunk %s holds %d postings", ch.ID, ch.N)
		}
		chunks[ch.TK] = append(chunks[ch.TK], ch)
	}
	split := false
	for _, raw := range set.heads {
		// Stored as the persister stores heads: no field or term (the key
		// holds them), no chunk list when inline (data-model.md).
		var h struct {
			ID     string `bson:"_id"`
			Index  string
			Field  string `bson:",omitempty"`
			Term   string `bson:",omitempty"`
			N      int64
			Chunks []struct{ Lo, Hi, N int64 }
			P      []byte
		}
		if err := bson.Unmarshal(raw, &h); err != nil {
			t.Fatal(err)
		}
		ps := want[h.ID]
		index, _, _, ok := mongostore.SplitTermKey(h.ID)
		if !ok || index != h.Index || h.Field != "" || h.Term != "" || h.N != int64(len(ps)) {
			t.Fatalf("head %+v: want %d postings, no field or term", h, len(ps))
		}
		cs := chunks[h.ID]
		if len(h.P) > 0 {
			// A term of one chunk: its postings are inline, no chunk
			// document, and its one whole-range chunk is not listed.
			if len(cs) != 0 || len(h.Chunks) != 0 {
				t.Fatalf("head %s holds inline postings, lists %d chunks, %d written", h.ID, len(h.Chunks), len(cs))
			}
			cs = []benchChunk{{ID: h.ID + " (inline)", TK: h.ID, Index: Index, Lo: 0, Hi: -1, N: h.N, P: h.P}}
			h.Chunks = []struct{ Lo, Hi, N int64 }{{0, -1, h.N}}
		} else if len(cs) < 2 {
			t.Fatalf("head %s of %d postings has %d chunk documents and no inline postings", h.ID, h.N, len(cs))
		}
		if len(cs) != len(h.Chunks) {
			t.Fatalf("head %s lists %d chunks, %d written", h.ID, len(h.Chunks), len(cs))
		}
		split = split || len(cs) > 1
		// The chunks tile the hash space in order, and hold every posting
		// of the term sorted by (hash, id), each in its range.
		var got []posting.Posting
		next := uint64(0)
		for i, m := range h.Chunks {
			ch := cs[i]
			if m.Lo != ch.Lo || m.Hi != ch.Hi || m.N != ch.N || uint64(m.Lo) != next {
				t.Fatalf("head %s chunk %d: %+v, chunk %s, expected lo %x", h.ID, i, m, ch.ID, next)
			}
			next = uint64(m.Hi) + 1
			dec, err := posting.Decode(nil, ch.P)
			if err != nil || int64(len(dec)) != ch.N {
				t.Fatalf("chunk %s: %d postings, %v", ch.ID, len(dec), err)
			}
			for _, p := range dec {
				if hh := posting.Hash(p.Doc); hh < uint64(ch.Lo) || hh > uint64(ch.Hi) {
					t.Fatalf("chunk %s holds %s outside its range", ch.ID, p.Doc)
				}
			}
			got = append(got, dec...)
		}
		if uint64(h.Chunks[len(h.Chunks)-1].Hi) != math.MaxUint64 {
			t.Fatalf("head %s: chunks end at %x", h.ID, uint64(h.Chunks[len(h.Chunks)-1].Hi))
		}
		if !slices.IsSortedFunc(got, func(a, b posting.Posting) int {
			if ha, hb := posting.Hash(a.Doc), posting.Hash(b.Doc); ha != hb {
				return map[bool]int{true: -1, false: 1}[ha < hb]
			}
			return strings.Compare(a.Doc, b.Doc)
		}) {
			t.Fatalf("head %s: postings not in (hash, id) order", h.ID)
		}
		slices.SortFunc(got, func(a, b posting.Posting) int { return strings.Compare(a.Doc, b.Doc) })
		if !slices.Equal(got, ps) {
			t.Fatalf("head %s: postings %v, want %v", h.ID, got, ps)
		}
	}
	if !split {
		t.Fatal("no term was split: the test does not exercise chunking")
	}

	for i, raw := range set.docs {
		var d struct {
			ID         string `bson:"_id"`
			Index, Src string
			DocID      string `bson:"id"`
			O          int64
		}
		if err := bson.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		cd := c.Doc(i)
		var compact bytes.Buffer
		_ = json.Compact(&compact, cd.JSON)
		if d.ID != Index+"/"+cd.ID || d.Index != Index || d.DocID != cd.ID || d.Src != compact.String() || d.O != int64(i) {
			t.Fatalf("stored document %d: %+v", i, d)
		}
	}
}
