package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/termflow/termflow/pkg/bulkop"
	"github.com/termflow/termflow/pkg/document"
	"github.com/termflow/termflow/pkg/progress"
	"github.com/termflow/termflow/services/ingest/internal/tracker"
)

// stallDocuments holds every produce request to the documents topic until
// the returned function is called (or the cluster closes). Operation
// states go through another client, on another connection, and pass.
func (e *env) stallDocuments(t *testing.T) (release func()) {
	t.Helper()
	docsID := e.documentsTopicID(t)
	gate := make(chan struct{})
	e.cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		if producesTo(req.(*kmsg.ProduceRequest), e.topics.Documents, docsID) {
			e.cluster.SleepControl(func() { <-gate })
		}
		return nil, nil, false
	})
	return sync.OnceFunc(func() { close(gate) })
}

func (e *env) documentsTopicID(t *testing.T) [16]byte {
	t.Helper()
	td, err := kadm.NewClient(e.client(t)).ListTopics(context.Background(), e.topics.Documents)
	if err != nil {
		t.Fatal(err)
	}
	return td[e.topics.Documents].ID // produce v13+ names topics by id
}

func producesTo(pr *kmsg.ProduceRequest, name string, id [16]byte) bool {
	for _, rt := range pr.Topics {
		if rt.Topic == name || rt.TopicID == id {
			return true
		}
	}
	return false
}

// states reads the published states of an operation, oldest first.
func (e *env) states(t *testing.T, id string, want int) []*bulkop.State {
	t.Helper()
	var out []*bulkop.State
	for _, r := range e.readTopic(t, e.topics.BulkOps, want) {
		if string(r.Key) != id {
			continue
		}
		s := new(bulkop.State)
		if err := json.Unmarshal(r.Value, s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// waitPublished waits until the last published state of an operation
// satisfies ok.
func (e *env) waitPublished(t *testing.T, id string, ok func(*bulkop.State) bool) *bulkop.State {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if sts := e.states(t, id, 1); len(sts) > 0 && ok(sts[len(sts)-1]) {
			return sts[len(sts)-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("operation %s: no such state published", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// doAsync is do for another goroutine: a transport error is a response
// with code 0 and the error as body.
func (e *env) doAsync(method, path, body string) response {
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		return response{body: err.Error()}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

func decodeError(t *testing.T, r response) errorBody {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal([]byte(r.body), &b); err != nil || b.Error == "" {
		t.Fatalf("not an error body: %s", r.body)
	}
	return b
}

// waitOperations waits until the tracker knows n operations.
func waitOperations(t *testing.T, tr *tracker.Tracker, n int) []bulkop.View {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if l := tr.List(tracker.Filter{}); len(l) >= n {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d operations", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAcceptedBeforeAnswer: the state is published twice, first not
// accepted (before any document), then accepted, before the 202.
func TestAcceptedBeforeAnswer(t *testing.T) {
	e := newEnv(t, nil)
	b := e.post(t, "{\"id\":1}\n{\"id\":2}\n")
	// The tracker may publish the state again (its flush), so the check is
	// on the order: the first state is not accepted, an accepted one was
	// published before the 202 arrived, and acceptance is never withdrawn.
	sts := e.states(t, b.OperationID, 2)
	if len(sts) < 2 || sts[0].Accepted() {
		t.Fatalf("published states %d (first accepted: %v), want not accepted then accepted", len(sts), len(sts) > 0 && sts[0].Accepted())
	}
	accepted := false
	for i, st := range sts {
		if accepted && !st.Accepted() {
			t.Fatalf("state %d of %d withdraws acceptance", i+1, len(sts))
		}
		accepted = accepted || st.Accepted()
	}
	if !accepted {
		t.Fatalf("no accepted state among %d published before the 202", len(sts))
	}
	// Progress completes it only because it was accepted.
	e.sendProgress(t, progress.Message{Operation: b.OperationID, Stage: progress.Persisted, Seqs: progress.Ranges{{0, 1}}})
	if v := e.view(t, "/bulk-operations/"+b.OperationID+"?wait=completed&timeout=10s"); v.Status != bulkop.Completed {
		t.Fatalf("view %+v", v)
	}
}

func TestDocumentEndpoints(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name, method, path, body string
		code                     int
		want                     string // error substring, or the envelope's doc ("" for a delete)
	}{
		{"put with id", "PUT", "/indexes/books/documents/42", `{"id":42,"title":"Dune"}`, 202, `{"id":42,"title":"Dune"}`},
		{"put without id", "PUT", "/indexes/books/documents/b7", ` {"title":"Emma"} `, 202, `{"id":"b7","title":"Emma"}`},
		{"put escaped id", "PUT", "/indexes/books/documents/a%2F1", `{"t":1}`, 202, `{"id":"a/1","t":1}`},
		{"delete", "DELETE", "/indexes/books/documents/42", ``, 202, ``},
		{"delete escaped id", "DELETE", "/indexes/books/documents/a%2F1", `ignored`, 202, ``},
		{"put id mismatch", "PUT", "/indexes/books/documents/42", `{"id":"43"}`, 400, `"id" "43" in the body differs from the document id "42" in the path`},
		{"put not an object", "PUT", "/indexes/books/documents/42", `[{"id":42}]`, 400, `must be a JSON object`},
		{"put invalid JSON", "PUT", "/indexes/books/documents/42", `{"t":`, 400, `invalid JSON`},
		{"put empty", "PUT", "/indexes/books/documents/42", ``, 400, `empty body`},
		{"put _delete", "PUT", "/indexes/books/documents/42", `{"_delete":true}`, 400, `DELETE the document instead`},
		{"put too large", "PUT", "/indexes/books/documents/42", `{"t":"` + strings.Repeat("x", 300) + `"}`, 413, `document over 256 bytes`},
		{"put invalid index", "PUT", "/indexes/Books/documents/42", `{}`, 400, `invalid index name`},
		{"delete invalid id", "DELETE", "/indexes/books/documents/a%00b", ``, 400, `invalid document id: id contains a NUL byte`},
	}
	var ops []string
	var wantDocs []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.method, tt.path, "application/json", tt.body)
			if r.code != tt.code {
				t.Fatalf("code %d, want %d: %s", r.code, tt.code, r.body)
			}
			if tt.code != 202 {
				if b := decodeError(t, r); !strings.Contains(b.Error, tt.want) {
					t.Fatalf("error %q, want %q", b.Error, tt.want)
				}
				return
			}
			var b bulkResponse
			if err := json.Unmarshal([]byte(r.body), &b); err != nil {
				t.Fatal(err)
			}
			wantDeletes := 0
			if tt.method == "DELETE" {
				wantDeletes = 1
			}
			if b.Index != "books" || b.Documents != 1 || b.Deletes != wantDeletes || b.Batches != 1 || b.Status != bulkop.Indexing ||
				r.header.Get("Location") != "/bulk-operations/"+b.OperationID {
				t.Fatalf("202 %+v, Location %q", b, r.header.Get("Location"))
			}
			ops = append(ops, b.OperationID)
			wantDocs = append(wantDocs, tt.want)
		})
	}
	// One record per operation, with the operation's headers.
	recs := e.readTopic(t, e.topics.Documents, len(ops))
	if len(recs) != len(ops) {
		t.Fatalf("%d records, want %d", len(recs), len(ops))
	}
	for _, r := range recs {
		i := slices.Index(ops, header(r, document.HeaderOperation))
		if i < 0 || header(r, document.HeaderSeq) != "0" {
			t.Fatalf("record headers %+v", r.Headers)
		}
		env, err := document.Decode(r.Key, r.Value, 0)
		if err != nil {
			t.Fatal(err)
		}
		if env.Delete != (wantDocs[i] == "") || string(env.Doc) != wantDocs[i] || string(r.Key) != "books/"+env.ID {
			t.Errorf("operation %d: key %s envelope %s", i, r.Key, r.Value)
		}
	}
	// Each is tracked to completed like a bulk operation.
	for _, id := range ops {
		e.sendProgress(t, progress.Message{Operation: id, Stage: progress.Indexed, Seqs: progress.Ranges{{0, 0}}},
			progress.Message{Operation: id, Stage: progress.Persisted, Seqs: progress.Ranges{{0, 0}}})
	}
	for _, id := range ops {
		if v := e.view(t, "/bulk-operations/"+id+"?wait=completed&timeout=10s"); v.Status != bulkop.Completed || v.TotalDocuments != 1 {
			t.Errorf("operation %s: %+v", id, v)
		}
	}
}

func TestBulkDeletes(t *testing.T) {
	e := newEnv(t, nil)
	bodies := []struct{ ctype, body string }{
		{"", `[{"id":1,"t":"a"},{"id":"x","_delete":true},{"_delete":true,"id":2}]`},
		{ndjson, "{\"id\":1,\"t\":\"a\"}\n{\"id\":\"x\",\"_delete\":true}\n{\"_delete\":true,\"id\":2}\n"},
	}
	for _, b := range bodies {
		r := e.do(t, "POST", "/bulk-indexing/books", b.ctype, b.body)
		if r.code != 202 || !strings.Contains(r.body, `"documents":3,"deletes":2,`) {
			t.Fatalf("%q: %d %s", b.ctype, r.code, r.body)
		}
	}
	recs := e.readTopic(t, e.topics.Documents, 6)
	if len(recs) != 6 {
		t.Fatalf("%d records", len(recs))
	}
	for _, r := range recs {
		env, err := document.Decode(r.Key, r.Value, 0)
		if err != nil {
			t.Fatal(err)
		}
		seq, _ := strconv.Atoi(header(r, document.HeaderSeq))
		if wantDelete := seq > 0; env.Delete != wantDelete || (env.Delete && env.Doc != nil) {
			t.Errorf("seq %d: %s", seq, r.Value)
		}
	}
	// Invalid deletes are per-line errors; nothing of the request is produced.
	r := e.do(t, "POST", "/bulk-indexing/books", ndjson,
		"{\"id\":1}\n{\"id\":2,\"_delete\":true,\"title\":\"x\"}\n{\"id\":3,\"_delete\":false}\n{\"_delete\":true}\n")
	want := `{"error":"3 invalid documents","items":[` +
		`{"line":2,"error":"a delete (\"_delete\": true) takes only \"id\", found \"title\""},` +
		`{"line":3,"error":"\"_delete\" must be true (it marks a delete; a document cannot have that field)"},` +
		`{"line":4,"error":"missing \"id\""}]}`
	if r.code != 400 || strings.TrimSpace(r.body) != want {
		t.Fatalf("code %d\n%s\nwant\n%s", r.code, r.body, want)
	}
}

// TestEnvelopeTooLarge: a document under the limit whose record (the
// envelope) is over it is refused at ingest, not dead-lettered later.
func TestEnvelopeTooLarge(t *testing.T) {
	e := newEnv(t, nil)                                       // max document bytes 256
	fits := `{"id":1,"t":"` + strings.Repeat("a", 200) + `"}` // 215 bytes, its envelope 254
	over := `{"id":2,"t":"` + strings.Repeat("a", 230) + `"}` // 245 bytes, its envelope 284
	r := e.do(t, "POST", "/bulk-indexing/books", ndjson, fits+"\n\n"+over+"\n")
	want := `{"error":"1 invalid documents","items":[{"line":3,"error":"document of 284 bytes in its envelope is over the 256-byte limit"}]}`
	if r.code != 400 || strings.TrimSpace(r.body) != want {
		t.Fatalf("code %d\n%s\nwant\n%s", r.code, r.body, want)
	}
	r = e.do(t, "PUT", "/indexes/books/documents/2", "", over)
	if r.code != 400 || decodeError(t, r).Error != "document of 284 bytes in its envelope is over the 256-byte limit" {
		t.Fatalf("PUT: %d %s", r.code, r.body)
	}
	if l := e.tracker.List(tracker.Filter{}); len(l) != 0 {
		t.Fatalf("operations created: %+v", l)
	}
	if r := e.do(t, "POST", "/bulk-indexing/books", ndjson, fits); r.code != 202 {
		t.Fatalf("code %d: %s", r.code, r.body)
	}
}

// TestProduceTimeout: Kafka takes the documents' produce request but does
// not answer within the produce timeout: 503 with Retry-After, and the
// operation is failed even though the documents are acknowledged later.
func TestProduceTimeout(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ProduceTimeout = 500 * time.Millisecond })
	release := e.stallDocuments(t)
	defer release()
	start := time.Now()
	r := e.do(t, "POST", "/bulk-indexing/books", "", `[{"id":1},{"id":2}]`)
	if r.code != 503 || r.header.Get("Retry-After") != "5" {
		t.Fatalf("code %d Retry-After %q: %s", r.code, r.header.Get("Retry-After"), r.body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("answered after %s", d)
	}
	b := decodeError(t, r)
	if b.Error != "kafka did not acknowledge the 2 documents within 500ms" || !bulkop.ValidID(b.OperationID) {
		t.Fatalf("body %s", r.body)
	}
	release()
	v := e.view(t, "/bulk-operations/"+b.OperationID)
	if v.Status != bulkop.Failed || v.AbortReason != b.Error {
		t.Fatalf("view %+v", v)
	}
	// Progress of documents that did reach Kafka does not make it a success.
	e.sendProgress(t, progress.Message{Operation: b.OperationID, Stage: progress.Persisted, Seqs: progress.Ranges{{0, 1}}})
	st := e.waitPublished(t, b.OperationID, func(s *bulkop.State) bool { return s.PersistedBatches() == 1 })
	if st.Status() != bulkop.Failed || st.Accepted() {
		t.Fatalf("published %+v accepted=%v", st.View(), st.Accepted())
	}
	if got := testutil.ToFloat64(e.api.m.accepted); got != 0 {
		t.Errorf("accepted %v", got)
	}
}

// TestProduceRejected: the broker refuses the documents (kfake fault): 503,
// and every refused document is listed with no documents-topic location.
func TestProduceRejected(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ProduceTimeout = 2 * time.Second })
	f := e.cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: e.topics.Documents, Err: kerr.InvalidRecord, Count: -1})
	defer f.Remove()
	r := e.do(t, "POST", "/bulk-indexing/books", ndjson, "{\"id\":\"a\"}\n{\"id\":\"b\"}\n")
	if r.code != 503 || r.header.Get("Retry-After") != "5" {
		t.Fatalf("code %d: %s", r.code, r.body)
	}
	b := decodeError(t, r)
	if !strings.HasPrefix(b.Error, "kafka did not acknowledge 2 of 2 documents: INVALID_RECORD") {
		t.Fatalf("error %q", b.Error)
	}
	e.waitPublished(t, b.OperationID, func(s *bulkop.State) bool { return s.Status() == bulkop.Failed && s.FailureCount() == 2 })
	r = e.do(t, "GET", "/bulk-operations/"+b.OperationID+"/errors", "", "")
	var errs struct{ Errors []map[string]any }
	if err := json.Unmarshal([]byte(r.body), &errs); err != nil || r.code != 200 || len(errs.Errors) != 2 {
		t.Fatalf("errors %d %s", r.code, r.body)
	}
	for i, fe := range errs.Errors {
		if fe["seq"] != float64(i) || fe["id"] != []string{"a", "b"}[i] || !strings.Contains(fe["reason"].(string), "INVALID_RECORD") {
			t.Errorf("error %d: %v", i, fe)
		}
		if _, ok := fe["partition"]; ok {
			t.Errorf("error %d has a partition: %v", i, fe)
		}
		if _, ok := fe["offset"]; ok {
			t.Errorf("error %d has an offset: %v", i, fe)
		}
	}
}

// TestOperationErrors: every failed document with its seq, id and reason;
// partition and offset only for dead-lettered records (partition 0 and
// offset 0 are real locations); the count and the abort reason.
func TestOperationErrors(t *testing.T) {
	e := newEnv(t, nil)
	b := e.post(t, "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n")
	e.sendProgress(t,
		progress.Message{Operation: b.OperationID, Stage: progress.Failed, Seqs: progress.Ranges{{0, 0}},
			Errors: []progress.Failure{{Seq: 0, ID: "a", Reason: "invalid document JSON", Partition: 0, Offset: 0}}},
		progress.Message{Operation: b.OperationID, Stage: progress.Failed, Seqs: progress.Ranges{{2, 2}}}, // no reason given
	)
	path := "/bulk-operations/" + b.OperationID
	deadline := time.Now().Add(10 * time.Second)
	for e.view(t, path).FailedBatches < 2 {
		if time.Now().After(deadline) {
			t.Fatal("failures not applied")
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := `{"errors":[{"seq":0,"id":"a","reason":"invalid document JSON","partition":0,"offset":0},` +
		`{"seq":2,"reason":"unknown reason"}],"failureCount":2}`
	if r := e.do(t, "GET", path+"/errors", "", ""); r.code != 200 || strings.TrimSpace(r.body) != want {
		t.Fatalf("errors %d\n%s\nwant\n%s", r.code, r.body, want)
	}
	e.tracker.Abort(b.OperationID, "ingest restarted before the request was acknowledged")
	want = strings.TrimSuffix(want, "}") + `,"abortReason":"ingest restarted before the request was acknowledged"}`
	if r := e.do(t, "GET", path+"/errors", "", ""); r.code != 200 || strings.TrimSpace(r.body) != want {
		t.Fatalf("errors %d\n%s\nwant\n%s", r.code, r.body, want)
	}
}

// TestBufferFull: 429 with Retry-After when the documents producer has no
// room, both when the API's own accounting says so (nothing is created)
// and when kgo refuses records with ErrMaxBuffered (the operation fails).
func TestBufferFull(t *testing.T) {
	t.Run("bytes", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.MaxBufferedBytes = 1000 })
		if !e.api.inflightB.TryAcquire(950) {
			t.Fatal("acquire")
		}
		r := e.do(t, "POST", "/bulk-indexing/books", "", `[{"id":1,"t":"some text"}]`)
		if r.code != 429 || r.header.Get("Retry-After") != "1" || decodeError(t, r).OperationID != "" {
			t.Fatalf("code %d: %s", r.code, r.body)
		}
		if l := e.tracker.List(tracker.Filter{}); len(l) != 0 {
			t.Fatalf("operations created: %+v", l)
		}
		e.api.inflightB.Release(950)
		// A request larger than the buffer goes through alone.
		big := `[{"id":1,"t":"` + strings.Repeat("a", 200) + `"},{"id":2,"t":"` + strings.Repeat("b", 200) + `"},` +
			`{"id":3,"t":"` + strings.Repeat("c", 200) + `"},{"id":4,"t":"` + strings.Repeat("d", 200) + `"},` +
			`{"id":5,"t":"` + strings.Repeat("e", 200) + `"}]`
		if r := e.do(t, "POST", "/bulk-indexing/books", "", big); r.code != 202 {
			t.Fatalf("code %d: %s", r.code, r.body)
		}
	})
	t.Run("ErrMaxBuffered", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.MaxBufferedRecords = 4; c.ProduceTimeout = 5 * time.Second })
		release := e.stallDocuments(t)
		defer release()
		// Another producer on the same client fills its buffer, unknown to
		// the API's accounting.
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			e.api.producer.Produce(context.Background(), &kgo.Record{Topic: e.topics.Documents,
				Key: document.Key("books", strconv.Itoa(100+i)), Value: []byte(`{"v":1,"index":"books","id":"x","doc":{}}`)},
				func(*kgo.Record, error) { wg.Done() })
		}
		r := e.do(t, "POST", "/bulk-indexing/books", "", `[{"id":1},{"id":2}]`)
		if r.code != 429 || r.header.Get("Retry-After") != "1" {
			t.Fatalf("code %d: %s", r.code, r.body)
		}
		b := decodeError(t, r)
		if !strings.HasPrefix(b.Error, "producer buffer full: kafka did not take 2 of 2 documents") {
			t.Fatalf("error %q", b.Error)
		}
		if v := e.view(t, "/bulk-operations/"+b.OperationID); v.Status != bulkop.Failed || v.FailedBatches != 1 {
			t.Fatalf("view %+v", v)
		}
		release()
		wg.Wait()
		// Room again.
		if r := e.do(t, "POST", "/bulk-indexing/books", "", `[{"id":1},{"id":2}]`); r.code != 202 {
			t.Fatalf("code %d: %s", r.code, r.body)
		}
	})
}

// TestDrain: once Drain starts, new write requests get 503 while the one
// in hand finishes with its 202; reads are still served.
func TestDrain(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ProduceTimeout = 10 * time.Second })
	release := e.stallDocuments(t)
	defer release()
	inHand := make(chan response, 1)
	go func() { inHand <- e.doAsync("POST", "/bulk-indexing/books", `[{"id":1}]`) }()
	op := waitOperations(t, e.tracker, 1)[0]

	drained := make(chan error, 1)
	go func() { drained <- e.api.Drain(context.Background()) }()
	for e.api.Accepting() == nil {
		time.Sleep(time.Millisecond)
	}
	for _, req := range []struct{ method, path, body string }{
		{"POST", "/bulk-indexing/books", `[{"id":2}]`},
		{"PUT", "/indexes/books/documents/2", `{}`},
		{"DELETE", "/indexes/books/documents/2", ``},
	} {
		r := e.do(t, req.method, req.path, "", req.body)
		if r.code != 503 || r.header.Get("Retry-After") != "5" || !strings.Contains(r.body, "shutting down") {
			t.Fatalf("%s %s while draining: %d %s", req.method, req.path, r.code, r.body)
		}
	}
	if v := e.view(t, "/bulk-operations/"+op.ID); v.Status != bulkop.Indexing {
		t.Fatalf("view %+v", v)
	}
	select {
	case err := <-drained:
		t.Fatalf("drained with a request in hand: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	if r := <-inHand; r.code != 202 {
		t.Fatalf("in-hand request: %d %s", r.code, r.body)
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	// A drain that cannot finish in time says so.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e.api.writes.Add(1)
	defer e.api.writes.Done()
	if err := e.api.Drain(ctx); err == nil {
		t.Fatal("drain with a request in hand and a done context returned nil")
	}
}

// TestCrashMidRequest: the process dies after creating the operation and
// before answering (here: its tracker is stopped and another one starts on
// the same topics while the documents are still in flight). The next
// tracker fails the operation, never completes it.
func TestCrashMidRequest(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ProduceTimeout = 10 * time.Second })
	release := e.stallDocuments(t)
	defer release()
	go e.doAsync("POST", "/bulk-indexing/books", `[{"id":1},{"id":2},{"id":3}]`)
	op := waitOperations(t, e.tracker, 1)[0]
	e.stopTracker()

	next, _ := e.startTracker(t, prometheus.NewRegistry())
	v, ok := next.View(op.ID)
	if !ok || v.Status != bulkop.Failed || v.AbortReason != tracker.RestartReason {
		t.Fatalf("after restart: %+v", v)
	}
	// The documents reach Kafka after all and are indexed and persisted;
	// the operation still claims failure.
	e.sendProgress(t, progress.Message{Operation: op.ID, Stage: progress.Persisted, Seqs: progress.Ranges{{0, 2}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		v, _ := next.View(op.ID)
		if v.PersistedBatches == 2 {
			if v.Status != bulkop.Failed {
				t.Fatalf("after progress: %+v", v)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatal("progress not applied")
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := e.waitPublished(t, op.ID, func(s *bulkop.State) bool { return s.AbortReason() == tracker.RestartReason })
	if st.Accepted() {
		t.Fatal("published state accepted")
	}
}
