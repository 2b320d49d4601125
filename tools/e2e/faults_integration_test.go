//go:build integration

package e2e

// Fault tests (issue 3): a seeded load of puts, updates and deletes goes
// through the real ingest API while a fault hits the pipeline; afterwards
// every operation answered 202 must complete, pkg/verify must find MongoDB
// exactly equal to what the documents topic implies, and every acknowledged
// document must be stored in its latest version.
//
// `make test` runs seeds 1 and 2 per scenario (1 for the slow broker and
// MongoDB outages; TERMFLOW_FAULT_SEEDS overrides); `make soak` runs many and collects the results
// (TERMFLOW_FAULT_RESULTS, one JSON line per run) into docs/reliability.md.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	mrand "math/rand"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termflow/termflow/pkg/verify"
)

const faultIndex = "faults"

// faultSeeds are the seeds a scenario runs with: TERMFLOW_FAULT_SEEDS, or
// by default (make test) 1 and 2, and only 1 for a slow scenario.
func faultSeeds(t *testing.T, slow bool) []uint64 {
	spec := os.Getenv("TERMFLOW_FAULT_SEEDS")
	switch {
	case spec != "":
	case slow:
		spec = "1"
	default:
		spec = "1,2"
	}
	var out []uint64
	if from, to, ok := strings.Cut(spec, ".."); ok { // "1..20"
		a, err1 := strconv.ParseUint(from, 10, 64)
		b, err2 := strconv.ParseUint(to, 10, 64)
		if err1 != nil || err2 != nil || b < a {
			t.Fatalf("TERMFLOW_FAULT_SEEDS=%q: want N, N,M,... or N..M", spec)
		}
		for s := a; s <= b; s++ {
			out = append(out, s)
		}
		return out
	}
	for _, f := range strings.Split(spec, ",") {
		s, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			t.Fatalf("TERMFLOW_FAULT_SEEDS=%q: %v", spec, err)
		}
		out = append(out, s)
	}
	return out
}

// faultDocs is the load size of one run (TERMFLOW_FAULT_DOCS, default 1200).
func faultDocs() int {
	if n, err := strconv.Atoi(os.Getenv("TERMFLOW_FAULT_DOCS")); err == nil && n > 0 {
		return n
	}
	return 1200
}

// ---------------------------------------------------------------- the load

// load is a seeded sequence of bulk requests: new documents, updates of
// earlier ones and deletes, with a Zipf-distributed vocabulary. Its model
// holds the latest acknowledged version of every document.
type load struct {
	s        *stack
	rng      *rand.Rand
	zipf     *mrand.Zipf
	vocab    []string
	perReq   int
	total    int
	next     int
	model    map[string]map[string]any // id → latest acknowledged document; nil = deleted
	ops      []string                  // acknowledged operation ids
	retries  int                       // requests answered other than 202 (or not at all) and sent again
	mu       sync.Mutex
	done     chan struct{}
	finished time.Time
	// sending, when set, receives the number of each request as it is sent.
	sending chan int
}

func newLoad(s *stack, seed uint64, total int) *load {
	l := &load{s: s, rng: rand.New(rand.NewPCG(seed, 99)), perReq: 100, total: total,
		model: map[string]map[string]any{}, done: make(chan struct{})}
	l.zipf = mrand.NewZipf(mrand.New(mrand.NewSource(int64(seed))), 1.2, 1, 400)
	for i := range 401 {
		l.vocab = append(l.vocab, fmt.Sprintf("w%03d", i))
	}
	return l
}

func (l *load) text(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(l.vocab[l.zipf.Uint64()])
	}
	return b.String()
}

// request builds the next bulk request: about 80% new documents, 12%
// updates and 8% deletes of documents acknowledged before.
func (l *load) request() ([]map[string]any, map[string]map[string]any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var live []string
	for id, d := range l.model {
		if d != nil {
			live = append(live, id)
		}
	}
	// map order is random; sort for a seeded choice
	sortStrings(live)
	var docs []map[string]any
	effect := map[string]map[string]any{}
	for len(docs) < l.perReq && l.next < l.total {
		r := l.rng.IntN(100)
		switch {
		case r < 12 && len(live) > 0:
			id := live[l.rng.IntN(len(live))]
			if _, dup := effect[id]; dup {
				continue
			}
			d := map[string]any{"id": id, "title": l.text(2), "body": l.text(4 + l.rng.IntN(8)), "rev": l.rng.IntN(1000)}
			docs, effect[id] = append(docs, d), d
		case r < 20 && len(live) > 0:
			id := live[l.rng.IntN(len(live))]
			if _, dup := effect[id]; dup {
				continue
			}
			docs, effect[id] = append(docs, map[string]any{"id": id, "_delete": true}), nil
		default:
			id := fmt.Sprintf("d%05d", l.next)
			d := map[string]any{"id": id, "title": l.text(2), "body": l.text(4 + l.rng.IntN(8))}
			docs, effect[id] = append(docs, d), d
		}
		l.next++
	}
	return docs, effect
}

// run sends the requests one after another, each until it is answered 202
// (a client retrying a 503, a 429 or a dropped connection), pausing pause
// between requests.
func (l *load) run(ctx context.Context, pause time.Duration) {
	defer close(l.done)
	for l.next < l.total && ctx.Err() == nil {
		docs, effect := l.request()
		body, _ := json.Marshal(docs)
		if l.sending != nil {
			select {
			case l.sending <- len(l.ops):
			default:
			}
		}
		for ctx.Err() == nil {
			op, err := l.send(body)
			if err == nil {
				l.mu.Lock()
				for id, d := range effect {
					l.model[id] = d
				}
				l.ops = append(l.ops, op)
				l.mu.Unlock()
				break
			}
			l.mu.Lock()
			l.retries++
			l.mu.Unlock()
			time.Sleep(500 * time.Millisecond)
		}
		time.Sleep(pause)
	}
	l.finished = time.Now()
}

// allCompleted reports whether every acknowledged operation completed.
func (l *load) allCompleted() bool {
	l.mu.Lock()
	ops := slices.Clone(l.ops)
	l.mu.Unlock()
	for _, op := range ops {
		code, m := l.s.do("GET", "/bulk-operations/"+op, "", nil)
		if code != 200 || m["status"] != "completed" {
			return false
		}
	}
	return true
}

// isDone reports whether every request was acknowledged.
func (l *load) isDone() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

func (l *load) send(body []byte) (string, error) {
	cl := &http.Client{Timeout: 60 * time.Second}
	req, err := http.NewRequest("POST", "http://"+l.s.http+"/bulk-indexing/"+faultIndex, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+l.s.apiKey)
	resp, err := cl.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("status %d: %v", resp.StatusCode, m)
	}
	op, _ := m["operationId"].(string)
	return op, nil
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// ---------------------------------------------------------------- processes

// kill9 sends SIGKILL to a service and reaps it.
func (s *stack) kill9(name string) {
	s.t.Helper()
	cmd := s.procs[name]
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	delete(s.procs, name)
}

// dead reports whether a service's process has exited (a failpoint killed
// it), and reaps it if so.
func (s *stack) dead(name string) bool {
	cmd := s.procs[name]
	if cmd == nil {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err == nil {
		if i := bytes.LastIndexByte(b, ')'); i < 0 || i+2 >= len(b) || b[i+2] != 'Z' {
			return false
		}
	}
	_ = cmd.Wait()
	delete(s.procs, name)
	return true
}

// rss is a service's resident set size in bytes (0 when not running).
func (s *stack) rss(name string) int64 {
	cmd := s.procs[name]
	if cmd == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// ---------------------------------------------------------------- checks

// faultResult is one run of one scenario, as make soak collects it.
type faultResult struct {
	Scenario  string         `json:"scenario"`
	Seed      uint64         `json:"seed"`
	Fault     string         `json:"fault"`
	Documents int            `json:"documents"` // documents sent (puts, updates and deletes)
	Live      int            `json:"live"`      // acknowledged live documents at the end
	Ops       int            `json:"operations"`
	Retries   int            `json:"retries"`
	Lost      int            `json:"lost"`    // acknowledged documents or postings missing or stale
	Doubled   int            `json:"doubled"` // documents or postings present too often or after a delete
	Diffs     int            `json:"diffs"`   // every difference verify found
	Kinds     map[string]int `json:"kinds,omitempty"`
	Recovery  float64        `json:"recoverySeconds"` // restart (or end of the fault) to the pipeline indexing again
	Drain     float64        `json:"drainSeconds"`    // end of the load to every operation completed
	Extra     map[string]any `json:"extra,omitempty"`
}

var lostKinds = []string{verify.KindDocumentMissing, verify.KindDocumentBody, verify.KindTermMissing,
	verify.KindPostingMissing, verify.KindChunkMissing}
var doubledKinds = []string{verify.KindDocumentExtra, verify.KindTermExtra, verify.KindPostingExtra,
	verify.KindPostingDup, verify.KindChunkOrphan}

// finish waits for every acknowledged operation, runs verify and the model
// check, records the result and fails the test on any difference.
func (l *load) finish(res *faultResult, pebbleDirs ...string) {
	s := l.s
	t := s.t
	t.Helper()
	<-l.done
	for _, op := range l.ops {
		s.waitCompleted(op, 6*time.Minute)
	}
	res.Drain = time.Since(l.finished).Seconds()
	res.Documents, res.Ops, res.Retries = l.total, len(l.ops), l.retries

	// The model against MongoDB's documents.
	stored := s.storedDocs()
	for id, want := range l.model {
		got, ok := stored[id]
		switch {
		case want == nil && ok:
			res.Doubled++
			t.Errorf("document %s deleted but stored", id)
		case want != nil && !ok:
			res.Lost++
			t.Errorf("acknowledged document %s missing", id)
		case want != nil && !sameDoc(want, got):
			res.Lost++
			t.Errorf("document %s stored as %v, want %v", id, got, want)
		}
		if want != nil {
			res.Live++
		}
	}
	_, ix := s.do("GET", "/indexes/"+faultIndex, "", nil)
	if num(ix["documentCount"]) != res.Live {
		t.Errorf("documentCount %v, want %d", ix["documentCount"], res.Live)
	}

	// verify: MongoDB (and Pebble) against the documents topic.
	rep, err := verify.Run(context.Background(), verify.Config{Brokers: strings.Split(s.brokers, ","),
		DocumentsTopic: s.docTopic, MongoURI: s.mongoURI, Database: s.db, PebbleDirs: pebbleDirs}, zerolog.Nop())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	res.Diffs, res.Kinds = rep.DiffCount, rep.Kinds
	for _, k := range lostKinds {
		res.Lost += rep.Kinds[k]
	}
	for _, k := range doubledKinds {
		res.Doubled += rep.Kinds[k]
	}
	if !rep.OK() {
		t.Errorf("verify found %d differences:\n%s", rep.DiffCount, strings.Join(rep.Diffs, "\n"))
	}
	if rep.Documents != res.Live {
		t.Errorf("verify expects %d documents, the load acknowledged %d", rep.Documents, res.Live)
	}
	recordFault(t, res)
}

// storedDocs reads the faults index's documents from MongoDB: id → body.
func (s *stack) storedDocs() map[string]map[string]any {
	s.t.Helper()
	ctx := context.Background()
	cl, err := mongo.Connect(options.Client().ApplyURI(s.mongoURI))
	if err != nil {
		s.t.Fatal(err)
	}
	defer cl.Disconnect(ctx)
	cur, err := cl.Database(s.db).Collection("documents").Find(ctx, bson.D{})
	if err != nil {
		s.t.Fatal(err)
	}
	var docs []struct {
		Index string `bson:"index"`
		ID    string `bson:"id"`
		Src   string `bson:"src"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		s.t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, d := range docs {
		if d.Index != faultIndex {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(d.Src), &m); err != nil {
			s.t.Errorf("stored document %s: %v", d.ID, err)
		}
		if _, dup := out[d.ID]; dup {
			s.t.Errorf("document %s stored twice", d.ID)
		}
		out[d.ID] = m
	}
	return out
}

func sameDoc(want, got map[string]any) bool {
	a, _ := json.Marshal(want)
	var w map[string]any
	_ = json.Unmarshal(a, &w)
	return reflect.DeepEqual(w, got)
}

var recordMu sync.Mutex

// recordFault logs a run and appends it to TERMFLOW_FAULT_RESULTS.
func recordFault(t *testing.T, r *faultResult) {
	b, _ := json.Marshal(r)
	t.Logf("result: %s", b)
	path := os.Getenv("TERMFLOW_FAULT_RESULTS")
	if path == "" {
		return
	}
	recordMu.Lock()
	defer recordMu.Unlock()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("results: %v", err)
		return
	}
	defer f.Close()
	_, _ = f.Write(append(b, '\n'))
}

// metric reads a service's metric from its /metrics (the sum over label
// sets); ok is false when the service does not answer or lacks it.
func (s *stack) metric(name, metric string) (float64, bool) {
	resp, err := http.Get("http://" + s.ops[name] + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	sum, found := 0.0, false
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, metric)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			sum, found = sum+v, true
		}
	}
	return sum, found
}

// waitMetric polls a metric until it is positive and returns the time since
// from, or -1 after timeout.
func (s *stack) waitMetric(name, metric string, from time.Time, timeout time.Duration) time.Duration {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if v, ok := s.metric(name, metric); ok && v > 0 {
			return time.Since(from)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return -1
}

// ---------------------------------------------------------------- scenarios

// forEachSeed runs fn as a subtest per seed, with a random source of its own
// (salt keeps scenarios' choices apart for the same seed).
func forEachSeed(t *testing.T, slow bool, salt uint64, fn func(t *testing.T, seed uint64, rng *rand.Rand)) {
	for _, seed := range faultSeeds(t, slow) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { fn(t, seed, rand.New(rand.NewPCG(seed, salt))) })
	}
}

// A process killed at a random moment or at a failpoint, then restarted.
func killScenario(t *testing.T, name string, points map[string]int) {
	names := slices.Sorted(maps.Keys(points))
	forEachSeed(t, false, 7, func(t *testing.T, seed uint64, rng *rand.Rand) {
		s := newStack(t)
		fault := "random-time"
		if k := rng.IntN(len(names) + 1); k < len(names) {
			fault = fmt.Sprintf("%s=%d", names[k], 1+rng.IntN(points[names[k]]))
			s.extraEnv[name] = []string{"TERMFLOW_FAILPOINTS=" + fault}
		}
		s.startAll()
		l := newLoad(s, seed, faultDocs())
		go l.run(context.Background(), 300*time.Millisecond)
		res := &faultResult{Scenario: name + "-kill", Seed: seed, Fault: fault}
		delay := time.Duration(500+rng.IntN(4000)) * time.Millisecond
		start := time.Now()
		var idle time.Time // when the load was done and the operations completed
		for {
			time.Sleep(100 * time.Millisecond)
			if fault == "random-time" && time.Since(start) >= delay {
				s.kill9(name)
				break
			}
			if fault != "random-time" && s.dead(name) {
				break
			}
			if idle.IsZero() && l.isDone() && l.allCompleted() {
				idle = time.Now()
			}
			if !idle.IsZero() && time.Since(idle) > 2*time.Second || time.Since(start) > 90*time.Second {
				// The point was not passed that often: kill the idle service.
				fault += " (not reached; killed when idle)"
				res.Fault = fault
				s.kill9(name)
				break
			}
		}
		t.Logf("%s killed (%s) after %v", name, fault, time.Since(start).Round(time.Millisecond))
		delete(s.extraEnv, name)
		restarted := time.Now()
		s.start(name)
		res.Recovery = time.Since(restarted).Seconds() // ready again
		if name == "indexer" {
			// Consuming again: its partitions are assigned (static
			// membership gives them back without a rebalance).
			if v, ok := s.metric("indexer", "termflow_indexer_start_to_assigned_seconds"); ok && v > 0 {
				res.Recovery = v
			} else if d := s.waitMetric("indexer", "termflow_indexer_start_to_assigned_seconds", restarted, time.Minute); d >= 0 {
				res.Recovery, _ = s.metric("indexer", "termflow_indexer_start_to_assigned_seconds")
			}
		}
		l.finish(res)
	})
}

// Scenario 1: kill -9 of the indexer at random points, including between
// the Pebble commit and the Kafka commit.
func TestFaultIndexerKill(t *testing.T) {
	killScenario(t, "indexer", map[string]int{"indexer.before-hand-over": 6, "indexer.after-hand-over": 6, "indexer.after-pebble-commit": 6})
}

// Scenario 2: kill -9 of the persister at random points, including between
// a MongoDB write and the offset commit.
func TestFaultPersisterKill(t *testing.T) {
	// A load is persisted in a handful of batches of about eight writes each.
	killScenario(t, "persister", map[string]int{"persister.mongo-write": 30, "persister.after-apply": 3, "persister.before-commit": 3})
}

// Scenario 3: kill -9 of the ingest service during requests. Requests
// answered 202 must be fully indexed; a killed request is sent again (the
// load's model only holds acknowledged versions); an operation whose
// request was cut short must never claim success.
func TestFaultIngestKill(t *testing.T) {
	forEachSeed(t, false, 3, func(t *testing.T, seed uint64, rng *rand.Rand) {
		s := newStack(t)
		s.startAll()
		l := newLoad(s, seed, faultDocs())
		l.perReq = 300 // requests long enough to be cut in the middle
		l.sending = make(chan int)
		go l.run(context.Background(), 20*time.Millisecond)
		// Kill while request k is on the wire: a few milliseconds
		// after it starts.
		k := rng.IntN(max(1, faultDocs()/l.perReq-1))
	wait:
		for {
			select {
			case n := <-l.sending:
				if n >= k {
					break wait
				}
			case <-l.done:
				break wait
			}
		}
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		s.kill9("ingest")
		restarted := time.Now()
		s.start("ingest")
		res := &faultResult{Scenario: "ingest-kill", Seed: seed, Fault: "random-time",
			Recovery: time.Since(restarted).Seconds()}
		l.finish(res)
		// Every operation the service knows: a completed one holds all
		// its documents; the ones cut short ended failed.
		code, m := s.do("GET", "/bulk-operations?limit=1000", "", nil)
		if code != 200 {
			t.Fatalf("list operations: %d %v", code, m)
		}
		acked := map[string]bool{}
		for _, op := range l.ops {
			acked[op] = true
		}
		ops, _ := m["operations"].([]any)
		cut := 0
		for _, o := range ops {
			v := o.(map[string]any)
			id, _ := v["id"].(string)
			if acked[id] {
				continue
			}
			cut++
			if v["status"] == "completed" && num(v["persistedBatches"]) != num(v["totalBatches"]) {
				t.Errorf("operation %s claims success with %v of %v batches persisted", id, v["persistedBatches"], v["totalBatches"])
			}
			if v["status"] == "indexing" || v["status"] == "accepting" {
				t.Errorf("unacknowledged operation %s left %v", id, v["status"])
			}
		}
		res.Extra = map[string]any{"unacknowledgedOperations": cut}
		t.Logf("%d operations acknowledged, %d cut short by the kill", len(l.ops), cut)
	})
}

// Scenario 6: a second and third indexer started and stopped repeatedly
// during the load.
func TestFaultRebalanceStorm(t *testing.T) {
	forEachSeed(t, false, 6, func(t *testing.T, seed uint64, rng *rand.Rand) {
		s := newStack(t)
		s.startAll()
		l := newLoad(s, seed, faultDocs())
		go l.run(context.Background(), 600*time.Millisecond)
		moves := 0
		for i := 0; ; i++ {
			if l.isDone() || i >= 8 {
				break
			}
			name := []string{"indexer-2", "indexer-3"}[i%2]
			if s.procs[name] == nil {
				s.start(name)
			} else {
				s.stop(name)
			}
			moves++
			time.Sleep(time.Duration(500+rng.IntN(2500)) * time.Millisecond)
		}
		s.stop("indexer-2")
		s.stop("indexer-3")
		res := &faultResult{Scenario: "rebalance-storm", Seed: seed, Fault: fmt.Sprintf("%d joins/leaves", moves)}
		l.finish(res)
	})
}

// Scenario 7: an indexer whose Pebble directory was deleted gets its
// partitions back and rebuilds them from the documents topic first.
func TestFaultPebbleLost(t *testing.T) {
	forEachSeed(t, false, 5, func(t *testing.T, seed uint64, rng *rand.Rand) {
		s := newStack(t)
		s.startAll()
		l := newLoad(s, seed, faultDocs())
		go l.run(context.Background(), 300*time.Millisecond)
		time.Sleep(time.Duration(1000+rng.IntN(2500)) * time.Millisecond)
		s.kill9("indexer")
		dir := filepath.Join(s.dataDir, "indexer-1", "pebble")
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		restarted := time.Now()
		s.start("indexer")
		res := &faultResult{Scenario: "pebble-lost", Seed: seed, Fault: "kill -9, Pebble deleted"}
		// Recovery: until a partition is rebuilt from the topic.
		if d := s.waitMetric("indexer", "termflow_indexer_records_caught_up_total", restarted, 2*time.Minute); d >= 0 {
			res.Recovery = d.Seconds()
		}
		<-l.done
		for _, op := range l.ops {
			s.waitCompleted(op, 6*time.Minute)
		}
		// Compare Pebble too: stop the indexer so its store can be read.
		s.stop("indexer")
		l.finish(res, dir)
		b, _ := os.ReadFile(filepath.Join(s.dataDir, "indexer.log"))
		if !bytes.Contains(b, []byte("partition caught up")) {
			t.Errorf("the indexer did not catch a partition up after losing its Pebble directory")
		}
	})
}

// Scenario 9: the same dirty-terms events applied twice (the persister's
// group offset moved back): MongoDB does not change.
func TestFaultPersisterReplay(t *testing.T) {
	forEachSeed(t, false, 9, func(t *testing.T, seed uint64, rng *rand.Rand) {
		s := newStack(t)
		s.startAll()
		l := newLoad(s, seed, faultDocs()/2)
		l.run(context.Background(), 0)
		for _, op := range l.ops {
			s.waitCompleted(op, 6*time.Minute)
		}
		before := s.dumpMongo()
		s.stop("persister")
		adm := s.admin()
		group := s.db + "-persister"
		topic := s.db + ".dirty-terms"
		offs, err := adm.FetchOffsets(context.Background(), group)
		if err != nil {
			t.Fatal(err)
		}
		o, ok := offs.Lookup(topic, 0)
		if !ok || o.At <= 0 {
			t.Fatalf("persister committed no offset: %+v", o)
		}
		n := 1 + rng.Int64N(o.At)
		to := kadm.Offsets{}
		to.AddOffset(topic, 0, o.At-n, -1)
		if _, err := adm.CommitOffsets(context.Background(), group, to); err != nil {
			t.Fatal(err)
		}
		s.start("persister")
		deadline := time.Now().Add(3 * time.Minute)
		for {
			offs, err := adm.FetchOffsets(context.Background(), group)
			if err == nil {
				if c, ok := offs.Lookup(topic, 0); ok && c.At >= o.At {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("persister did not consume the %d replayed events again", n)
			}
			time.Sleep(200 * time.Millisecond)
		}
		after := s.dumpMongo()
		for c := range before {
			if !reflect.DeepEqual(before[c], after[c]) {
				t.Errorf("collection %s changed after %d events were applied again (%d → %d documents)", c, n, len(before[c]), len(after[c]))
			}
		}
		res := &faultResult{Scenario: "persister-replay", Seed: seed, Fault: fmt.Sprintf("seek back %d of %d events", n, o.At)}
		l.finish(res)
	})
}

// admin is a kadm client on the stack's broker.
func (s *stack) admin() *kadm.Client { return kadm.NewClient(s.kafkaClient()) }

// dumpMongo reads every collection of the stack's database.
func (s *stack) dumpMongo() map[string][]bson.M {
	s.t.Helper()
	ctx := context.Background()
	cl, err := mongo.Connect(options.Client().ApplyURI(s.mongoURI))
	if err != nil {
		s.t.Fatal(err)
	}
	defer cl.Disconnect(ctx)
	out := map[string][]bson.M{}
	for _, c := range []string{"documents", "terms", "chunks", "indexstats", "fieldstats", "checkpoints"} {
		cur, err := cl.Database(s.db).Collection(c).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			s.t.Fatal(err)
		}
		var docs []bson.M
		if err := cur.All(ctx, &docs); err != nil {
			s.t.Fatal(err)
		}
		out[c] = docs
	}
	return out
}

// ---------------------------------------------------------------- own infrastructure

// ownKafka starts a broker of the test's own (the shared one must stay up
// for the other tests) on free ports, sharing the first broker's jars.
type ownInfra struct {
	t    *testing.T
	dir  string
	env  []string
	kind string // "kafka" or "ferretdb"
	addr string
}

func repoRoot(t *testing.T) string {
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("repo root: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func startOwn(t *testing.T, kind string) *ownInfra {
	root := repoRoot(t)
	o := &ownInfra{t: t, dir: t.TempDir(), kind: kind}
	port := strings.TrimPrefix(freeAddr(t), "127.0.0.1:")
	o.addr = "127.0.0.1:" + port
	o.env = append(os.Environ(), "INFRA_DIR="+o.dir)
	switch kind {
	case "kafka":
		ctl := strings.TrimPrefix(freeAddr(t), "127.0.0.1:")
		o.env = append(o.env, "KAFKA_PORT="+port, "KAFKA_CONTROLLER_PORT="+ctl,
			"KAFKA_LIBS_DIR="+filepath.Join(root, ".infra", "kafka", "libs"), "KAFKA_HEAP_OPTS=-Xms128m -Xmx384m")
	case "ferretdb":
		o.env = append(o.env, "FERRETDB_PORT="+port)
	}
	o.script("up")
	t.Cleanup(func() { o.script("down") })
	return o
}

func (o *ownInfra) script(cmd string) {
	o.t.Helper()
	c := exec.Command(filepath.Join(repoRoot(o.t), "scripts", o.kind+".sh"), cmd)
	c.Env = o.env
	if out, err := c.CombinedOutput(); err != nil {
		o.t.Fatalf("%s.sh %s: %v\n%s", o.kind, cmd, err, out)
	}
}

// kill9 kills the process by its pid file.
func (o *ownInfra) kill9() {
	o.t.Helper()
	b, err := os.ReadFile(filepath.Join(o.dir, o.kind, "pid"))
	if err != nil {
		o.t.Fatalf("%s pid: %v", o.kind, err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		o.t.Fatalf("kill -9 %s: %v", o.kind, err)
	}
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
}

// Scenario 4: kill -9 of the (real) Kafka broker during a load, then start
// it again: producers and consumers recover by themselves.
func TestFaultBrokerKill(t *testing.T) {
	forEachSeed(t, true, 4, func(t *testing.T, seed uint64, rng *rand.Rand) {
		k := startOwn(t, "kafka")
		s := newStackOn(t, k.addr, os.Getenv("TERMFLOW_TEST_MONGO_URI"))
		if os.Getenv("TERMFLOW_TEST_MONGO_URI") == "" {
			t.Fatal("TERMFLOW_TEST_MONGO_URI must be set: run `make test`")
		}
		s.startAll()
		l := newLoad(s, seed, faultDocs())
		go l.run(context.Background(), 50*time.Millisecond)
		time.Sleep(time.Duration(1000+rng.IntN(3000)) * time.Millisecond)
		k.kill9()
		down := time.Duration(2+rng.IntN(8)) * time.Second
		time.Sleep(down)
		restarted := time.Now()
		k.script("up")
		res := &faultResult{Scenario: "broker-kill", Seed: seed, Fault: fmt.Sprintf("kill -9, down %v", down)}
		l.mu.Lock() // the load is still sending
		before := len(l.ops)
		l.mu.Unlock()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			l.mu.Lock()
			n := len(l.ops)
			l.mu.Unlock()
			if n > before || l.isDone() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no request acknowledged within 3 minutes of the broker's restart")
			}
			time.Sleep(100 * time.Millisecond)
		}
		res.Recovery = time.Since(restarted).Seconds()
		l.finish(res)
		for _, name := range []string{"ingest", "indexer", "persister"} {
			if s.dead(name) {
				t.Errorf("%s exited during the broker outage:\n%s", name, s.logTail(name))
			}
		}
	})
}

// Scenario 5: FerretDB stopped for a while (TERMFLOW_FAULT_OUTAGE, default
// 60s) during a load: the persister backs off, commits nothing, keeps its
// memory bounded, and catches up.
func TestFaultMongoOutage(t *testing.T) {
	outage := 60 * time.Second
	if d, err := time.ParseDuration(os.Getenv("TERMFLOW_FAULT_OUTAGE")); err == nil {
		outage = d
	}
	forEachSeed(t, true, 5, func(t *testing.T, seed uint64, rng *rand.Rand) {
		f := startOwn(t, "ferretdb")
		brokers := os.Getenv("TERMFLOW_TEST_KAFKA_BROKERS")
		if brokers == "" {
			t.Fatal("TERMFLOW_TEST_KAFKA_BROKERS must be set: run `make test`")
		}
		s := newStackOn(t, brokers, "mongodb://"+f.addr)
		s.startAll()
		l := newLoad(s, seed, faultDocs())
		// Small requests, paced, so that the load outlasts the start of
		// the outage (about 20 s for 1200 documents): the persister merges
		// whatever has arrived into one batch and would otherwise be done
		// before MongoDB goes away.
		l.perReq = 25
		go l.run(context.Background(), 400*time.Millisecond)
		time.Sleep(time.Duration(1000+rng.IntN(2000)) * time.Millisecond)
		rssBefore := s.rss("persister")
		select {
		case <-l.done:
			t.Fatal("the load finished before MongoDB went down: the outage would test nothing")
		default:
		}
		f.script("down")
		adm := s.admin()
		group, topic := s.db+"-persister", s.db+".dirty-terms"
		committed := func() int64 {
			offs, err := adm.FetchOffsets(context.Background(), group)
			if err != nil {
				return -2
			}
			o, _ := offs.Lookup(topic, 0)
			return o.At
		}
		time.Sleep(5 * time.Second) // an event in flight may still commit
		atStart := committed()
		var rssMax int64
		end := time.Now().Add(outage - 5*time.Second)
		for time.Now().Before(end) {
			rssMax = max(rssMax, s.rss("persister"))
			time.Sleep(time.Second)
		}
		// Bounded: the persister holds one fetch and one event, not the
		// backlog that piles up in Kafka meanwhile.
		if limit := max(2*rssBefore, rssBefore+256<<20); rssMax > limit {
			t.Errorf("persister RSS grew from %d MiB to %d MiB during the outage", rssBefore>>20, rssMax>>20)
		}
		if c := committed(); c != atStart {
			t.Errorf("the persister committed offset %d → %d while MongoDB was down", atStart, c)
		}
		restarted := time.Now()
		f.script("up")
		res := &faultResult{Scenario: "mongo-outage", Seed: seed, Fault: fmt.Sprintf("FerretDB down %v", outage)}
		deadline := time.Now().Add(3 * time.Minute)
		for committed() <= atStart {
			if time.Now().After(deadline) {
				t.Fatalf("the persister did not commit again within 3 minutes of FerretDB's restart:\n%s", s.logTail("persister"))
			}
			time.Sleep(200 * time.Millisecond)
		}
		res.Recovery = time.Since(restarted).Seconds()
		res.Extra = map[string]any{"persisterRSSBeforeMiB": rssBefore >> 20, "persisterRSSMaxDuringOutageMiB": rssMax >> 20}
		b, _ := os.ReadFile(filepath.Join(s.dataDir, "persister.log"))
		if !bytes.Contains(b, []byte("failed")) {
			t.Errorf("the persister logged no failed attempt during the outage")
		}
		l.finish(res)
		t.Logf("persister RSS %d MiB before, at most %d MiB during the outage", rssBefore>>20, rssMax>>20)
	})
}
