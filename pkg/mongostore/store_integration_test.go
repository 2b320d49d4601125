//go:build integration

package mongostore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/termflow/termflow/pkg/analysis"
	"github.com/termflow/termflow/pkg/dirtyterms"
	"github.com/termflow/termflow/pkg/posting"
)

// openTestStore connects to the MongoDB-protocol server named by
// TERMFLOW_TEST_MONGO_URI (make test starts FerretDB and sets it) in a fresh
// database.
func openTestStore(t testing.TB) *Store {
	t.Helper()
	uri := os.Getenv("TERMFLOW_TEST_MONGO_URI")
	if uri == "" {
		t.Fatal("TERMFLOW_TEST_MONGO_URI is not set: run `make test`, which starts FerretDB, or set it to a MongoDB URI")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := fmt.Sprintf("t_%s_%d", strings.ToLower(strings.NewReplacer("/", "_", " ", "_", "=", "_").Replace(t.Name())), time.Now().UnixNano()%1e9)
	s, err := Open(ctx, uri, db, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.db.Drop(context.Background())
		_ = s.Close(context.Background())
	})
	return s
}

// docEvent builds an event that adds docs as new documents with the given
// text in field "body".
func docEvent(partition int32, first int64, ids []string, text func(i int) string) *dirtyterms.Event {
	ev := &dirtyterms.Event{V: 1, Topic: "docs", Partition: partition, FirstOffset: first, LastOffset: first + int64(len(ids)) - 1}
	terms := map[[2]string]*dirtyterms.Term{}
	var order [][2]string
	for i, id := range ids {
		body := text(i)
		src, _ := json.Marshal(map[string]string{"id": id, "body": body})
		toks := analysis.AppendTokens(nil, body)
		ev.Records = append(ev.Records, dirtyterms.Record{Offset: first + int64(i), Index: "books", ID: id, Source: src, Count: 1,
			Fields: []dirtyterms.FieldDelta{{Field: "body", Docs: 1, Length: int64(len(toks))}}})
		tf := map[string]uint32{}
		for _, t := range toks {
			tf[t]++
		}
		for t, n := range tf {
			k := [2]string{"body", t}
			if terms[k] == nil {
				terms[k] = &dirtyterms.Term{Index: "books", Field: "body", Term: t}
				order = append(order, k)
			}
			terms[k].Ops = append(terms[k].Ops, dirtyterms.Op{Rec: i, TF: n, Length: uint32(len(toks))})
		}
	}
	for _, k := range order {
		ev.Terms = append(ev.Terms, *terms[k])
	}
	return ev
}

func ids(prefix string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, from+i)
	}
	return out
}

func TestApplyChunksAndSearch(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	cp, err := s.LoadCheckpoint(ctx)
	if err != nil || cp.Offset != -1 {
		t.Fatalf("fresh checkpoint %+v %v", cp, err)
	}
	// 8000 documents containing "limited" in batches of 1000.
	off := int64(0)
	for b := 0; b < 8; b++ {
		ev := docEvent(0, int64(b*1000), ids("d", b*1000, 1000), func(i int) string {
			if i%2 == 0 {
				return "limited edition"
			}
			return "limited limited offer"
		})
		if _, err := s.Apply(ctx, off, ev, &cp); err != nil {
			t.Fatal(err)
		}
		off++
	}
	ts, err := s.TermStats(ctx, "books", "body", "limited")
	if err != nil {
		t.Fatal(err)
	}
	if ts.Postings != 8000 || ts.Chunks < 2 {
		t.Fatalf("limited: %+v, want 8000 postings in >= 2 chunks", ts)
	}
	ps, sizes, err := s.Postings(ctx, "books", "body", "limited")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range ps {
		if seen[p.Doc] {
			t.Fatalf("%s twice", p.Doc)
		}
		seen[p.Doc] = true
	}
	for _, n := range sizes {
		if n > posting.MaxChunk {
			t.Fatalf("chunk of %d postings", n)
		}
	}
	st, err := s.IndexStats(ctx, "books")
	if err != nil || st.DocumentCount != 8000 || st.TermCount != 3 {
		t.Fatalf("stats %+v %v", st, err)
	}
	res, err := s.Search(ctx, "books", analysis.ParseQuery("body:limited"), 0, 5)
	if err != nil || res.Total != 8000 || len(res.Hits) != 5 {
		t.Fatalf("search limited: total %d hits %d err %v", res.Total, len(res.Hits), err)
	}
	// BM25: tf 2 in a 3-term body outranks tf 1 in a 2-term body.
	if !strings.Contains(string(res.Hits[0].Source), "limited limited") {
		t.Errorf("top hit %s", res.Hits[0].Source)
	}
	res, err = s.Search(ctx, "books", analysis.ParseQuery("body:edition body:limited"), 0, 10)
	if err != nil || res.Total != 4000 {
		t.Fatalf("AND search: %d %v", res.Total, err)
	}
	res, err = s.Search(ctx, "books", analysis.ParseQuery("body:edition body:offer"), 0, 10)
	if err != nil || res.Total != 0 {
		t.Fatalf("disjoint AND: %d %v", res.Total, err)
	}
	if _, err := s.Search(ctx, "nope", analysis.ParseQuery("x"), 0, 10); err != ErrIndexNotFound {
		t.Fatalf("unknown index: %v", err)
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	cp := Checkpoint{Offset: -1}
	ev1 := docEvent(0, 0, ids("a", 0, 50), func(int) string { return "alpha beta" })
	ev2 := docEvent(0, 50, ids("a", 50, 50), func(int) string { return "alpha gamma" })
	if _, err := s.Apply(ctx, 0, ev1, &cp); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, 1, ev2, &cp); err != nil {
		t.Fatal(err)
	}
	// The same events delivered again (Kafka redelivery): skipped.
	st, err := s.Apply(ctx, 1, ev2, &cp)
	if err != nil || !st.Skipped {
		t.Fatalf("redelivery: %+v %v", st, err)
	}
	// A crash before the checkpoint write: the event applied again with an
	// old checkpoint changes nothing.
	old := Checkpoint{Offset: 0, Sources: []Source{{Topic: "docs", Partition: 0, Offset: 49}}}
	if _, err := s.Apply(ctx, 1, ev2, &old); err != nil {
		t.Fatal(err)
	}
	// The same records re-indexed by another indexer with other batch
	// boundaries (a new event at a new offset): dropped as duplicates.
	dup := docEvent(0, 25, ids("a", 25, 50), func(i int) string {
		if i < 25 {
			return "alpha beta"
		}
		return "alpha gamma"
	})
	st, err = s.Apply(ctx, 2, dup, &cp)
	if err != nil || st.Duplicates != 50 || st.Records != 0 {
		t.Fatalf("duplicate event: %+v %v", st, err)
	}
	stats, _ := s.IndexStats(ctx, "books")
	if stats.DocumentCount != 100 {
		t.Fatalf("documentCount %d after replays, want 100", stats.DocumentCount)
	}
	for term, want := range map[string]int64{"alpha": 100, "beta": 50, "gamma": 50} {
		ts, _ := s.TermStats(ctx, "books", "body", term)
		if ts.Postings != want {
			t.Errorf("%s: %d postings, want %d", term, ts.Postings, want)
		}
	}
}

func TestApplyUpdatesAndDeletes(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	cp := Checkpoint{Offset: -1}
	if _, err := s.Apply(ctx, 0, docEvent(1, 0, []string{"x", "y"}, func(int) string { return "old words" }), &cp); err != nil {
		t.Fatal(err)
	}
	// x is replaced (old postings removed), y is deleted.
	src, _ := json.Marshal(map[string]string{"id": "x", "body": "new"})
	ev := &dirtyterms.Event{V: 1, Topic: "docs", Partition: 1, FirstOffset: 2, LastOffset: 3,
		Records: []dirtyterms.Record{
			{Offset: 2, Index: "books", ID: "x", Source: src, Count: 0, Fields: []dirtyterms.FieldDelta{{Field: "body", Docs: 0, Length: -1}}},
			{Offset: 3, Index: "books", ID: "y", Deleted: true, Count: -1, Fields: []dirtyterms.FieldDelta{{Field: "body", Docs: -1, Length: -2}}},
		},
		Terms: []dirtyterms.Term{
			{Index: "books", Field: "body", Term: "old", Ops: []dirtyterms.Op{{Rec: 0}, {Rec: 1}}},
			{Index: "books", Field: "body", Term: "words", Ops: []dirtyterms.Op{{Rec: 0}, {Rec: 1}}},
			{Index: "books", Field: "body", Term: "new", Ops: []dirtyterms.Op{{Rec: 0, TF: 1, Length: 1}}},
		}}
	if _, err := s.Apply(ctx, 1, ev, &cp); err != nil {
		t.Fatal(err)
	}
	st, _ := s.IndexStats(ctx, "books")
	if st.DocumentCount != 1 || st.TermCount != 1 {
		t.Fatalf("stats %+v", st)
	}
	res, err := s.Search(ctx, "books", analysis.ParseQuery("body:old"), 0, 10)
	if err != nil || res.Total != 0 {
		t.Fatalf("stale version found: %+v %v", res, err)
	}
	res, err = s.Search(ctx, "books", analysis.ParseQuery("body:new"), 0, 10)
	if err != nil || res.Total != 1 || string(res.Hits[0].Source) != string(src) {
		t.Fatalf("new version: %+v %v", res, err)
	}
	n, _ := s.chunks.CountDocuments(ctx, map[string]any{"tk": TermKey("books", "body", "old")})
	if n != 0 {
		t.Fatalf("%d chunks left for an emptied term", n)
	}
}

// TestCommandHookCountsWrites checks that the command hook sees every
// document a batch writes: a first batch of new documents inserts each
// document, term and statistic once, and the count of (term, chunk) pairs
// matches the chunks stored.
func TestCommandHookCountsWrites(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	written := map[string]int{}
	commands := map[string]int{}
	s.SetCommandHook(func(c Command) {
		written[c.Collection] += c.Docs
		commands[c.Collection+"/"+c.Kind]++
	})
	ev := docEvent(0, 0, ids("d", 0, 40), func(i int) string { return fmt.Sprintf("shared word%d", i%10) })
	cp := Checkpoint{Offset: -1}
	st, err := s.Apply(ctx, 0, ev, &cp)
	if err != nil {
		t.Fatal(err)
	}
	stored := func(c string) int {
		n, err := s.db.Collection(c).CountDocuments(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		return int(n)
	}
	if written[CollDocuments] != 40 || stored(CollDocuments) != 40 {
		t.Errorf("documents written %d, stored %d, want 40", written[CollDocuments], stored(CollDocuments))
	}
	if written[CollTerms] != stored(CollTerms) || stored(CollTerms) != 11 {
		t.Errorf("heads written %d, stored %d, want 11", written[CollTerms], stored(CollTerms))
	}
	if st.TermChunks != 11 {
		t.Errorf("%d (term, chunk) pairs, want 11", st.TermChunks)
	}
	if commands[CollCheckpoints+"/update"] != 1 || written[CollCheckpoints] != 1 {
		t.Errorf("checkpoint: %v commands, %d written", commands, written[CollCheckpoints])
	}
	if commands[CollTerms+"/find"] == 0 && st.Reads > 0 {
		t.Errorf("finds not reported: %v", commands)
	}
	t.Logf("written %v; commands %v", written, commands)
}
