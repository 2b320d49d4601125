package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/termflow/termflow/pkg/analysis"
	"github.com/termflow/termflow/pkg/bulkop"
	"github.com/termflow/termflow/pkg/document"
	"github.com/termflow/termflow/pkg/mongostore"
	"github.com/termflow/termflow/pkg/progress"
	"github.com/termflow/termflow/pkg/topic"
	"github.com/termflow/termflow/services/ingest/internal/tracker"
)

// fakeStore serves one index, "books", holding the term "go" in _all.
type fakeStore struct{}

func (fakeStore) Search(_ context.Context, index string, q []analysis.QueryTerm, from, limit int) (mongostore.SearchResult, error) {
	if index != "books" {
		return mongostore.SearchResult{}, mongostore.ErrIndexNotFound
	}
	if len(q) != 1 || q[0] != (analysis.QueryTerm{Field: analysis.AllField, Term: "go"}) {
		return mongostore.SearchResult{Hits: []mongostore.Hit{}}, nil
	}
	hits := []mongostore.Hit{{ID: "1", Score: 1.5, Source: json.RawMessage(`{"id":1,"title":"Go"}`)}}
	return mongostore.SearchResult{Total: 1, Hits: hits[min(from, 1):]}, nil
}

func (fakeStore) IndexStats(_ context.Context, index string) (mongostore.IndexStats, error) {
	if index != "books" {
		return mongostore.IndexStats{}, mongostore.ErrIndexNotFound
	}
	return mongostore.IndexStats{DocumentCount: 3, TermCount: 42}, nil
}

func (fakeStore) TermStats(_ context.Context, index, field, term string) (mongostore.TermStats, error) {
	if index == "books" && field == analysis.AllField && term == "go" {
		return mongostore.TermStats{Postings: 7, Chunks: 1}, nil
	}
	return mongostore.TermStats{}, nil
}

type env struct {
	cluster  *kfake.Cluster
	topics   topic.Config
	api      *API
	tracker  *tracker.Tracker
	trCfg    tracker.Config
	srv      *httptest.Server
	reg      *prometheus.Registry
	seeds    []string
	producer *kgo.Client // states (the API has its own for documents)
	// stopTracker stops the tracker and closes its consumer, as a stopping
	// process does.
	stopTracker func()
}

func newEnv(t *testing.T, edit func(*Config)) *env {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	seeds := c.ListenAddrs()
	tc := topic.Defaults()
	tc.DocumentsPartitions = 4
	cfg := Defaults()
	cfg.DocumentsTopic = tc.Documents
	cfg.BatchSize = 2
	cfg.MaxBodyBytes = 4096
	cfg.MaxDocumentBytes = 256
	cfg.ProduceTimeout = 2 * time.Second
	if edit != nil {
		edit(&cfg)
	}
	// Two producers, as in main: one for the documents, one for operation
	// states (and admin requests).
	docs, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, ProducerOpts(cfg)...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(docs.Close)
	producer, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	adm := kadm.NewClient(producer)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := topic.Ensure(kadm.WithAuthorizedOps(ctx), adm, tc.ReplicationFactor, tc.All()...); err != nil {
		t.Fatal(err)
	}
	tcfg := tracker.Defaults()
	tcfg.PollInterval = 100 * time.Millisecond
	tcfg.PublishTimeout = time.Second
	reg := prometheus.NewRegistry()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	e := &env{cluster: c, topics: tc, trCfg: tcfg, reg: reg, seeds: seeds, producer: producer}
	tr, stopTracker := e.startTracker(t, reg)
	e.stopTracker = stopTracker
	a := New(cfg, docs, tr, fakeStore{}, log, reg)
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e.api, e.tracker, e.srv = a, tr, srv
	return e
}

// startTracker runs a tracker, as a starting ingest process does, and
// waits until it is ready. stop stops it and closes its consumer (leaving
// the group).
func (e *env) startTracker(t *testing.T, reg prometheus.Registerer) (tr *tracker.Tracker, stop func()) {
	t.Helper()
	consumer, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.seeds...)}, tracker.ConsumerOpts(e.trCfg)...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(consumer.Close)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	tr = tracker.New(e.trCfg, e.producer, consumer, kadm.NewClient(e.producer), []kgo.Opt{kgo.SeedBrokers(e.seeds...)}, log, reg)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(runCtx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("tracker: %v", err)
		}
		consumer.Close()
	})
	t.Cleanup(stop)
	deadline := time.Now().Add(10 * time.Second)
	for tr.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatal("tracker not ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return tr, stop
}

type response struct {
	code   int
	header http.Header
	body   string
}

func (e *env) do(t *testing.T, method, path, contentType, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

const ndjson = "application/x-ndjson"

// TestHTTP covers every answer that needs no Kafka failure.
func TestHTTP(t *testing.T) {
	e := newEnv(t, nil)
	big := `{"id":"big","x":"` + strings.Repeat("a", 300) + `"}`
	tests := []struct {
		name, method, path, ctype, body string
		code                            int
		want                            string // exact JSON body when it starts with '{', else a substring
	}{
		{"array", "POST", "/bulk-indexing/books", "", `[{"id":1,"t":"a"},{"id":"b"},{"id":3}]`, 202, `"documents":3,"batches":2,"status":"indexing"`},
		{"ndjson", "POST", "/bulk-indexing/books", ndjson, "{\"id\":1}\n\n{\"id\":2}\r\n", 202, `"documents":2,"batches":1`},
		{"ndjson with charset", "POST", "/bulk-indexing/books", ndjson + "; charset=utf-8", `{"id":1}`, 202, `"documents":1`},
		{"empty array", "POST", "/bulk-indexing/books", "", `[]`, 400, `{"error":"no documents"}`},
		{"empty body", "POST", "/bulk-indexing/books", ndjson, "\n \n", 400, `{"error":"no documents"}`},
		{"not an array", "POST", "/bulk-indexing/books", "", `{"id":1}`, 400, `body must be a JSON array`},
		{"invalid index", "POST", "/bulk-indexing/Books", "", `[{"id":1}]`, 400, `invalid index name`},
		{"ndjson invalid lines", "POST", "/bulk-indexing/books", ndjson,
			"{\"id\":1}\n{\"id\":\n\n{\"x\":1}\n{\"id\":true}\n[1]\n{\"id\":2} {\"id\":3}\n{\"id\":4,\"id\":5}\n{\"id\":\"\\u0000\"}\n" + big + "\n{\"id\":6,\"a\":{\"b\":1,\"b\":2}}\n",
			400, `{"error":"9 invalid documents","items":[` +
				`{"line":2,"error":"invalid JSON: unexpected EOF"},` +
				`{"line":4,"error":"missing \"id\""},` +
				`{"line":5,"error":"id must be a string or a number"},` +
				`{"line":6,"error":"document must be a JSON object"},` +
				`{"line":7,"error":"invalid JSON: trailing data after the document"},` +
				`{"line":8,"error":"duplicate key \"id\""},` +
				`{"line":9,"error":"id contains a NUL byte"},` +
				`{"line":10,"error":"document of 319 bytes is over the 256-byte limit"},` +
				`{"line":11,"error":"duplicate key \"b\""}]}`},
		{"array invalid items", "POST", "/bulk-indexing/books", "", `[{"id":1},{"name":"x"},{"id":false},"s",{"id":{"a":1}}]`, 400,
			`{"error":"4 invalid documents","items":[` +
				`{"line":2,"error":"missing \"id\""},` +
				`{"line":3,"error":"id must be a string or a number"},` +
				`{"line":4,"error":"document must be a JSON object"},` +
				`{"line":5,"error":"id must be a string or a number"}]}`},
		{"array syntax error", "POST", "/bulk-indexing/books", "", `[{"id":1},{"id":2,}]`, 400,
			`{"error":"1 invalid documents","items":[{"line":2,"error":"invalid JSON: invalid character '}' looking for beginning of object key string"}]}`},
		{"array trailing garbage", "POST", "/bulk-indexing/books", "", `[{"id":1}] x`, 400, `trailing data after the array`},
		{"invalid utf-8", "POST", "/bulk-indexing/books", "", "[{\"id\":1,\"t\":\"\xff\"}]", 400, `not valid UTF-8`},
		{"body too large", "POST", "/bulk-indexing/books", ndjson, strings.Repeat("{\"id\":1}\n", 600), 413, `{"error":"request body over 4096 bytes"}`},

		{"unknown operation", "GET", "/bulk-operations/op_01ARZ3NDEKTSV4RRFFQ69G5FAV", "", "", 404, `{"error":"operation not found"}`},
		{"unknown operation wait", "GET", "/bulk-operations/nope?wait=completed&timeout=1s", "", "", 404, `{"error":"operation not found"}`},
		{"unknown operation errors", "GET", "/bulk-operations/nope/errors", "", "", 404, `{"error":"operation not found"}`},
		{"bad wait", "GET", "/bulk-operations/nope?wait=soon", "", "", 400, `wait \"soon\"`},
		{"bad timeout", "GET", "/bulk-operations/nope?wait=completed&timeout=x", "", "", 400, `timeout \"x\"`},
		{"list bad status", "GET", "/bulk-operations?status=done", "", "", 400, `unknown status`},
		{"list bad limit", "GET", "/bulk-operations?limit=0", "", "", 400, `limit \"0\"`},
		{"list bad index", "GET", "/bulk-operations?index=A", "", "", 400, `invalid index name`},

		{"search", "GET", "/indexes/books/search?q=Go", "", "", 200, `"total":1,"hits":[{"id":"1","score":1.5,"source":{"id":1,"title":"Go"}}]`},
		{"search no hits", "GET", "/indexes/books/search?q=rust&limit=1000&from=9000", "", "", 200, `"total":0,"hits":[]`},
		{"search empty q", "GET", "/indexes/books/search?q=", "", "", 400, `{"error":"query q has no terms"}`},
		{"search no terms", "GET", "/indexes/books/search?q=...", "", "", 400, `{"error":"query q has no terms"}`},
		{"search limit 0", "GET", "/indexes/books/search?q=go&limit=0", "", "", 400, `limit 0`},
		{"search limit too big", "GET", "/indexes/books/search?q=go&limit=1001", "", "", 400, `limit 1001`},
		{"search limit not int", "GET", "/indexes/books/search?q=go&limit=x", "", "", 400, `not an integer`},
		{"search negative from", "GET", "/indexes/books/search?q=go&from=-1", "", "", 400, `from -1`},
		{"search window", "GET", "/indexes/books/search?q=go&from=9991", "", "", 400, `from+limit <= 10000`},
		{"search unknown index", "GET", "/indexes/films/search?q=go", "", "", 404, `{"error":"index not found"}`},
		{"search invalid index", "GET", "/indexes/Films/search?q=go", "", "", 400, `invalid index name`},
		{"index stats", "GET", "/indexes/books", "", "", 200, `{"documentCount":3,"index":"books","termCount":42}`},
		{"index stats unknown", "GET", "/indexes/films", "", "", 404, `{"error":"index not found"}`},
		{"index stats invalid", "GET", "/indexes/a.b", "", "", 400, `invalid index name`},
		{"term", "GET", "/indexes/books/terms/_all/GO", "", "", 200, `{"postings":7,"chunks":1}`},
		{"term not found", "GET", "/indexes/books/terms/title/go", "", "", 404, `{"error":"term not found"}`},
		{"analyze", "GET", "/indexes/books/analyze?field=title&text=Don't+panic,+3.14!", "", "", 200, `{"tokens":["don't","panic","3.14"]}`},
		{"analyze empty", "GET", "/indexes/books/analyze?text=", "", "", 200, `{"tokens":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.method, tt.path, tt.ctype, tt.body)
			if r.code != tt.code {
				t.Fatalf("code %d, want %d: %s", r.code, tt.code, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			if strings.HasPrefix(tt.want, "{") {
				if got := strings.TrimSpace(r.body); got != tt.want {
					t.Fatalf("body\n%s\nwant\n%s", got, tt.want)
				}
			} else if !strings.Contains(r.body, tt.want) {
				t.Fatalf("body %s does not contain %s", r.body, tt.want)
			}
			if tt.code >= 400 {
				var eb struct{ Error string }
				if err := json.Unmarshal([]byte(r.body), &eb); err != nil || eb.Error == "" {
					t.Fatalf("not an error JSON: %s", r.body)
				}
			}
			if tt.code == 202 {
				var b bulkResponse
				if err := json.Unmarshal([]byte(r.body), &b); err != nil {
					t.Fatal(err)
				}
				if !bulkop.ValidID(b.OperationID) || b.Index != "books" || r.header.Get("Location") != "/bulk-operations/"+b.OperationID {
					t.Fatalf("202 %+v, Location %q", b, r.header.Get("Location"))
				}
			}
		})
	}
	// Rejected documents are counted; nothing of the rejected requests was produced.
	if got := testutil.ToFloat64(e.api.m.rejected); got != 9+4+1+1+1 {
		t.Errorf("rejected %v", got)
	}
	if got := testutil.ToFloat64(e.api.m.accepted); got != 6 {
		t.Errorf("accepted %v", got)
	}
	if n := len(e.readTopic(t, e.topics.Documents, 6)); n != 6 {
		t.Errorf("%d records on the documents topic, want 6", n)
	}
}

// readTopic reads every record of a topic, expecting at least want.
func (e *env) readTopic(t *testing.T, name string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.seeds...), kgo.ConsumeTopics(name),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	deadline := time.Now().Add(5 * time.Second)
	for len(out) < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		out = append(out, cl.PollFetches(ctx).Records()...)
		cancel()
	}
	// Anything beyond want?
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	out = append(out, cl.PollFetches(ctx).Records()...)
	cancel()
	return out
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func (e *env) post(t *testing.T, body string) bulkResponse {
	t.Helper()
	r := e.do(t, "POST", "/bulk-indexing/books", ndjson, body)
	if r.code != 202 {
		t.Fatalf("code %d: %s", r.code, r.body)
	}
	var b bulkResponse
	if err := json.Unmarshal([]byte(r.body), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) view(t *testing.T, path string) bulkop.View {
	t.Helper()
	r := e.do(t, "GET", path, "", "")
	if r.code != 200 {
		t.Fatalf("%s: code %d: %s", path, r.code, r.body)
	}
	var v bulkop.View
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func (e *env) client(t *testing.T) *kgo.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.seeds...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (e *env) sendProgress(t *testing.T, ms ...progress.Message) {
	t.Helper()
	cl := e.client(t)
	var recs []*kgo.Record
	for _, m := range ms {
		recs = append(recs, &kgo.Record{Topic: e.topics.Progress, Key: []byte(m.Operation), Value: m.Encode()})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestBulkProducesDocuments(t *testing.T) {
	e := newEnv(t, nil)
	body := `{"id":"a/1","title":"First"}` + "\n" + `{"id":42,"n":[1,2]}` + "\n" + `{"title":"x","id":"z"}`
	b := e.post(t, body)
	if b.Documents != 3 || b.Batches != 2 {
		t.Fatalf("%+v", b)
	}
	recs := e.readTopic(t, e.topics.Documents, 3)
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	slices.SortFunc(recs, func(a, b *kgo.Record) int {
		x, _ := strconv.Atoi(header(a, document.HeaderSeq))
		y, _ := strconv.Atoi(header(b, document.HeaderSeq))
		return x - y
	})
	wantIDs := []string{"a/1", "42", "z"}
	wantDocs := []string{`{"id":"a/1","title":"First"}`, `{"id":42,"n":[1,2]}`, `{"title":"x","id":"z"}`}
	part := kgo.StickyKeyPartitioner(nil).ForTopic(e.topics.Documents)
	for i, r := range recs {
		if string(r.Key) != "books/"+wantIDs[i] {
			t.Errorf("record %d key %q", i, r.Key)
		}
		if header(r, document.HeaderOperation) != b.OperationID || header(r, document.HeaderSeq) != strconv.Itoa(i) {
			t.Errorf("record %d headers %+v", i, r.Headers)
		}
		env, err := document.Decode(r.Key, r.Value, 0)
		if err != nil {
			t.Fatal(err)
		}
		if env.Index != "books" || env.ID != wantIDs[i] || string(env.Doc) != wantDocs[i] || env.Delete {
			t.Errorf("record %d envelope %+v", i, env)
		}
		if p := part.Partition(r, 4); int32(p) != r.Partition {
			t.Errorf("record %d on partition %d, murmur2 says %d", i, r.Partition, p)
		}
	}
	// The initial state was published before the documents.
	states := e.readTopic(t, e.topics.BulkOps, 1)
	if len(states) == 0 || string(states[0].Key) != b.OperationID {
		t.Fatalf("no state for %s", b.OperationID)
	}
	var st bulkop.State
	if err := json.Unmarshal(states[0].Value, &st); err != nil || st.Status() != bulkop.Indexing || st.Total() != 3 {
		t.Fatalf("state %s: %v", states[0].Value, err)
	}
}

func TestOperationLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	done := e.post(t, "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n")
	partial := e.post(t, "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n{\"id\":4}\n")
	path := "/bulk-operations/" + done.OperationID

	if v := e.view(t, path); v.Status != bulkop.Indexing || v.TotalBatches != 2 || v.TotalDocuments != 3 || v.CompletedAt != nil {
		t.Fatalf("initial %+v", v)
	}
	// A long poll started now returns once the operation completes.
	var wg sync.WaitGroup
	var waited bulkop.View
	wg.Add(1)
	go func() {
		defer wg.Done()
		waited = e.view(t, path+"?wait=completed&timeout=20s")
	}()

	e.sendProgress(t,
		progress.Message{Operation: done.OperationID, Stage: progress.Indexed, Seqs: progress.Ranges{{0, 2}}},
		progress.Message{Operation: partial.OperationID, Stage: progress.Indexed, Seqs: progress.Ranges{{0, 2}}},
		progress.Message{Operation: partial.OperationID, Stage: progress.Failed, Seqs: progress.Ranges{{3, 3}},
			Errors: []progress.Failure{{Seq: 3, ID: "4", Reason: "poison", Partition: 1, Offset: 9}}},
	)
	if v := e.view(t, path+"?wait=persisting&timeout=20s"); v.Status != bulkop.Persisting || v.IndexedBatches != 2 {
		t.Fatalf("after indexed %+v", v)
	}
	e.sendProgress(t,
		progress.Message{Operation: done.OperationID, Stage: progress.Persisted, Seqs: progress.Ranges{{0, 2}}},
		progress.Message{Operation: done.OperationID, Stage: progress.Persisted, Seqs: progress.Ranges{{0, 2}}}, // duplicate
		progress.Message{Operation: partial.OperationID, Stage: progress.Persisted, Seqs: progress.Ranges{{0, 2}}},
	)
	wg.Wait()
	if waited.Status != bulkop.Completed || waited.PersistedBatches != 2 || waited.CompletedAt == nil {
		t.Fatalf("waited %+v", waited)
	}
	pv := e.view(t, "/bulk-operations/"+partial.OperationID+"?wait=completed&timeout=20s")
	if pv.Status != bulkop.PartiallyCompleted || pv.FailedBatches != 1 || pv.PersistedBatches != 2 {
		t.Fatalf("partial %+v", pv)
	}
	r := e.do(t, "GET", "/bulk-operations/"+partial.OperationID+"/errors", "", "")
	if want := `{"errors":[{"seq":3,"id":"4","reason":"poison","partition":1,"offset":9}],"failureCount":1}`; r.code != 200 || strings.TrimSpace(r.body) != want {
		t.Fatalf("errors %d %s", r.code, r.body)
	}
	r = e.do(t, "GET", path+"/errors", "", "")
	if r.code != 200 || strings.TrimSpace(r.body) != `{"errors":[],"failureCount":0}` {
		t.Fatalf("errors %d %s", r.code, r.body)
	}

	// Lists, newest first, filtered.
	list := func(q string) []string {
		r := e.do(t, "GET", "/bulk-operations"+q, "", "")
		var l struct{ Operations []bulkop.View }
		if r.code != 200 || json.Unmarshal([]byte(r.body), &l) != nil {
			t.Fatalf("list %s: %d %s", q, r.code, r.body)
		}
		var ids []string
		for _, v := range l.Operations {
			ids = append(ids, v.ID)
		}
		return ids
	}
	if got := list(""); !slices.Equal(got, []string{partial.OperationID, done.OperationID}) {
		t.Errorf("list %v", got)
	}
	if got := list("?status=completed&index=books"); !slices.Equal(got, []string{done.OperationID}) {
		t.Errorf("list completed %v", got)
	}
	if got := list("?limit=1"); !slices.Equal(got, []string{partial.OperationID}) {
		t.Errorf("list limit %v", got)
	}
	if got := list("?index=films"); len(got) != 0 {
		t.Errorf("list films %v", got)
	}

	// The wait times out on an operation that does not finish, answering its view.
	third := e.post(t, `{"id":9}`)
	start := time.Now()
	if v := e.view(t, "/bulk-operations/"+third.OperationID+"?wait=completed&timeout=200ms"); v.Status != bulkop.Indexing {
		t.Fatalf("timed-out wait %+v", v)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("wait returned after %s", d)
	}

	// Metrics: lint, bounded labels.
	problems, err := testutil.GatherAndLint(e.reg)
	if err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
	mfs, _ := e.reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.HasPrefix(l.GetValue(), "op_") || l.GetValue() == "books" {
					t.Errorf("%s has label %s=%s", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(`
# HELP termflow_ingest_operations Bulk operations known to the tracker, by status.
# TYPE termflow_ingest_operations gauge
termflow_ingest_operations{status="completed"} 1
termflow_ingest_operations{status="failed"} 0
termflow_ingest_operations{status="indexing"} 1
termflow_ingest_operations{status="partially_completed"} 1
termflow_ingest_operations{status="persisting"} 0
`), "termflow_ingest_operations"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(e.api.m.requests.WithLabelValues("POST /bulk-indexing/{index}", "202")); got != 3 {
		t.Errorf("requests_total{202} = %v", got)
	}
}

func TestBrokerDown(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ProduceTimeout = 300 * time.Millisecond })
	e.cluster.Close()
	r := e.do(t, "POST", "/bulk-indexing/books", "", `[{"id":1}]`)
	if r.code != 503 || r.header.Get("Retry-After") != "5" {
		t.Fatalf("code %d Retry-After %q: %s", r.code, r.header.Get("Retry-After"), r.body)
	}
	var b errorBody
	if err := json.Unmarshal([]byte(r.body), &b); err != nil || b.Error == "" || !bulkop.ValidID(b.OperationID) {
		t.Fatalf("body %s", r.body)
	}
	v := e.view(t, "/bulk-operations/"+b.OperationID)
	if v.Status != bulkop.Failed || v.CompletedAt == nil {
		t.Fatalf("view %+v", v)
	}
	st, _ := e.tracker.State(b.OperationID)
	if !strings.Contains(st.AbortReason(), "publish operation state") && !strings.Contains(st.AbortReason(), "kafka did not acknowledge") {
		t.Fatalf("abort reason %q", st.AbortReason())
	}
}

// TestDocumentsNotAcknowledged: the state is published but Kafka refuses
// the documents; the answer is 503 and the operation is failed.
func TestDocumentsNotAcknowledged(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ProduceTimeout = time.Second })
	td, err := kadm.NewClient(e.client(t)).ListTopics(context.Background(), e.topics.Documents)
	if err != nil {
		t.Fatal(err)
	}
	docsID := td[e.topics.Documents].ID // produce v13+ names topics by id
	e.cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		if len(pr.Topics) == 0 || (pr.Topics[0].Topic != e.topics.Documents && pr.Topics[0].TopicID != docsID) {
			return nil, nil, false
		}
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range pr.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.InvalidRecord.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	r := e.do(t, "POST", "/bulk-indexing/books", "", `[{"id":1},{"id":2}]`)
	if r.code != 503 || r.header.Get("Retry-After") != "5" {
		t.Fatalf("code %d: %s", r.code, r.body)
	}
	var b errorBody
	if err := json.Unmarshal([]byte(r.body), &b); err != nil || !strings.Contains(b.Error, "kafka did not acknowledge 2 of 2 documents") {
		t.Fatalf("body %s", r.body)
	}
	v := e.view(t, "/bulk-operations/"+b.OperationID+"?wait=completed&timeout=1s")
	if v.Status != bulkop.Failed {
		t.Fatalf("view %+v", v)
	}
	// The failed state reaches bulk-ops.
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs := e.readTopic(t, e.topics.BulkOps, 2)
		var st bulkop.State
		if n := len(recs); n > 0 && json.Unmarshal(recs[n-1].Value, &st) == nil && st.Status() == bulkop.Failed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("failed state not published: %d records", len(recs))
		}
	}
	if got := testutil.ToFloat64(e.api.m.accepted); got != 0 {
		t.Errorf("accepted %v", got)
	}
}

func TestTooManyInFlight(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBufferedRecords = 4 })
	if !e.api.inflight.TryAcquire(3) {
		t.Fatal("acquire")
	}
	r := e.do(t, "POST", "/bulk-indexing/books", "", `[{"id":1},{"id":2}]`)
	if r.code != 429 || r.header.Get("Retry-After") == "" {
		t.Fatalf("code %d: %s", r.code, r.body)
	}
	e.api.inflight.Release(3)
	// A request larger than the limit goes through alone.
	if r := e.do(t, "POST", "/bulk-indexing/books", "", `[{"id":1},{"id":2},{"id":3},{"id":4},{"id":5}]`); r.code != 202 {
		t.Fatalf("code %d: %s", r.code, r.body)
	}
}

func TestCheckItem(t *testing.T) {
	tests := []struct{ in, id, err string }{
		{`{"id":"x"}`, "x", ""},
		{`{"id":-1.5e3}`, "-1.5e3", ""},
		{`{"a":{"id":1},"id" : "top"}`, "top", ""},
		{`{"a":{"id":1}}`, "", `missing "id"`},
		{`{"id":null}`, "", "string or a number"},
		{`{"id":[1]}`, "", "string or a number"},
		{`{"id":""}`, "", "empty id"},
		{`{"a":[{"x":1,"x":2}],"id":1}`, "", `duplicate key "x"`},
		{`{"a":[{"x":1},{"x":2}],"id":1}`, "1", ""},
		{`{"id":1}}`, "", "trailing data"},
		{strings.Repeat(`{"a":`, 1100) + "1" + strings.Repeat("}", 1100), "", "nested deeper"},
		// Deletes: only "id" and "_delete": true.
		{`{"id":"x","_delete":true}`, "x (delete)", ""},
		{`{"_delete" : true, "id": 7}`, "7 (delete)", ""},
		{`{"id":"x","_delete":false}`, "", `"_delete" must be true`},
		{`{"id":"x","_delete":"yes"}`, "", `"_delete" must be true`},
		{`{"id":"x","_delete":true,"title":"t"}`, "", `a delete ("_delete": true) takes only "id", found "title"`},
		{`{"_delete":true}`, "", `missing "id"`},
		{`{"id":"x","a":{"_delete":true}}`, "x", ""}, // only the top level marks a delete
	}
	for _, tt := range tests {
		it, err := checkItem([]byte(tt.in), 1<<20)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%.40s: err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		got := it.id
		if it.src == nil {
			got += " (delete)"
		} else if string(it.src) != tt.in {
			t.Errorf("%s: source %s", tt.in, it.src)
		}
		if err != nil || got != tt.id {
			t.Errorf("%s: id %q err %v", tt.in, got, err)
		}
	}
}

func TestCheckReplacement(t *testing.T) {
	tests := []struct{ in, id, want, err string }{
		{`{"id":"x","t":1}`, "x", `{"id":"x","t":1}`, ""},
		{`{"id":42}`, "42", `{"id":42}`, ""},
		{`{"t":1}`, "x", `{"id":"x","t":1}`, ""},
		{`{ "t" : [1] }`, "a/<b>", `{"id":"a/<b>","t" : [1] }`, ""},
		{`{}`, "x", `{"id":"x"}`, ""},
		{` { } `, "é", `{"id":"é"}`, ""},
		{`{"id":"y"}`, "x", "", `"id" "y" in the body differs from the document id "x" in the path`},
		{`{"id":4.2e1}`, "42", "", `differs`},
		{`{"id":null}`, "x", "", "string or a number"},
		{`{"_delete":true}`, "x", "", `"_delete" is not allowed in a document: DELETE the document instead`},
		{`[1]`, "x", "", "must be a JSON object"},
		{`{"t":1,"t":2}`, "x", "", `duplicate key "t"`},
		{``, "x", "", "empty body"},
		{`{"t":"` + strings.Repeat("a", 40) + `"}`, "x", "", "with its id is over the 50-byte limit"},
	}
	for _, tt := range tests {
		got, err := checkReplacement([]byte(strings.TrimSpace(tt.in)), tt.id, 50)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: got %s, %v; want %s", tt.in, got, err, tt.want)
			continue
		}
		if _, err := checkItem(got, 50); err != nil {
			t.Errorf("%s: stored document %s invalid: %v", tt.in, got, err)
		}
	}
}
