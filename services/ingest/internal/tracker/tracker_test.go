package tracker

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/bulkop"
	"github.com/termflow/termflow/pkg/progress"
	"github.com/termflow/termflow/pkg/topic"
)

type harness struct {
	t     *testing.T
	seeds []string
	cfg   Config
}

func newHarness(t *testing.T) *harness {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	h := &harness{t: t, seeds: c.ListenAddrs(), cfg: Defaults()}
	h.cfg.PollInterval = 50 * time.Millisecond
	cl := h.client()
	tc := topic.Defaults()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := topic.Ensure(kadm.WithAuthorizedOps(ctx), kadm.NewClient(cl), -1, tc.BulkOpsSpec(), tc.ProgressSpec()); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) client(opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(h.seeds...)}, opts...)...)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(cl.Close)
	return cl
}

type running struct {
	tr   *Tracker
	reg  *prometheus.Registry
	stop func()
}

// start runs a tracker as a fresh ingest process would.
func (h *harness) start() *running {
	producer := h.client()
	consumer := h.client(ConsumerOpts(h.cfg)...)
	reg := prometheus.NewRegistry()
	tr := New(h.cfg, producer, consumer, kadm.NewClient(producer), []kgo.Opt{kgo.SeedBrokers(h.seeds...)},
		zerolog.New(zerolog.NewTestWriter(h.t)).Level(zerolog.WarnLevel), reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for tr.Ready() != nil {
		if time.Now().After(deadline) {
			h.t.Fatal("tracker not ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := &running{tr: tr, reg: reg}
	r.stop = func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("run: %v", err)
		}
		consumer.Close() // leave the group, as main's deferred Close does
	}
	h.t.Cleanup(func() {
		if ctx.Err() == nil {
			r.stop()
		}
	})
	return r
}

func (h *harness) send(ms ...progress.Message) {
	var recs []*kgo.Record
	for _, m := range ms {
		recs = append(recs, &kgo.Record{Topic: h.cfg.Progress, Key: []byte(m.Operation), Value: m.Encode()})
	}
	recs = append(recs, &kgo.Record{Topic: h.cfg.Progress, Value: []byte(`not json`)}) // poison is skipped
	if err := h.client().ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		h.t.Fatal(err)
	}
}

func waitStatus(t *testing.T, tr *Tracker, id string, want bulkop.Status) bulkop.View {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, ok := tr.Wait(ctx, id, want)
	if !ok || v.Status != want {
		t.Fatalf("operation %s: %+v, want %s", id, v, want)
	}
	return v
}

func stateJSON(t *testing.T, tr *Tracker, id string) string {
	s, ok := tr.State(id)
	if !ok {
		t.Fatalf("no operation %s", id)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRestartRebuildsState(t *testing.T) {
	h := newHarness(t)
	r1 := h.start()
	now := time.Now()
	var ids []string
	for i := range 3 {
		s, err := bulkop.New(bulkop.NewID(now.Add(time.Duration(i)*time.Millisecond)), "books", 5, 2, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := r1.tr.Create(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID())
	}
	for _, id := range ids[:2] { // the third is aborted below, as if its documents failed to produce
		if err := r1.tr.Accept(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	h.send(
		progress.Message{Operation: ids[0], Stage: progress.Persisted, Seqs: progress.Ranges{{0, 4}}},
		progress.Message{Operation: ids[1], Stage: progress.Indexed, Seqs: progress.Ranges{{0, 4}}},
		progress.Message{Operation: ids[1], Stage: progress.Failed, Seqs: progress.Ranges{{2, 2}},
			Errors: []progress.Failure{{Seq: 2, ID: "x", Reason: "bad", Partition: 1, Offset: 5}}},
		progress.Message{Operation: "op_unknown", Stage: progress.Indexed, Seqs: progress.Ranges{{0, 0}}},
	)
	waitStatus(t, r1.tr, ids[0], bulkop.Completed)
	waitStatus(t, r1.tr, ids[1], bulkop.Persisting)
	// Persisting is reached as soon as every seq is indexed, which may be
	// before the failure message is applied: wait for that too, so the
	// snapshot below is the final state.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if s, _ := r1.tr.State(ids[1]); s != nil && s.FailureCount() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("failure of %s not applied", ids[1])
		}
	}
	r1.tr.Abort(ids[2], "kafka down")
	want := map[string]string{}
	for _, id := range ids {
		want[id] = stateJSON(t, r1.tr, id)
	}
	r1.stop()

	r2 := h.start()
	for _, id := range ids {
		if got := stateJSON(t, r2.tr, id); got != want[id] {
			t.Errorf("operation %s after restart:\n%s\nwant\n%s", id, got, want[id])
		}
	}
	if got := r2.tr.List(Filter{}); len(got) != 3 || got[0].ID != ids[2] || got[2].ID != ids[0] {
		t.Errorf("list %+v", got)
	}
	if err := testutil.GatherAndCompare(r2.reg, stringsReader(`
# HELP termflow_ingest_operations Bulk operations known to the tracker, by status.
# TYPE termflow_ingest_operations gauge
termflow_ingest_operations{status="completed"} 1
termflow_ingest_operations{status="failed"} 1
termflow_ingest_operations{status="indexing"} 0
termflow_ingest_operations{status="partially_completed"} 0
termflow_ingest_operations{status="persisting"} 1
`), "termflow_ingest_operations"); err != nil {
		t.Error(err)
	}

	// Progress resumes from the committed offsets: the new tracker sees
	// only new messages.
	h.send(progress.Message{Operation: ids[1], Stage: progress.Persisted, Seqs: progress.Ranges{{0, 4}}})
	v := waitStatus(t, r2.tr, ids[1], bulkop.PartiallyCompleted)
	if v.FailedBatches != 1 || v.PersistedBatches != 3 {
		t.Errorf("view %+v", v)
	}
	if got := testutil.ToFloat64(r2.tr.m.progress.WithLabelValues("duplicate")); got != 0 {
		t.Errorf("%v progress messages re-delivered after a clean restart", got)
	}
	if got := testutil.ToFloat64(r2.tr.m.progress.WithLabelValues("applied")); got != 1 {
		t.Errorf("applied %v", got)
	}
	if problems, err := testutil.GatherAndLint(r2.reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
	r2.stop()

	// A third start sees the final state too.
	r3 := h.start()
	if got := stateJSON(t, r3.tr, ids[1]); got != stateJSON(t, r2.tr, ids[1]) {
		t.Errorf("third start:\n%s\nwant\n%s", got, stateJSON(t, r2.tr, ids[1]))
	}
}

func TestPendingProgress(t *testing.T) {
	h := newHarness(t)
	r := h.start()
	s, _ := bulkop.New(bulkop.NewID(time.Now()), "books", 2, 150, time.Now())
	h.send(progress.Message{Operation: s.ID(), Stage: progress.Persisted, Seqs: progress.Ranges{{0, 1}}})
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(r.tr.m.progress.WithLabelValues("pending")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("progress not kept")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := r.tr.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if v, _ := r.tr.View(s.ID()); v.Status != bulkop.Persisting {
		t.Fatalf("view before accept %+v", v)
	}
	if err := r.tr.Accept(context.Background(), s.ID()); err != nil {
		t.Fatal(err)
	}
	if v, _ := r.tr.View(s.ID()); v.Status != bulkop.Completed {
		t.Fatalf("view %+v", v)
	}
	if err := r.tr.Create(context.Background(), s); err == nil {
		t.Fatal("duplicate create accepted")
	}
}

func TestEmptyTopicRebuild(t *testing.T) {
	h := newHarness(t)
	r := h.start()
	if got := r.tr.List(Filter{}); len(got) != 0 {
		t.Fatalf("%+v", got)
	}
}

// TestUnacceptedFailedAtRestart: operations whose request was never
// acknowledged (the process died between Create and Accept) are failed by
// the next process, and that is published.
func TestUnacceptedFailedAtRestart(t *testing.T) {
	h := newHarness(t)
	r1 := h.start()
	now := time.Now()
	create := func(i int) string {
		s, err := bulkop.New(bulkop.NewID(now.Add(time.Duration(i)*time.Millisecond)), "books", 4, 2, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := r1.tr.Create(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		return s.ID()
	}
	accepted, inHand, allPersisted, aborted := create(0), create(1), create(2), create(3)
	if err := r1.tr.Accept(context.Background(), accepted); err != nil {
		t.Fatal(err)
	}
	// Every document of allPersisted reached MongoDB, but its request was
	// never acknowledged: it must not claim completed.
	h.send(progress.Message{Operation: allPersisted, Stage: progress.Persisted, Seqs: progress.Ranges{{0, 3}}},
		progress.Message{Operation: accepted, Stage: progress.Indexed, Seqs: progress.Ranges{{0, 1}}})
	waitStatus(t, r1.tr, allPersisted, bulkop.Persisting)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if v, _ := r1.tr.View(accepted); v.IndexedBatches == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("progress of the accepted operation not applied")
		}
	}
	r1.tr.Abort(aborted, "kafka did not acknowledge 4 of 4 documents")
	if err := r1.tr.Accept(context.Background(), aborted); err == nil {
		t.Error("an aborted operation was accepted")
	}
	r1.stop()

	r2 := h.start()
	for _, id := range []string{inHand, allPersisted} {
		v, _ := r2.tr.View(id)
		if v.Status != bulkop.Failed || v.AbortReason != RestartReason || v.CompletedAt == nil {
			t.Errorf("never acknowledged %s after restart: %+v", id, v)
		}
	}
	if v, _ := r2.tr.View(accepted); v.Status != bulkop.Indexing || v.IndexedBatches != 1 || v.AbortReason != "" {
		t.Errorf("accepted operation after restart: %+v", v)
	}
	if v, _ := r2.tr.View(aborted); v.AbortReason != "kafka did not acknowledge 4 of 4 documents" {
		t.Errorf("aborted operation after restart: %+v", v)
	}
	// Late progress does not revive a failed operation.
	h.send(progress.Message{Operation: inHand, Stage: progress.Persisted, Seqs: progress.Ranges{{0, 3}}},
		progress.Message{Operation: accepted, Stage: progress.Persisted, Seqs: progress.Ranges{{0, 3}}})
	waitStatus(t, r2.tr, accepted, bulkop.Completed)
	if v, _ := r2.tr.View(inHand); v.Status != bulkop.Failed || v.PersistedBatches != 2 {
		t.Errorf("never acknowledged after late progress: %+v", v)
	}
	want := stateJSON(t, r2.tr, inHand)
	r2.stop()

	// The failure was published: a third process reads it as is.
	r3 := h.start()
	if got := stateJSON(t, r3.tr, inHand); got != want {
		t.Errorf("third start:\n%s\nwant\n%s", got, want)
	}
	if v, _ := r3.tr.View(accepted); v.Status != bulkop.Completed {
		t.Errorf("accepted after third start: %+v", v)
	}
}

// TestStop: Stop publishes what changed last, within its context, and
// Run returns.
func TestStop(t *testing.T) {
	h := newHarness(t)
	r := h.start()
	s, _ := bulkop.New(bulkop.NewID(time.Now()), "books", 3, 2, time.Now())
	if err := r.tr.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	r.tr.Fail(s.ID(), []bulkop.Failure{{Seq: 2, ID: "c", Reason: "kafka did not acknowledge the document: boom",
		Partition: bulkop.NoLocation, Offset: bulkop.NoLocation}})
	r.tr.Abort(s.ID(), "kafka did not acknowledge 1 of 3 documents")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.tr.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if r.tr.Ready() == nil {
		t.Error("ready after Stop")
	}
	r.stop() // Run has returned

	recs := readAll(t, h, h.cfg.BulkOps)
	var last bulkop.State
	for _, rec := range recs {
		if string(rec.Key) == s.ID() {
			if err := json.Unmarshal(rec.Value, &last); err != nil {
				t.Fatal(err)
			}
		}
	}
	if last.Status() != bulkop.Failed || last.FailureCount() != 1 || last.Failures()[0].Offset != bulkop.NoLocation {
		t.Fatalf("last published state %+v", last.View())
	}
	// Stop of a tracker that never ran returns at once; Run after Stop does nothing.
	idle := New(h.cfg, nil, nil, nil, nil, zerolog.Nop(), nil)
	if err := idle.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := idle.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, h *harness, name string) []*kgo.Record {
	t.Helper()
	cl := h.client(kgo.ConsumeTopics(name), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []*kgo.Record
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		recs := cl.PollFetches(ctx).Records()
		cancel()
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

// TestStalledSeconds: the gauge is the age of the oldest last change among
// open operations, so one stuck operation shows while another progresses,
// and it falls to 0 when every operation is terminal.
func TestStalledSeconds(t *testing.T) {
	h := newHarness(t)
	r := h.start()
	base := time.Now()
	clock := base
	var mu sync.Mutex
	r.tr.mu.Lock()
	r.tr.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	r.tr.mu.Unlock()
	set := func(d time.Duration) { mu.Lock(); clock = base.Add(d); mu.Unlock() }

	stuck, _ := bulkop.New(bulkop.NewID(base), "books", 2, 150, base)
	busy, _ := bulkop.New(bulkop.NewID(base.Add(time.Millisecond)), "books", 2, 150, base)
	for _, s := range []*bulkop.State{stuck, busy} {
		if err := r.tr.Create(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		if err := r.tr.Accept(context.Background(), s.ID()); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.tr.stalledSeconds(); got != 0 {
		t.Fatalf("just created: %v s, want 0", got)
	}
	set(10 * time.Minute)
	h.send(progress.Message{Operation: busy.ID(), Stage: progress.Indexed, Seqs: progress.Ranges{{0, 1}}})
	deadline := time.Now().Add(5 * time.Second)
	for {
		if v, _ := r.tr.View(busy.ID()); v.IndexedDocuments > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("progress not applied")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := r.tr.stalledSeconds(); got != 600 {
		t.Fatalf("one operation progressed, the other not for 10 min: %v s, want 600", got)
	}
	for _, s := range []*bulkop.State{stuck, busy} {
		h.send(progress.Message{Operation: s.ID(), Stage: progress.Persisted, Seqs: progress.Ranges{{0, 1}}})
	}
	deadline = time.Now().Add(5 * time.Second)
	for r.tr.stalledSeconds() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("all completed: %v s, want 0", r.tr.stalledSeconds())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
