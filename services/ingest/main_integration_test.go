//go:build integration

// Tests of the ingest binary against the real Kafka broker and FerretDB
// that `make test` starts (TERMFLOW_TEST_KAFKA_BROKERS,
// TERMFLOW_TEST_MONGO_URI): a kill -9 in the middle of a request, and a
// SIGTERM with a request in hand.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/bulkop"
	"github.com/termflow/termflow/pkg/document"
	"github.com/termflow/termflow/pkg/topic"
	"github.com/termflow/termflow/services/ingest/internal/tracker"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "termflow-ingest-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "termflow-ingest")
	cmd := exec.Command("go", "build", "-o", binary, ".")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build ingest:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ingest is one ingest process on its own topics and database.
type ingest struct {
	t       *testing.T
	env     []string
	addr    string
	brokers string
	bulkOps string
	docs    string
	log     string
	cmd     *exec.Cmd
	exited  chan error
}

func newIngest(t *testing.T, extraEnv ...string) *ingest {
	brokers, mongo := os.Getenv("TERMFLOW_TEST_KAFKA_BROKERS"), os.Getenv("TERMFLOW_TEST_MONGO_URI")
	if brokers == "" || mongo == "" {
		t.Fatal("TERMFLOW_TEST_KAFKA_BROKERS and TERMFLOW_TEST_MONGO_URI must be set: run `make test`, which starts the real broker and FerretDB")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	id := fmt.Sprintf("ingest%d", time.Now().UnixNano()%1e12)
	in := &ingest{t: t, addr: addr, brokers: brokers, bulkOps: id + ".bulk-ops", docs: id + ".documents",
		log: filepath.Join(t.TempDir(), "ingest.log")}
	in.env = append(os.Environ(),
		"KAFKA_BROKERS="+brokers, "MONGO_URI="+mongo, "TERMFLOW_MONGO_DB="+id, "TERMFLOW_HTTP_ADDR="+addr,
		"TERMFLOW_TOPIC_DOCUMENTS="+in.docs, "TERMFLOW_TOPIC_DIRTY_TERMS="+id+".dirty-terms",
		"TERMFLOW_TOPIC_BULK_OPS="+in.bulkOps, "TERMFLOW_TOPIC_PROGRESS="+id+".progress",
		"TERMFLOW_TOPIC_DEAD_LETTER="+id+".dlq", "TERMFLOW_DOCUMENTS_PARTITIONS=4",
		"TERMFLOW_INGEST_GROUP="+id+"-ingest", "TERMFLOW_LOG_LEVEL=info", "TERMFLOW_AUTH=off",
		// A small buffer makes a large request stream through it slowly,
		// which leaves time to act while it is in hand.
		"TERMFLOW_MAX_BUFFERED_RECORDS=100")
	in.env = append(in.env, extraEnv...)
	// Create the topics first: a topic the broker just created can be
	// briefly invisible to the next metadata request, which makes the
	// start-up check of pkg/topic fail now and then; retrying it here keeps
	// these tests about what they test.
	tc := topic.Defaults()
	tc.Documents, tc.DirtyTerms, tc.BulkOps, tc.Progress, tc.DeadLetter = in.docs, id+".dirty-terms", in.bulkOps, id+".progress", id+".dlq"
	tc.DocumentsPartitions = 4
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		err := topic.EnsureAll(ctx, tc, kgo.SeedBrokers(brokers))
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("create topics: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Cleanup(func() {
		if in.cmd != nil {
			_ = in.cmd.Process.Kill()
			<-in.exited
		}
	})
	return in
}

func (in *ingest) start() {
	in.t.Helper()
	logf, err := os.OpenFile(in.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		in.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(binary)
	cmd.Env, cmd.Stdout, cmd.Stderr = in.env, logf, logf
	if err := cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	in.cmd, in.exited = cmd, make(chan error, 1)
	go func() { in.exited <- cmd.Wait() }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get("http://" + in.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case exit := <-in.exited:
			in.cmd = nil
			in.t.Fatalf("ingest exited at start-up: %v\n%s", exit, in.logTail())
		default:
		}
		if time.Now().After(deadline) {
			in.t.Fatalf("ingest not ready: %v\n%s", err, in.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// wait waits for the process to exit and returns its error.
func (in *ingest) wait(timeout time.Duration) error {
	in.t.Helper()
	select {
	case err := <-in.exited:
		in.cmd = nil
		return err
	case <-time.After(timeout):
		in.t.Fatalf("ingest did not exit within %s\n%s", timeout, in.logTail())
		return nil
	}
}

func (in *ingest) logTail() string {
	b, _ := os.ReadFile(in.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

type result struct {
	code   int
	header http.Header
	body   string
	err    error
}

func (in *ingest) do(method, path, body string) result {
	req, err := http.NewRequest(method, "http://"+in.addr+path, strings.NewReader(body))
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{code: resp.StatusCode, header: resp.Header, body: string(b), err: err}
}

func (in *ingest) operation(id string) bulkop.View {
	in.t.Helper()
	r := in.do("GET", "/bulk-operations/"+id, "")
	var v bulkop.View
	if r.err != nil || r.code != 200 || json.Unmarshal([]byte(r.body), &v) != nil {
		in.t.Fatalf("GET operation %s: %d %s %v", id, r.code, r.body, r.err)
	}
	return v
}

// ndjson is n small documents.
func ndjson(n int) string {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"id":"d%d","title":"document number %d"}`+"\n", i, i)
	}
	return b.String()
}

// firstOperation returns the key of the first state published to
// bulk-ops; with docs, it returns once a document of that operation is on
// the documents topic too.
func (in *ingest) firstOperation(ctx context.Context, docs bool) string {
	in.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(in.brokers), kgo.ConsumeTopics(in.bulkOps, in.docs),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		in.t.Fatal(err)
	}
	defer cl.Close()
	op := ""
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			in.t.Fatalf("operation %q: no state or no document published\n%s", op, in.logTail())
		}
		for _, r := range fs.Records() {
			switch {
			case r.Topic == in.bulkOps && op == "":
				op = string(r.Key)
				if !docs {
					return op
				}
			case r.Topic == in.docs && op != "":
				for _, h := range r.Headers {
					if h.Key == document.HeaderOperation && string(h.Value) == op {
						return op
					}
				}
			}
		}
	}
}

// records reads a topic to its end and returns the records of operation op.
func (in *ingest) records(topic, op string) []*kgo.Record {
	in.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(in.brokers), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		in.t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for idle := 0; idle < 5; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		recs := cl.PollFetches(ctx).Records()
		cancel()
		if len(recs) == 0 {
			idle++
			continue
		}
		idle = 0
		for _, r := range recs {
			key := string(r.Key)
			for _, h := range r.Headers {
				if h.Key == document.HeaderOperation {
					key = string(h.Value)
				}
			}
			if key == op {
				out = append(out, r)
			}
		}
	}
	return out
}

// TestKillMidRequest: ingest is killed (SIGKILL) after it published the
// operation and some of its documents, while it is still producing the
// others. The client gets no answer; the restarted ingest fails the
// operation, which never claims completed.
func TestKillMidRequest(t *testing.T) {
	in := newIngest(t)
	in.start()
	const n = 20000
	answer := make(chan result, 1)
	go func() { answer <- in.do("POST", "/bulk-indexing/books", ndjson(n)) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	op := in.firstOperation(ctx, true)
	cancel()
	if err := in.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = in.wait(10 * time.Second)
	r := <-answer
	if r.err == nil {
		t.Fatalf("the request was answered %d %s before the kill; the test needs a longer request", r.code, r.body)
	}
	t.Logf("client saw: %v", r.err)

	in.start()
	v := in.operation(op)
	if v.Status != bulkop.Failed || v.AbortReason != tracker.RestartReason || v.TotalDocuments != n {
		t.Fatalf("after restart: %+v", v)
	}
	docs := len(in.records(in.docs, op))
	t.Logf("%d of %d documents of the killed request reached Kafka", docs, n)
	if docs == 0 || docs >= n {
		t.Errorf("%d documents reached Kafka, want some but not all", docs)
	}
	// The failure is published, not accepted.
	states := in.records(in.bulkOps, op)
	var last bulkop.State
	if len(states) == 0 || json.Unmarshal(states[len(states)-1].Value, &last) != nil {
		t.Fatalf("%d states", len(states))
	}
	if last.Accepted() || last.AbortReason() != tracker.RestartReason {
		t.Fatalf("last published state: accepted %v, abort reason %q", last.Accepted(), last.AbortReason())
	}
	// The next request goes through.
	if r := in.do("POST", "/bulk-indexing/books", ndjson(3)); r.code != 202 {
		t.Fatalf("after restart: %d %s %v", r.code, r.body, r.err)
	}
}

// TestSigtermFinishesRequestInHand: on SIGTERM ingest answers new writes
// 503 and finishes the request in hand with its 202, then exits cleanly;
// the operation is accepted, so the next start leaves it alone.
func TestSigtermFinishesRequestInHand(t *testing.T) {
	in := newIngest(t, "TERMFLOW_SHUTDOWN_TIMEOUT=60s")
	in.start()
	const n = 20000
	answer := make(chan result, 1)
	go func() { answer <- in.do("POST", "/bulk-indexing/books", ndjson(n)) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	op := in.firstOperation(ctx, false)
	cancel()
	if err := in.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Once /readyz says so, new writes are refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := in.do("GET", "/readyz", "")
		if r.err == nil && r.code == 503 && strings.Contains(r.body, "shutting down") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz: %d %s %v", r.code, r.body, r.err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	refused := in.do("PUT", "/indexes/books/documents/x", `{"title":"late"}`)
	if refused.err != nil || refused.code != 503 || refused.header.Get("Retry-After") == "" {
		t.Errorf("write during shutdown: %d %s %v", refused.code, refused.body, refused.err)
	}
	r := <-answer
	if r.err != nil || r.code != 202 || !strings.Contains(r.body, op) {
		t.Fatalf("request in hand: %d %s %v\n%s", r.code, r.body, r.err, in.logTail())
	}
	if err := in.wait(60 * time.Second); err != nil {
		t.Fatalf("exit: %v\n%s", err, in.logTail())
	}

	in.start()
	if v := in.operation(op); v.Status != bulkop.Indexing || v.AbortReason != "" {
		t.Fatalf("after restart: %+v", v)
	}
	if docs := len(in.records(in.docs, op)); docs != n {
		t.Errorf("%d of %d documents on the documents topic", docs, n)
	}
}
