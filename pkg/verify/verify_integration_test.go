//go:build integration

package verify

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/termflow/termflow/pkg/analysis"
	"github.com/termflow/termflow/pkg/dirtyterms"
	"github.com/termflow/termflow/pkg/document"
	"github.com/termflow/termflow/pkg/mongostore"
	"github.com/termflow/termflow/pkg/pebblestore"
	"github.com/termflow/termflow/pkg/posting"
)

// testEnv returns the broker and MongoDB of the test infrastructure
// (scripts/infra-up.sh; make test sets both).
func testEnv(t *testing.T) (brokers, mongoURI string) {
	t.Helper()
	brokers = os.Getenv("TERMFLOW_TEST_KAFKA_BROKERS")
	mongoURI = os.Getenv("TERMFLOW_TEST_MONGO_URI")
	if brokers == "" || mongoURI == "" {
		t.Fatal("TERMFLOW_TEST_KAFKA_BROKERS and TERMFLOW_TEST_MONGO_URI must be set: run `make test`, or scripts/infra-up.sh and the variables of .infra/env")
	}
	return brokers, mongoURI
}

// uniqueName is a topic or database name for this test run.
func uniqueName(t *testing.T, prefix string) string {
	return fmt.Sprintf("%s_%s_%d", prefix, strings.ToLower(strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())),
		time.Now().UnixNano()%1e9)
}

// produce creates a topic with partitions and produces values (key|value;
// an empty value is a tombstone), returning the records with their offsets.
func produce(t *testing.T, ctx context.Context, brokers, topic string, partitions int32, lines []string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, partitions, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topic) })
	var recs []*kgo.Record
	for _, l := range lines {
		k, v, _ := strings.Cut(l, "|")
		r := &kgo.Record{Key: []byte(k)}
		if v != "" {
			r.Value = []byte(v)
		}
		recs = append(recs, r)
	}
	// One at a time, so the offsets follow the order of lines.
	for _, r := range recs {
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return recs
}

// eventsOf turns records into one dirty-terms event per partition, with
// exact per-record deltas: the indexer's job, done independently of the
// code under test.
func eventsOf(topic string, recs []*kgo.Record) []*dirtyterms.Event {
	byPart := map[int32][]*kgo.Record{}
	for _, r := range recs {
		byPart[r.Partition] = append(byPart[r.Partition], r)
	}
	parts := make([]int32, 0, len(byPart))
	for p := range byPart {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	var events []*dirtyterms.Event
	for _, p := range parts {
		rs := byPart[p]
		ev := &dirtyterms.Event{V: dirtyterms.Version, Indexer: "test", Topic: topic, Partition: p,
			FirstOffset: rs[0].Offset, LastOffset: rs[len(rs)-1].Offset}
		state := map[string]*analysis.Document{}
		terms := map[[3]string]*dirtyterms.Term{}
		for _, r := range rs {
			env, err := document.Decode(r.Key, r.Value, 0)
			var an analysis.Document
			if err == nil && !env.Delete {
				an, err = analysis.AnalyzeJSON(env.Doc)
			}
			if err != nil {
				continue
			}
			k := env.Index + "/" + env.ID
			old := state[k]
			var next *analysis.Document
			if !env.Delete {
				next = &an
			}
			rec := dirtyterms.Record{Offset: r.Offset, Index: env.Index, ID: env.ID, Deleted: env.Delete}
			if next != nil {
				rec.Source = env.Doc
			}
			switch {
			case old == nil && next != nil:
				rec.Count = 1
			case old != nil && next == nil:
				rec.Count = -1
			}
			fields := map[string]*dirtyterms.FieldDelta{}
			ops := map[[2]string]dirtyterms.Op{}
			ri := len(ev.Records)
			for sign, d := range map[int64]*analysis.Document{-1: old, 1: next} {
				if d == nil {
					continue
				}
				for _, f := range d.Fields {
					fd := fields[f.Name]
					if fd == nil {
						fd = &dirtyterms.FieldDelta{Field: f.Name}
						fields[f.Name] = fd
					}
					fd.Docs += sign
					fd.Length += sign * int64(f.Length)
					for _, t := range f.Terms {
						k := [2]string{f.Name, t.Term}
						if sign > 0 {
							ops[k] = dirtyterms.Op{Rec: ri, TF: t.TF, Length: f.Length}
						} else if _, set := ops[k]; !set {
							ops[k] = dirtyterms.Op{Rec: ri}
						}
					}
				}
			}
			for _, fd := range fields {
				if fd.Docs != 0 || fd.Length != 0 {
					rec.Fields = append(rec.Fields, *fd)
				}
			}
			sort.Slice(rec.Fields, func(i, j int) bool { return rec.Fields[i].Field < rec.Fields[j].Field })
			for k, op := range ops {
				tk := [3]string{env.Index, k[0], k[1]}
				if terms[tk] == nil {
					terms[tk] = &dirtyterms.Term{Index: env.Index, Field: k[0], Term: k[1]}
				}
				terms[tk].Ops = append(terms[tk].Ops, op)
			}
			ev.Records = append(ev.Records, rec)
			state[k] = next
		}
		for _, tm := range terms {
			sort.Slice(tm.Ops, func(i, j int) bool { return tm.Ops[i].Rec < tm.Ops[j].Rec })
			ev.Terms = append(ev.Terms, *tm)
		}
		sort.Slice(ev.Terms, func(i, j int) bool {
			a, b := ev.Terms[i], ev.Terms[j]
			return a.Index+"\x00"+a.Field+"\x00"+a.Term < b.Index+"\x00"+b.Field+"\x00"+b.Term
		})
		events = append(events, ev)
	}
	return events
}

// writePebble writes the state of recs for the given partitions into a
// Pebble store at dir, as an indexer that owns them would.
func writePebble(t *testing.T, dir, topic string, recs []*kgo.Record, partitions ...int32) {
	t.Helper()
	s, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mine []*kgo.Record
	for _, r := range recs {
		if slices.Contains(partitions, r.Partition) {
			mine = append(mine, r)
		}
	}
	e := ExpectedFrom(mine, 0, nil)
	e.build()
	b := s.NewBatch()
	for k, ps := range e.terms {
		for _, p := range ps {
			b.SetPosting(k.index, k.field, k.term, p.Doc, p.TF, p.Length)
		}
	}
	for _, d := range e.docs {
		b.SetForward(d.index, d.id, forwardOf(d.an))
	}
	for p, off := range e.lastOffset {
		b.SetApplied(topic, p, off)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestRunAgainstBrokerAndMongo(t *testing.T) {
	brokers, mongoURI := testEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	topic := uniqueName(t, "verify")
	lines := []string{
		`books/1|{"v":1,"index":"books","id":"1","doc":{"title":"Limited edition","tags":["red","apple"]}}`,
		`books/2|{"v":1,"index":"books","id":"2","doc":{"title":"Unlimited apple pie"}}`,
		`books/3|{"v":1,"index":"books","id":3,"doc":{"title":"Deleted by envelope"}}`,
		`films/1|{"v":1,"index":"films","id":"1","doc":{"name":"Red <b>apple</b> & co","year":1999}}`,
		`books/4|{"v":1,"index":"books","id":"4","doc":{"title":"Deleted by tombstone"}}`,
		`books/1|{"v":1,"index":"books","id":"1","doc":{"title":"Limited second edition","tags":["green","apple"]}}`,
		`books/3|{"v":1,"index":"books","id":"3","delete":true}`,
		`books/4|`,
		`books/5|not json`,
		`books/2|{"v":2,"index":"books","id":"2","doc":{"title":"wrong version: dead letter, version 1 stays"}}`,
	}
	for i := range 40 {
		lines = append(lines, fmt.Sprintf(`books/m%d|{"v":1,"index":"books","id":"m%d","doc":{"title":"many apple %d"}}`, i, i, i%3))
	}
	recs := produce(t, ctx, brokers, topic, 3, lines)

	store, err := mongostore.Open(ctx, mongoURI, uniqueName(t, "t"), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	db := store.Database()
	t.Cleanup(func() {
		_ = db.Drop(context.Background())
		_ = store.Close(context.Background())
	})
	cp := mongostore.Checkpoint{Offset: -1}
	for i, ev := range eventsOf(topic, recs) {
		if _, err := store.Apply(ctx, int64(i), ev, &cp); err != nil {
			t.Fatal(err)
		}
	}

	cfg := Config{Brokers: []string{brokers}, DocumentsTopic: topic, MongoURI: mongoURI, Database: db.Name()}
	rep, err := Run(ctx, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("verified %d records in %v", rep.Records, rep.Elapsed)
	if !rep.OK() {
		t.Fatalf("differences on a correct index:\n%s", strings.Join(rep.Diffs, "\n"))
	}
	if rep.Records != len(lines) || rep.DeadLetters != 2 || rep.Documents != 43 {
		t.Fatalf("report %+v", rep)
	}

	// One index only.
	rep, err = Run(ctx, Config{Brokers: []string{brokers}, DocumentsTopic: topic, MongoURI: mongoURI, Database: db.Name(),
		Indexes: []string{"films"}}, zerolog.Nop())
	if err != nil || !rep.OK() || rep.Documents != 1 {
		t.Fatalf("films only: %+v %v", rep, err)
	}

	// Pebble stores: partitions 0 and 1 in one, 2 in another, and a stale
	// copy of partition 2 (only its first records) in the first.
	dir := t.TempDir()
	var early []*kgo.Record
	for _, r := range recs {
		if r.Partition == 2 && len(early) < 2 {
			early = append(early, r)
		}
	}
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writePebble(t, a, topic, append(filterParts(recs, 0, 1), early...), 0, 1, 2)
	writePebble(t, b, topic, recs, 2)
	rep, err = Run(ctx, Config{Brokers: []string{brokers}, DocumentsTopic: topic, MongoURI: mongoURI, Database: db.Name(),
		PebbleDirs: []string{a, b}}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("differences with pebble:\n%s", strings.Join(rep.Diffs, "\n"))
	}

	// Corrupt MongoDB: drop a posting from a term of one chunk (inline in
	// its head), change a document, bump a document count.
	tk := mongostore.TermKey("books", "title", "apple")
	var h Head
	if err := db.Collection(mongostore.CollTerms).FindOne(ctx, bson.D{{Key: "_id", Value: tk}}).Decode(&h); err != nil {
		t.Fatalf("head %s: %v", tk, err)
	}
	if len(h.P) == 0 {
		t.Fatalf("head %s holds no inline postings: %+v", tk, h)
	}
	ps, err := posting.Decode(nil, h.P)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection(mongostore.CollTerms).UpdateOne(ctx, bson.D{{Key: "_id", Value: tk}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "p", Value: posting.Encode(nil, ps[1:])}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection(mongostore.CollDocuments).UpdateOne(ctx, bson.D{{Key: "_id", Value: "books/2"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "src", Value: `{"title":"tampered"}`}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection(mongostore.CollIndexStats).UpdateOne(ctx, bson.D{{Key: "_id", Value: "books"}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "docs", Value: 1}}}}); err != nil {
		t.Fatal(err)
	}
	rep, err = Run(ctx, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{KindDocumentBody, KindDocumentCount, KindPostingMissing, KindChunkCount}
	slices.Sort(want)
	if got := slices.Sorted(maps.Keys(rep.Kinds)); !slices.Equal(got, want) || rep.DiffCount != 4 {
		t.Fatalf("kinds %v (%d differences), want %v:\n%s", got, rep.DiffCount, want, strings.Join(rep.Diffs, "\n"))
	}
	for _, sub := range []string{
		fmt.Sprintf("posting missing: %s: doc %q", tk, ps[0].Doc),
		`document body: books/2: {"title":"tampered"}`,
		"document count: index books: indexstats docs 43, want 42",
	} {
		if !slices.ContainsFunc(rep.Diffs, func(d string) bool { return strings.Contains(d, sub) }) {
			t.Errorf("no difference contains %q:\n%s", sub, strings.Join(rep.Diffs, "\n"))
		}
	}
}

func TestRunOperationalErrors(t *testing.T) {
	brokers, mongoURI := testEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := Run(ctx, Config{Brokers: []string{brokers}, DocumentsTopic: uniqueName(t, "absent"), MongoURI: mongoURI,
		Database: uniqueName(t, "t")}, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("absent topic: %v", err)
	}
	_, err = Run(ctx, Config{Brokers: []string{brokers}, MongoURI: mongoURI, PebbleDirs: []string{filepath.Join(t.TempDir(), "none")}}, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "pebble") {
		t.Fatalf("absent pebble directory: %v", err)
	}
}

func filterParts(recs []*kgo.Record, parts ...int32) []*kgo.Record {
	var out []*kgo.Record
	for _, r := range recs {
		if slices.Contains(parts, r.Partition) {
			out = append(out, r)
		}
	}
	return out
}
