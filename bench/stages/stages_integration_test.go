//go:build integration

package stages

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/termflow/termflow/bench/corpus"
	"github.com/termflow/termflow/pkg/analysis"
	"github.com/termflow/termflow/pkg/dirtyterms"
	"github.com/termflow/termflow/pkg/mongostore"
	"github.com/termflow/termflow/pkg/posting"
)

func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set (integration tests need the real broker and MongoDB-protocol server)", name)
	}
	return v
}

// unique is a name no other test run uses.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), time.Now().UnixNano())
}

func TestKafkaIntegration(t *testing.T) {
	brokers := strings.Split(env(t, "TERMFLOW_TEST_KAFKA_BROKERS"), ",")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := newFake(2*OperationDocs + 7)
	topicName := unique("h2-stages-kafka")
	r, err := Kafka(ctx, brokers, topicName, 3, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	n := c.Len()
	if r.Produce.Docs != n || r.Consume.Docs != n || r.Together.Docs != n {
		t.Fatalf("produced %d, consumed %d, together %d; want %d each", r.Produce.Docs, r.Consume.Docs, r.Together.Docs, n)
	}
	recs, size, err := kafkaRecords(c, n, topicName, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r.Produce.Bytes != size || r.Consume.Bytes != size || r.Together.Bytes != size || len(recs) != n {
		t.Fatalf("bytes produced %d, consumed %d, together %d; want %d", r.Produce.Bytes, r.Consume.Bytes, r.Together.Bytes, size)
	}
	for _, tp := range []Throughput{r.Produce, r.Consume, r.Together} {
		if tp.Seconds <= 0 || tp.DocsPerSec <= 0 || tp.MBPerSec <= 0 {
			t.Fatalf("rates not set: %+v", tp)
		}
	}
	// The topic is gone.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(30 * time.Second)
	for {
		topics, err := adm.ListTopics(kadm.WithAuthorizedOps(ctx), topicName)
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := topics[topicName]; !ok || d.Err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s still exists", topicName)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A topic that exists already is refused, and left alone.
	other := unique("h2-stages-kafka-existing")
	if resp, err := adm.CreateTopic(ctx, 1, -1, nil, other); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v, %v", err, resp.Err)
	}
	defer adm.DeleteTopic(context.Background(), other)
	// The broker may not list a topic right after creating it.
	for deadline := time.Now().Add(30 * time.Second); ; {
		topics, err := adm.ListTopics(kadm.WithAuthorizedOps(ctx), other)
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := topics[other]; ok && d.Err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s not listed 30 s after its creation", other)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := Kafka(ctx, brokers, other, 1, c, 10); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Fatalf("Kafka on an existing topic: %v, want an error", err)
	}
	topics, err := adm.ListTopics(kadm.WithAuthorizedOps(ctx), other)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := topics[other]; !ok || d.Err != nil {
		t.Fatalf("the existing topic %s was deleted", other)
	}
}

func TestMongoIntegration(t *testing.T) {
	uri := env(t, "TERMFLOW_TEST_MONGO_URI")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := newFake(60)
	database := strings.ReplaceAll(unique("h2_stages_mongo"), "-", "_")
	r, err := MongoBatches(ctx, uri, database, c, 0, []MongoShape{{7, 1}, {1000, 1}, {7, 2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	set, err := persistedDocuments(c, c.Len(), posting.MaxChunk)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Trials) != 3 || r.Trials[0].BatchSize != 7 || r.Trials[1].BatchSize != 1000 || r.Trials[2].BatchSize != 7 ||
		r.Trials[0].InFlight != 1 || r.Trials[2].InFlight != 2 {
		t.Fatalf("trials %+v", r.Trials)
	}
	for _, tr := range r.Trials {
		if tr.Documents.Docs != c.Len() || tr.Chunks.Docs != len(set.chunks) || tr.Heads.Docs != len(set.heads) ||
			tr.Chunks.Postings != set.postings || tr.Combined.Docs != c.Len()+len(set.chunks)+len(set.heads) {
			t.Fatalf("trial %+v", tr)
		}
		wantReqs := (c.Len()+tr.BatchSize-1)/tr.BatchSize + (len(set.chunks)+tr.BatchSize-1)/tr.BatchSize +
			(len(set.heads)+tr.BatchSize-1)/tr.BatchSize
		if tr.Combined.Requests != wantReqs || tr.CorpusDocsPerSec <= 0 {
			t.Fatalf("trial %d: %d requests (want %d), %.0f corpus docs/s", tr.BatchSize, tr.Combined.Requests, wantReqs, tr.CorpusDocsPerSec)
		}
	}
	if !slices.ContainsFunc(r.Trials, func(tr MongoTrial) bool { return tr == r.Best }) {
		t.Fatalf("best trial %+v is none of the trials", r.Best)
	}
	// The database was dropped.
	if err := checkNoDatabase(ctx, uri, database); err != nil {
		t.Fatal(err)
	}
	// A database that exists is refused, and left alone.
	s, err := mongostore.Open(ctx, uri, database, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	defer s.Database().Drop(context.Background())
	if _, err := s.Database().Collection("keep").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := MongoBatches(ctx, uri, database, c, 5, []MongoShape{{10, 1}}); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Fatalf("MongoBatches on an existing database: %v, want an error", err)
	}
	if n, err := s.Database().Collection("keep").CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Fatalf("the existing database lost its document: %d, %v", n, err)
	}
}

// TestMongoLayoutIsMongostores writes the documents into a database and
// reads them with mongostore's own readers: the postings, term statistics
// and a search come back as the analysis says.
func TestMongoLayoutIsMongostores(t *testing.T) {
	uri := env(t, "TERMFLOW_TEST_MONGO_URI")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := newFake(40)
	const maxChunk = 8 // split lists, as a larger corpus would at posting.MaxChunk
	set, err := persistedDocuments(c, c.Len(), maxChunk)
	if err != nil {
		t.Fatal(err)
	}
	database := strings.ReplaceAll(unique("h2_stages_layout"), "-", "_")
	s, err := mongostore.Open(ctx, uri, database, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	defer s.Database().Drop(context.Background())
	if _, err := writeSet(ctx, s.Database(), set, MongoShape{BatchSize: 3, InFlight: 2}); err != nil {
		t.Fatal(err)
	}
	ps, sizes, err := s.Postings(ctx, Index, "body", "common")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 40 || len(sizes) < 5 {
		t.Fatalf("body:common: %d postings in %d chunks, want 40 in at least 5", len(ps), len(sizes))
	}
	ts, err := s.TermStats(ctx, Index, analysis.AllField, "rare7")
	if err != nil || ts.Postings != 1 || ts.Chunks != 1 {
		t.Fatalf("_all:rare7: %+v, %v", ts, err)
	}
	var doc struct {
		Src string `bson:"src"`
		O   int64  `bson:"o"`
	}
	err = s.Database().Collection(mongostore.CollDocuments).FindOne(ctx, bson.D{{Key: "_id", Value: Index + "/d00007"}}).Decode(&doc)
	if err != nil || !strings.Contains(doc.Src, "Rare7") || doc.O != 7 {
		t.Fatalf("document d00007: %+v, %v", doc, err)
	}
}

// TestStagesOnZipf runs every stage on the same synthetic corpus
// (TERMFLOW_STAGES_DOCS documents, 2000 by default) and checks that they
// saw the same input: the same documents and, where a stage counts them,
// the same postings. It logs the results as JSON.
func TestStagesOnZipf(t *testing.T) {
	brokers := strings.Split(env(t, "TERMFLOW_TEST_KAFKA_BROKERS"), ",")
	uri := env(t, "TERMFLOW_TEST_MONGO_URI")
	n := 2000
	if v := os.Getenv("TERMFLOW_STAGES_DOCS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("TERMFLOW_STAGES_DOCS=%q: want a positive number", v)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	c := corpus.Zipf(1, n)

	an, err := Analysis(c, 0)
	if err != nil {
		t.Fatal(err)
	}
	logJSON(t, "analysis", an)
	k, err := Kafka(ctx, brokers, unique("h2-stages-zipf"), 12, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	logJSON(t, "kafka", k)
	batchDocs := 1000
	if v := os.Getenv("TERMFLOW_STAGES_PEBBLE_BATCH"); v != "" {
		if batchDocs, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	p, err := Pebble(ctx, t.TempDir(), c, 0, batchDocs)
	if err != nil {
		t.Fatal(err)
	}
	logJSON(t, "pebble", p)
	m, err := Mongo(ctx, uri, strings.ReplaceAll(unique("h2_stages_zipf"), "-", "_"), c, 0)
	if err != nil {
		t.Fatal(err)
	}
	logJSON(t, "mongo", m)

	if an.Docs != n || k.Produce.Docs != n || k.Consume.Docs != n || p.Docs != n || m.Docs != n || m.Best.Documents.Docs != n {
		t.Fatalf("documents: analysis %d, kafka %d/%d, pebble %d, mongo %d/%d; want %d", an.Docs, k.Produce.Docs,
			k.Consume.Docs, p.Docs, m.Docs, m.Best.Documents.Docs, n)
	}
	if m.Best.Chunks.Postings != an.Postings {
		t.Fatalf("mongo chunks hold %d postings, analysis found %d", m.Best.Chunks.Postings, an.Postings)
	}
}

func logJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s", name, b)
}

// TestMongoSetIsThePersisters applies a bulk load of a corpus to a database
// through mongostore.ApplyBatch, as the persister does, and checks that the
// term heads, chunks and documents it leaves are exactly the ones the Mongo
// stage inserts. The corpus is large enough for terms to split into chunk
// documents. When mongostore's layout changes, this fails until
// persistedDocuments follows.
func TestMongoSetIsThePersisters(t *testing.T) {
	uri := env(t, "TERMFLOW_TEST_MONGO_URI")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := newFake(posting.MaxChunk + 100)
	set, err := persistedDocuments(c, c.Len(), posting.MaxChunk)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.chunks) == 0 {
		t.Fatal("no chunk documents: the corpus must split a term")
	}

	// The dirty-terms event of indexing the whole corpus in one batch.
	ev := &dirtyterms.Event{V: dirtyterms.Version, Indexer: "h2", Topic: PebbleTopic, Partition: 0,
		FirstOffset: 0, LastOffset: int64(c.Len() - 1)}
	type fieldTerm struct{ field, term string }
	ops := map[fieldTerm][]dirtyterms.Op{}
	seen := map[string]struct{}{}
	for i := range c.Len() {
		d := c.Doc(i)
		src, an, err := analyzeDoc(i, d, seen)
		if err != nil {
			t.Fatal(err)
		}
		rec := dirtyterms.Record{Offset: int64(i), Index: Index, ID: d.ID, Source: src, Count: 1}
		for _, f := range an.Fields {
			rec.Fields = append(rec.Fields, dirtyterms.FieldDelta{Field: f.Name, Docs: 1, Length: int64(f.Length)})
			for _, t := range f.Terms {
				k := fieldTerm{f.Name, t.Term}
				ops[k] = append(ops[k], dirtyterms.Op{Rec: i, TF: t.TF, Length: f.Length})
			}
		}
		ev.Records = append(ev.Records, rec)
	}
	for k, o := range ops {
		ev.Terms = append(ev.Terms, dirtyterms.Term{Index: Index, Field: k.field, Term: k.term, Ops: o})
	}
	slices.SortFunc(ev.Terms, func(a, b dirtyterms.Term) int {
		return strings.Compare(a.Field+"\x00"+a.Term, b.Field+"\x00"+b.Term)
	})

	database := strings.ReplaceAll(unique("h2_stages_persister"), "-", "_")
	s, err := mongostore.Open(ctx, uri, database, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	defer s.Database().Drop(context.Background())
	cp, err := s.LoadCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyBatch(ctx, []mongostore.Item{{Offset: 0, Event: ev}}, &cp); err != nil {
		t.Fatal(err)
	}

	for _, k := range []struct {
		coll string
		want []bson.Raw
	}{
		{mongostore.CollTerms, set.heads},
		{mongostore.CollChunks, set.chunks},
		{mongostore.CollDocuments, set.docs},
	} {
		cur, err := s.Database().Collection(k.coll).Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bson.M{}
		for cur.Next(ctx) {
			var m bson.M
			if err := cur.Decode(&m); err != nil {
				t.Fatal(err)
			}
			got[fmt.Sprint(m["_id"])] = m
		}
		if err := cur.Err(); err != nil {
			t.Fatal(err)
		}
		cur.Close(ctx)
		if len(got) != len(k.want) {
			t.Errorf("%s: the persister wrote %d documents, the stage inserts %d", k.coll, len(got), len(k.want))
		}
		bad := 0
		for _, raw := range k.want {
			var m bson.M
			if err := bson.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			id := fmt.Sprint(m["_id"])
			if g, ok := got[id]; !ok || !reflect.DeepEqual(g, m) {
				if bad++; bad <= 3 {
					t.Errorf("%s %q:\n persister %v\n stage     %v", k.coll, id, g, m)
				}
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d documents differ", k.coll, bad, len(k.want))
		}
	}
}
