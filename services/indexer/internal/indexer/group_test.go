package indexer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/analysis"
	"github.com/termflow/termflow/pkg/dirtyterms"
	"github.com/termflow/termflow/pkg/pebblestore"
	"github.com/termflow/termflow/pkg/topic"
)

// Fast tests of the indexer as a group member, on kfake.

var testTopics = topic.Config{Documents: "docs", DocumentsPartitions: 6, DirtyTerms: "dirty", BulkOps: "bulk",
	Progress: "progress", DeadLetter: "dlq", ReplicationFactor: -1}

type testCluster struct {
	t       *testing.T
	c       *kfake.Cluster // nil on a real broker
	topics  topic.Config
	brokers string
	adm     *kadm.Client
	logs    *syncBuffer
}

func newTestCluster(t *testing.T, partitions int32) *testCluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(partitions, testTopics.Documents),
		kfake.SeedTopics(1, testTopics.DirtyTerms, testTopics.Progress, testTopics.DeadLetter, testTopics.BulkOps),
		kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	tc := &testCluster{t: t, c: c, topics: testTopics, brokers: strings.Join(c.ListenAddrs(), ","), adm: kadm.NewClient(cl), logs: &syncBuffer{}}
	tc.showLogs()
	return tc
}

// showLogs prints the indexers' logs at the end of a failed test.
func (tc *testCluster) showLogs() {
	t := tc.t
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("TERMFLOW_TEST_LOGS") != "" {
			t.Logf("indexer logs:\n%s", tc.logs.tail(1<<20))
		}
	})
}

// syncBuffer collects the indexers' logs; they are shown when a test fails.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.b.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func (tc *testCluster) config(group, instance string) Config {
	cfg := Defaults()
	cfg.InstanceID, cfg.Group = instance, group
	cfg.Kafka.Brokers = tc.brokers
	cfg.Topics = tc.topics
	cfg.MaxPollRecords = 40 // many small batches: more ways to cut a partition
	cfg.SessionTimeout = 3 * time.Second
	cfg.ShutdownTimeout = 20 * time.Second
	return cfg
}

type runningIndexer struct {
	t      *testing.T
	dir    string
	ix     *Indexer
	store  *pebblestore.Store
	cancel context.CancelFunc
	done   chan error
}

// start opens the Pebble store in dir and runs an indexer on it.
func (tc *testCluster) start(cfg Config, dir string) *runningIndexer {
	tc.t.Helper()
	store, err := pebblestore.Open(dir, pebblestore.Options{CacheBytes: 1 << 20, Logger: quietPebble{}})
	if err != nil {
		tc.t.Fatal(err)
	}
	log := zerolog.New(tc.logs).With().Timestamp().Str("instance", cfg.InstanceID).Logger()
	ix, err := New(cfg, store, log, prometheus.NewRegistry())
	if err != nil {
		tc.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningIndexer{t: tc.t, dir: dir, ix: ix, store: store, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- ix.Run(ctx) }()
	return r
}

// stop is a graceful stop (SIGTERM); it closes the store after Run returned.
func (r *runningIndexer) stop() time.Duration {
	r.t.Helper()
	start := time.Now()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("indexer %s: %v", r.ix.cfg.InstanceID, err)
		}
	case <-time.After(r.ix.cfg.ShutdownTimeout + 5*time.Second):
		r.t.Fatalf("indexer %s did not stop", r.ix.cfg.InstanceID)
	}
	took := time.Since(start)
	if err := r.store.Close(); err != nil {
		r.t.Error(err)
	}
	return took
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)         {}
func (quietPebble) Errorf(f string, args ...any) { fmt.Printf("pebble: "+f+"\n", args...) }
func (quietPebble) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// corpus produces documents of index "b" with ids from a small pool, so
// that documents are replaced and deleted (tombstones), and remembers each
// document's last version.
type corpus struct {
	t        *testing.T
	cl       *kgo.Client
	rng      *rand.Rand
	ids      int
	mu       sync.Mutex
	final    map[string][]byte // id → doc, nil when deleted
	produced map[int32][]int64
	seq      int
}

var words = strings.Fields("red green blue apple pear plum river stone cloud light dark quick slow north south east west amber")

func newCorpus(t *testing.T, brokers string, seed uint64, ids int) *corpus {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.DefaultProduceTopic(testTopics.Documents))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &corpus{t: t, cl: cl, rng: rand.New(rand.NewPCG(seed, 1)), ids: ids, final: map[string][]byte{}, produced: map[int32][]int64{}}
}

// produce writes n records synchronously.
func (c *corpus) produce(n int) {
	c.t.Helper()
	c.mu.Lock()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		id := fmt.Sprintf("d%d", c.rng.IntN(c.ids))
		r := &kgo.Record{Key: []byte("b/" + id)}
		if c.rng.IntN(7) > 0 {
			var text []string
			for range 2 + c.rng.IntN(5) {
				text = append(text, words[c.rng.IntN(len(words))])
			}
			doc, _ := json.Marshal(map[string]any{"t": strings.Join(text, " "), "n": fmt.Sprintf("seq%d", c.seq)})
			env, _ := json.Marshal(map[string]any{"v": 1, "index": "b", "id": id, "doc": json.RawMessage(doc)})
			r.Value = env
			c.final[id] = doc
		} else {
			c.final[id] = nil // tombstone
		}
		c.seq++
		recs[i] = r
	}
	c.mu.Unlock()
	res := c.cl.ProduceSync(context.Background(), recs...)
	if err := res.FirstErr(); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	for _, r := range res {
		c.produced[r.Record.Partition] = append(c.produced[r.Record.Partition], r.Record.Offset)
	}
	c.mu.Unlock()
}

// wantPostings is the index of the documents' last versions, as
// index/field/term/id → [tf, field length].
func (c *corpus) wantPostings() map[string][2]uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string][2]uint32{}
	for id, doc := range c.final {
		if doc == nil {
			continue
		}
		an, err := analysis.AnalyzeJSON(doc)
		if err != nil {
			c.t.Fatal(err)
		}
		for _, f := range an.Fields {
			for _, t := range f.Terms {
				m["b/"+f.Name+"/"+t.Term+"/"+id] = [2]uint32{t.TF, f.Length}
			}
		}
	}
	return m
}

func (c *corpus) live() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := int64(0)
	for _, d := range c.final {
		if d != nil {
			n++
		}
	}
	return n
}

// events reads the dirty-terms topic from the start to its end.
func (tc *testCluster) events() []*dirtyterms.Event {
	tc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := tc.adm.ListEndOffsets(ctx, tc.topics.DirtyTerms)
	if err != nil {
		tc.t.Fatal(err)
	}
	end := ends[tc.topics.DirtyTerms][0].Offset
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(tc.brokers, ",")...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{tc.topics.DirtyTerms: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		tc.t.Fatal(err)
	}
	defer cl.Close()
	var out []*dirtyterms.Event
	next := int64(0)
	for next < end {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			tc.t.Fatalf("read dirty-terms: %v (at %d of %d)", err, next, end)
		}
		fs.EachRecord(func(r *kgo.Record) {
			ev, err := dirtyterms.Decode(r.Value)
			if err != nil {
				tc.t.Fatal(err)
			}
			out = append(out, ev)
			next = r.Offset + 1
		})
	}
	return out
}

// handedOver applies events the way the persister does (pkg/mongostore
// Apply): per source partition, records at or below the last offset
// already applied are dropped; the rest are applied in order. It returns
// the resulting postings, the document count and the offsets applied per
// partition.
func handedOver(evs []*dirtyterms.Event) (postings map[string][2]uint32, docs int64, kept map[int32][]int64) {
	postings = map[string][2]uint32{}
	kept = map[int32][]int64{}
	applied := map[int32]int64{}
	for _, ev := range evs {
		last, ok := applied[ev.Partition]
		if !ok {
			last = -1
		}
		keep := make([]bool, len(ev.Records))
		for i, r := range ev.Records {
			if keep[i] = r.Offset > last; keep[i] {
				kept[ev.Partition] = append(kept[ev.Partition], r.Offset)
				docs += r.Count
			}
		}
		for _, term := range ev.Terms {
			for _, op := range term.Ops {
				if !keep[op.Rec] {
					continue
				}
				k := term.Index + "/" + term.Field + "/" + term.Term + "/" + ev.Records[op.Rec].ID
				if op.TF == 0 {
					delete(postings, k)
				} else {
					postings[k] = [2]uint32{op.TF, op.Length}
				}
			}
		}
		applied[ev.Partition] = max(last, ev.LastOffset)
	}
	return postings, docs, kept
}

// waitCommitted waits until the group committed every partition's end
// offset.
func (tc *testCluster) waitCommitted(group string, timeout time.Duration) {
	tc.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := tc.committedAtEnd(group)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tc.t.Fatalf("group %s: %s", group, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (tc *testCluster) committedAtEnd(group string) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := tc.adm.ListEndOffsets(ctx, tc.topics.Documents)
	if err != nil {
		return false, err.Error()
	}
	committed, err := tc.adm.FetchOffsets(ctx, group)
	if err != nil {
		return false, err.Error()
	}
	var diffs []string
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(o.Topic, o.Partition)
		if !ok || c.At != o.Offset {
			diffs = append(diffs, fmt.Sprintf("partition %d committed %d, end %d", o.Partition, c.At, o.Offset))
		}
	})
	slices.Sort(diffs)
	return len(diffs) == 0, strings.Join(diffs, "; ")
}

// assignment is the group's partitions per instance id.
func (tc *testCluster) assignment(group string) map[string][]int32 {
	tc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gs, err := tc.adm.DescribeGroups(ctx, group)
	if err != nil {
		tc.t.Fatal(err)
	}
	out := map[string][]int32{}
	for _, m := range gs[group].Members {
		id := m.MemberID
		if m.InstanceID != nil {
			id = *m.InstanceID
		}
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				out[id] = append(out[id], t.Partitions...)
			}
		}
		slices.Sort(out[id])
	}
	return out
}

// waitAssignment waits until fn accepts the group's assignment.
func (tc *testCluster) waitAssignment(group string, timeout time.Duration, fn func(map[string][]int32) bool) (map[string][]int32, time.Duration) {
	tc.t.Helper()
	start := time.Now()
	for {
		a := tc.assignment(group)
		if fn(a) {
			return a, time.Since(start)
		}
		if time.Since(start) > timeout {
			tc.t.Fatalf("group %s: assignment %v after %v", group, a, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRebalancesHandOverEveryRecordOnce runs two indexers in one group on a
// six-partition topic while documents are produced; the second joins and
// leaves again and again, gracefully (leaving the group) or as a static
// member that comes back before its session timeout. Whatever the cuts, the
// dirty-terms events, filtered the way the persister filters them, must
// apply every produced record exactly once and build exactly the index of
// the documents' last versions; and the group must end with every partition
// committed at its end.
func TestRebalancesHandOverEveryRecordOnce(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 6)
	c := newCorpus(t, tc.brokers, 1, 150)
	dirA, dirB := t.TempDir(), t.TempDir()

	a := tc.start(tc.config("ix", "a"), dirA)
	stopProducing := make(chan struct{})
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for {
			select {
			case <-stopProducing:
				return
			default:
			}
			c.produce(10)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	rng := rand.New(rand.NewPCG(2, 2))
	for round := range 4 {
		cfg := tc.config("ix", "b")
		cfg.LeaveGroupOnShutdown = round%2 == 1
		b := tc.start(cfg, dirB)
		// b owns partitions (a static member comes back to its own) and
		// has handled a batch.
		deadline := time.Now().Add(15 * time.Second)
		for testutil.ToFloat64(b.ix.m.startToFirstBatch) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: b handled no batch", round)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		took := b.stop()
		t.Logf("round %d: b assigned after %.2fs, first batch after %.2fs, indexed %v batches, caught up %v records, stopped in %v (leave group: %v)", round,
			testutil.ToFloat64(b.ix.m.startToAssigned), testutil.ToFloat64(b.ix.m.startToFirstBatch),
			testutil.ToFloat64(b.ix.m.batches), testutil.ToFloat64(b.ix.m.caughtUp), took, cfg.LeaveGroupOnShutdown)
		// a works alone for a while (on b's partitions too if b left).
		time.Sleep(time.Duration(200+rng.IntN(600)) * time.Millisecond)
	}
	close(stopProducing)
	<-produced
	c.produce(50)
	tc.waitCommitted("ix", 30*time.Second)
	a.stop()
	if ok, msg := tc.committedAtEnd("ix"); !ok {
		t.Fatalf("after the last stop: %s", msg)
	}

	postings, docs, kept := handedOver(tc.events())
	total := 0
	for p, offs := range c.produced {
		slices.Sort(offs)
		total += len(offs)
		if !slices.Equal(kept[p], offs) {
			t.Errorf("partition %d: %d records produced, %d handed over once (first difference at %d)", p, len(offs), len(kept[p]), firstDiff(kept[p], offs))
		}
	}
	c.checkHandedOver(postings, docs)
	t.Logf("%d records produced, %d postings, %d documents", total, len(postings), docs)
}

// checkHandedOver compares the postings and document count the events
// hand over (see handedOver) with the index of the documents' last
// versions.
func (c *corpus) checkHandedOver(postings map[string][2]uint32, docs int64) {
	c.t.Helper()
	want := c.wantPostings()
	if len(postings) != len(want) {
		c.t.Errorf("%d postings handed over, want %d", len(postings), len(want))
	}
	for k, v := range want {
		if postings[k] != v {
			c.t.Errorf("posting %s = %v, want %v", k, postings[k], v)
			break
		}
	}
	if docs != c.live() {
		c.t.Errorf("document count %d, want %d", docs, c.live())
	}
}

func firstDiff(a, b []int64) int64 {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return min(a[i], b[i])
		}
	}
	if len(a) < len(b) {
		return b[len(a)]
	}
	if len(b) < len(a) {
		return a[len(b)]
	}
	return -1
}

// TestStaticMemberRestartAndLeave: a static member that stops without
// leaving (as after kill -9) keeps its partitions until it comes back, and
// gets them back at once; one that stops gracefully and leaves hands them
// over at once, long before the session timeout.
func TestStaticMemberRestartAndLeave(t *testing.T) {
	t.Parallel()
	staticRestartAndLeave(newTestCluster(t, 4), "st")
}

// staticRestartAndLeave runs the scenario on a cluster whose documents
// topic has four partitions.
func staticRestartAndLeave(tc *testCluster, group string) {
	t := tc.t
	const session = 20 * time.Second
	cfgA, cfgB := tc.config(group, "a"), tc.config(group, "b")
	cfgA.SessionTimeout, cfgB.SessionTimeout = session, session
	cfgB.LeaveGroupOnShutdown = false // stopped as if killed
	a := tc.start(cfgA, t.TempDir())
	defer a.stop()
	tc.waitAssignment(group, 15*time.Second, func(m map[string][]int32) bool { return len(m["a"]) == 4 })
	dirB := t.TempDir()
	b := tc.start(cfgB, dirB)
	before, _ := tc.waitAssignment(group, 15*time.Second, func(m map[string][]int32) bool { return len(m["a"]) == 2 && len(m["b"]) == 2 })

	// A stop without leaving: b's partitions stay b's.
	b.stop()
	time.Sleep(time.Second)
	if got := tc.assignment(group); !slices.Equal(got["b"], before["b"]) || len(got["a"]) != 2 {
		t.Fatalf("after b stopped without leaving: %v, want b to keep %v", got, before["b"])
	}
	cfgB.LeaveGroupOnShutdown = true // the next stop is graceful
	b = tc.start(cfgB, dirB)
	deadline := time.Now().Add(session / 2)
	for testutil.ToFloat64(b.ix.m.startToAssigned) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("restarted b not assigned within %v", session/2)
		}
		time.Sleep(10 * time.Millisecond)
	}
	back := time.Duration(testutil.ToFloat64(b.ix.m.startToAssigned) * float64(time.Second))
	if got := tc.assignment(group); !slices.Equal(got["b"], before["b"]) {
		t.Fatalf("restarted b got %v, want %v", got["b"], before["b"])
	}
	t.Logf("restarted static member assigned after %v (session timeout %v)", back, session)
	if back > session/4 {
		t.Errorf("restart took %v to get its partitions back", back)
	}

	// A graceful stop that leaves: a takes everything at once.
	b.stop()
	_, took := tc.waitAssignment(group, session/2, func(m map[string][]int32) bool { return len(m["a"]) == 4 && len(m["b"]) == 0 })
	t.Logf("partitions moved %v after b left", took)
}

// TestCatchUpAfterPebbleLost: an indexer whose Pebble directory is gone
// (empty store) while its group has committed offsets rebuilds each
// partition from the documents topic before it handles new records, so its
// store ends equal to that of an indexer that processed everything, and
// the events it hands over carry correct deltas for documents it never
// saw before.
func TestCatchUpAfterPebbleLost(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 3)
	c := newCorpus(t, tc.brokers, 3, 60)
	c.produce(300)
	a := tc.start(tc.config("ix", "a"), t.TempDir())
	tc.waitCommitted("ix", 20*time.Second)
	a.stop()

	fresh := tc.start(tc.config("ix", "a"), t.TempDir()) // the same indexer, its directory deleted
	c.produce(300)
	tc.waitCommitted("ix", 20*time.Second)
	if n := testutil.ToFloat64(fresh.ix.m.caughtUp); n == 0 {
		t.Error("no record was caught up")
	}
	fresh.stop()

	ref := tc.start(tc.config("ref", "r"), t.TempDir())
	tc.waitCommitted("ref", 20*time.Second)
	ref.stop()

	got, want := dumpStore(t, fresh.dir), dumpStore(t, ref.dir)
	if len(got) != len(want) {
		t.Errorf("caught-up store has %d keys, reference %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("key %q: %x, reference %x", k, got[k], v)
		}
	}

	// The group's events (indexer "a", before and after losing Pebble)
	// build the right index.
	var evs []*dirtyterms.Event
	for _, ev := range tc.events() {
		if ev.Indexer == "a" {
			evs = append(evs, ev)
		}
	}
	postings, docs, _ := handedOver(evs)
	wantP := c.wantPostings()
	if len(postings) != len(wantP) || docs != c.live() {
		t.Errorf("events build %d postings and %d documents, want %d and %d", len(postings), docs, len(wantP), c.live())
	}
	for k, v := range wantP {
		if postings[k] != v {
			t.Fatalf("posting %s = %v, want %v", k, postings[k], v)
		}
	}
}

// dumpStore reads the whole state of the store in dir: every key but the
// posting logs, whose raw values depend on the batches that wrote them, and
// every posting they replay to.
func dumpStore(t *testing.T, dir string) map[string]string {
	t.Helper()
	s, err := pebblestore.Open(dir, pebblestore.Options{CacheBytes: 1 << 20, Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	it, err := s.DB().NewIter(&pebble.IterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	m := map[string]string{}
	for it.First(); it.Valid(); it.Next() {
		// Postings and forward entries are compared as what they say
		// (below): a forward entry keeps its terms in analysis order.
		if k := it.Key()[0]; k != 't' && k != 'f' {
			m[string(it.Key())] = string(it.Value())
		}
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	err = s.EachPosting(func(index, field, term string, p pebblestore.Posting) error {
		m[fmt.Sprintf("posting %s|%s|%s|%s", index, field, term, p.ID)] = fmt.Sprintf("tf %d length %d", p.TF, p.Length)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.EachForward(func(index, id string, f *pebblestore.Forward) error {
		sortForward(f)
		m[fmt.Sprintf("forward %s|%s", index, id)] = fmt.Sprintf("%+v", f.Fields)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
