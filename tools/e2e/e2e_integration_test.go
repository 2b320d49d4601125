//go:build integration

// Package e2e drives the three real service binaries against the real Kafka
// broker and FerretDB that `make test` starts (TERMFLOW_TEST_KAFKA_BROKERS,
// TERMFLOW_TEST_MONGO_URI).
package e2e

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
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termflow/termflow/pkg/mongostore"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "termflow-e2e-bin")
	if err != nil {
		panic(err)
	}
	for _, s := range []string{"ingest", "indexer", "persister"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "termflow-"+s), "github.com/termflow/termflow/services/"+s)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", s, err)
			os.Exit(1)
		}
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// stack is one isolated pipeline: its own topics, groups and database.
type stack struct {
	t        *testing.T
	env      []string
	http     string
	ops      map[string]string
	dataDir  string
	procs    map[string]*exec.Cmd
	docTopic string
	db       string
	brokers  string
	mongoURI string
	// extraEnv adds environment variables to one process's start.
	extraEnv map[string][]string
	// apiKey is the read+write API key of ingest, sent by do.
	apiKey string
}

func newStack(t *testing.T) *stack {
	brokers, mongo := os.Getenv("TERMFLOW_TEST_KAFKA_BROKERS"), os.Getenv("TERMFLOW_TEST_MONGO_URI")
	if brokers == "" || mongo == "" {
		t.Fatal("TERMFLOW_TEST_KAFKA_BROKERS and TERMFLOW_TEST_MONGO_URI must be set: run `make test`, which starts the real broker and FerretDB")
	}
	return newStackOn(t, brokers, mongo)
}

// newStackOn is newStack on the given broker and MongoDB server.
func newStackOn(t *testing.T, brokers, mongo string) *stack {
	id := fmt.Sprintf("e2e%d", time.Now().UnixNano()%1e12)
	s := &stack{t: t, http: freeAddr(t), ops: map[string]string{"indexer": freeAddr(t), "persister": freeAddr(t)},
		dataDir: t.TempDir(), procs: map[string]*exec.Cmd{}, docTopic: id + ".documents", db: id,
		brokers: brokers, mongoURI: mongo, extraEnv: map[string][]string{}, apiKey: "e2e-" + id + "-secret"}
	s.env = append(os.Environ(),
		"KAFKA_BROKERS="+brokers, "MONGO_URI="+mongo, "TERMFLOW_MONGO_DB="+id,
		"TERMFLOW_TOPIC_DOCUMENTS="+s.docTopic, "TERMFLOW_TOPIC_DIRTY_TERMS="+id+".dirty-terms",
		"TERMFLOW_TOPIC_BULK_OPS="+id+".bulk-ops", "TERMFLOW_TOPIC_PROGRESS="+id+".progress",
		"TERMFLOW_TOPIC_DEAD_LETTER="+id+".dlq", "TERMFLOW_DOCUMENTS_PARTITIONS=4",
		"TERMFLOW_INDEXER_GROUP="+id+"-indexer", "TERMFLOW_PERSISTER_GROUP="+id+"-persister",
		"TERMFLOW_INGEST_GROUP="+id+"-ingest", "TERMFLOW_DATA_DIR="+s.dataDir, "TERMFLOW_LOG_LEVEL=info",
		// Auth is on, as by default; the tests' own polling must not be rate limited.
		"TERMFLOW_AUTH=on", "TERMFLOW_API_KEYS=e2e:read+write:"+s.apiKey, "TERMFLOW_RATE_LIMIT=0")
	t.Cleanup(s.stopAll)
	return s
}

func (s *stack) start(name string) {
	s.t.Helper()
	env := append([]string(nil), s.env...)
	// "indexer-2" is a second indexer: the indexer binary with its own
	// instance id (and so its own Pebble directory) and ops address.
	bin, _, _ := strings.Cut(name, "-")
	if name == "ingest" {
		env = append(env, "TERMFLOW_HTTP_ADDR="+s.http)
	} else {
		if s.ops[name] == "" {
			s.ops[name] = freeAddr(s.t)
		}
		env = append(env, "TERMFLOW_OPS_ADDR="+s.ops[name])
	}
	if bin == "indexer" && name != "indexer" {
		env = append(env, "TERMFLOW_INSTANCE_ID="+name)
	}
	env = append(env, s.extraEnv[name]...)
	cmd := exec.Command(filepath.Join(binDir, "termflow-"+bin))
	cmd.Env = env
	logf, err := os.OpenFile(filepath.Join(s.dataDir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.procs[name] = cmd
	addr := s.http
	if name != "ingest" {
		addr = s.ops[name]
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s not ready: %v\n%s", name, err, s.logTail(name))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *stack) logTail(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.dataDir, name+".log"))
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

func (s *stack) startAll() {
	for _, n := range []string{"persister", "indexer", "ingest"} {
		s.start(n)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *stack) stop(name string) {
	s.t.Helper()
	cmd := s.procs[name]
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			s.t.Errorf("%s exited with %v\n%s", name, err, s.logTail(name))
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		s.t.Errorf("%s did not stop within 60s", name)
	}
	delete(s.procs, name)
}

func (s *stack) stopAll() {
	for _, n := range []string{"ingest", "indexer", "persister"} {
		s.stop(n)
	}
}

func (s *stack) do(method, path, ctype string, body []byte) (int, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest(method, "http://"+s.http+path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Authorization", "Bearer "+s.apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func (s *stack) bulk(index string, docs []map[string]any) string {
	s.t.Helper()
	b, _ := json.Marshal(docs)
	code, m := s.do("POST", "/bulk-indexing/"+index, "application/json", b)
	if code != 202 {
		s.t.Fatalf("bulk: %d %v", code, m)
	}
	return m["operationId"].(string)
}

func (s *stack) waitCompleted(op string, timeout time.Duration) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, m := s.do("GET", "/bulk-operations/"+op+"?wait=completed&timeout=20s", "", nil)
		if code == 200 && m["status"] == "completed" {
			return m
		}
		if code == 200 && (m["status"] == "failed" || m["status"] == "partially_completed") {
			s.t.Fatalf("operation %s ended %v", op, m)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("operation %s not completed in %v: %d %v\npersister:\n%s", op, timeout, code, m, s.logTail("persister"))
		}
	}
}

// termHead is what the tests read of a stored head: its field and term come
// from its key (heads do not store them, docs/data-model.md).
type termHead struct {
	ID    string `bson:"_id"`
	Field string `bson:"-"`
	Term  string `bson:"-"`
	N     int64  `bson:"n"`
}

// termHeads reads every term head of an index straight from MongoDB.
func (s *stack) termHeads(index string) []termHead {
	s.t.Helper()
	ctx := context.Background()
	cl, err := mongo.Connect(options.Client().ApplyURI(s.mongoURI))
	if err != nil {
		s.t.Fatal(err)
	}
	defer cl.Disconnect(ctx)
	cur, err := cl.Database(s.db).Collection("terms").Find(ctx, bson.D{{Key: "index", Value: index}})
	if err != nil {
		s.t.Fatal(err)
	}
	var out []termHead
	if err := cur.All(ctx, &out); err != nil {
		s.t.Fatal(err)
	}
	for i := range out {
		_, term, field, ok := mongostore.SplitTermKey(out[i].ID)
		if !ok {
			s.t.Fatalf("term head %q: not a term key", out[i].ID)
		}
		out[i].Term, out[i].Field = term, field
	}
	return out
}

func num(v any) int { f, _ := v.(float64); return int(f) }

func TestBulk8000Limited(t *testing.T) {
	s := newStack(t)
	s.startAll()
	vocab := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"}
	docs := make([]map[string]any, 8000)
	for i := range docs {
		docs[i] = map[string]any{"id": i, "title": fmt.Sprintf("limited %s %s", vocab[i%8], vocab[(i/8)%8]),
			"body": fmt.Sprintf("item %d is limited", i)}
	}
	op := s.bulk("books", docs)
	st := s.waitCompleted(op, 8*time.Minute)
	if num(st["totalDocuments"]) != 8000 || num(st["persistedBatches"]) != num(st["totalBatches"]) || num(st["totalBatches"]) != 54 {
		t.Fatalf("operation %v", st)
	}
	_, ix := s.do("GET", "/indexes/books", "", nil)
	if num(ix["documentCount"]) != 8000 {
		t.Fatalf("index %v", ix)
	}
	_, res := s.do("GET", "/indexes/books/search?q=limited&limit=3", "", nil)
	if num(res["total"]) != 8000 || len(res["hits"].([]any)) != 3 {
		t.Fatalf("search limited: %v", res)
	}
	_, term := s.do("GET", "/indexes/books/terms/_all/limited", "", nil)
	if num(term["postings"]) != 8000 || num(term["chunks"]) < 2 {
		t.Fatalf("term limited: %v", term)
	}
	// Every distinct term of the input is stored with the right posting count.
	want := map[string]int{"item": 8000, "is": 8000, "limited": 8000}
	for _, v := range vocab {
		want[v] = 1000 + 1000 - 125 // in one of two positions; both: 125 docs
	}
	for i := 0; i < 8000; i++ {
		want[fmt.Sprint(i)]++ // id and body number
	}
	// One scan of the terms collection instead of 8000 HTTP lookups.
	got := map[string]int{}
	for _, h := range s.termHeads("books") {
		if h.Field == "_all" {
			got[h.Term] = int(h.N)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d distinct _all terms stored, want %d", len(got), len(want))
	}
	for term, n := range want {
		if got[term] != n {
			t.Fatalf("term %q: %d postings stored, want %d", term, got[term], n)
		}
	}
	for _, term := range []string{"limited", "alpha", "4711"} {
		_, m := s.do("GET", "/indexes/books/terms/_all/"+term, "", nil)
		if num(m["postings"]) != want[term] {
			t.Fatalf("GET term %q: %v, want %d", term, m, want[term])
		}
	}
	_, res = s.do("GET", "/indexes/books/search?q=title:alpha+title:bravo", "", nil)
	if num(res["total"]) != 250 { // alpha-bravo and bravo-alpha: 125 each
		t.Fatalf("alpha AND bravo: %v", res["total"])
	}
}

func TestKcatProducedDocumentsBecomeSearchable(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatal("kcat is not installed: scripts/kafka.sh installs it (apt-get install kcat)")
	}
	s := newStack(t)
	s.startAll()
	var in strings.Builder
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&in, "notes/k%d|{\"v\":1,\"index\":\"notes\",\"id\":\"k%d\",\"doc\":{\"text\":\"written with kcat number %d\"}}\n", i, i, i)
	}
	cmd := exec.Command("kcat", "-P", "-b", os.Getenv("TERMFLOW_TEST_KAFKA_BROKERS"), "-t", s.docTopic, "-K|")
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v %s", err, out)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		code, res := s.do("GET", "/indexes/notes/search?q=kcat", "", nil)
		if code == 200 && num(res["total"]) == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kcat documents not searchable: %d %v", code, res)
		}
		time.Sleep(time.Second)
	}
	// kcat reads the topic back, too.
	out, err := exec.Command("kcat", "-C", "-b", os.Getenv("TERMFLOW_TEST_KAFKA_BROKERS"), "-t", s.docTopic, "-e", "-q", "-f", "%k\n").Output()
	if err != nil || strings.Count(string(out), "notes/") != 20 {
		t.Fatalf("kcat read back: %v %q", err, out)
	}
}

func TestConcurrentOperationsAndRestart(t *testing.T) {
	s := newStack(t)
	s.startAll()
	ops := make(chan string, 12)
	errs := make(chan error, 12)
	for i := 0; i < 12; i++ {
		go func(i int) {
			index := []string{"shared", fmt.Sprintf("own%d", i)}[i%2]
			docs := make([]map[string]any, 300)
			for j := range docs {
				docs[j] = map[string]any{"id": fmt.Sprintf("op%d-%d", i, j), "text": "concurrent words"}
			}
			b, _ := json.Marshal(docs)
			req, _ := http.NewRequest("POST", "http://"+s.http+"/bulk-indexing/"+index, bytes.NewReader(b))
			req.Header.Set("Authorization", "Bearer "+s.apiKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			var m map[string]any
			json.NewDecoder(resp.Body).Decode(&m)
			resp.Body.Close()
			if resp.StatusCode != 202 {
				errs <- fmt.Errorf("status %d %v", resp.StatusCode, m)
				return
			}
			ops <- m["operationId"].(string)
		}(i)
	}
	var ids []string
	for i := 0; i < 12; i++ {
		select {
		case err := <-errs:
			t.Fatal(err)
		case id := <-ops:
			ids = append(ids, id)
		}
	}
	// SIGTERM everything mid-flight, then start again: it resumes.
	s.stopAll()
	s.startAll()
	for _, id := range ids {
		s.waitCompleted(id, 5*time.Minute)
	}
	_, m := s.do("GET", "/indexes/shared", "", nil)
	if num(m["documentCount"]) != 6*300 {
		t.Fatalf("shared: %v", m)
	}
	for i := 1; i < 12; i += 2 {
		_, m := s.do("GET", fmt.Sprintf("/indexes/own%d", i), "", nil)
		if num(m["documentCount"]) != 300 {
			t.Fatalf("own%d: %v", i, m)
		}
	}
	_, res := s.do("GET", "/indexes/shared/search?q=concurrent", "", nil)
	if num(res["total"]) != 1800 {
		t.Fatalf("search shared: %v", res["total"])
	}
}
