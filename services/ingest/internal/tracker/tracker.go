// Package tracker is the single writer of bulk-operation state.
//
// It keeps every operation in memory (fine at today's volumes: a state is
// a few hundred bytes plus 3 bits per document; operations are never
// evicted yet). At start it rebuilds them from the compacted bulk-ops topic,
// read from the start to its high watermark. Then it consumes the progress
// topic in the consumer group "termflow-ingest" with autocommit off: the
// progress messages of one poll are applied to their operations, every
// operation they changed is published to bulk-ops once (coalesced per poll),
// and only after Kafka acknowledged those records are the progress offsets
// committed. A crash between publish and commit re-delivers progress that is
// already applied, which the idempotent bitmaps of bulkop ignore, so a
// restart resumes with no manual step.
//
// An operation is created (published) before its documents are produced and
// accepted (published again, with the accepted marker) once Kafka
// acknowledged all of them; ingest answers 202 only after that. An
// operation found not accepted at start belongs to a request the previous
// process never answered (it was killed mid-request): the tracker aborts it
// with RestartReason, so it neither stays indexing forever nor completes
// with part of its documents.
//
// Only one ingest process may run against a bulk-ops topic: two would both
// write the same keys.
package tracker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/bulkop"
	"github.com/termflow/termflow/pkg/progress"
)

// RestartReason is the abort reason of an operation found not accepted at
// start.
const RestartReason = "ingest restarted before the request was acknowledged"

// Config configures a Tracker.
type Config struct {
	// BulkOps is the compacted state topic. The default value is "termflow.bulk-ops".
	BulkOps string
	// Progress is the progress topic. The default value is "termflow.progress".
	Progress string
	// Group is the consumer group on the progress topic. The default value
	// is "termflow-ingest".
	Group string
	// InstanceID is the tracker's static member id in Group: an ingest
	// process killed and restarted with the same id consumes progress again
	// at once instead of waiting for its old member's session to time out
	// (one ingest process runs per bulk-ops topic). The default value is
	// "ingest-1".
	InstanceID string
	// SessionTimeout is how long the group waits for a silent tracker. The
	// default value is 20s.
	SessionTimeout time.Duration
	// PollInterval bounds how long a poll waits for progress before the
	// tracker retries publishing states that failed to publish. The default
	// value is 1s.
	PollInterval time.Duration
	// PublishTimeout bounds one publication of states. The default value is 30s.
	PublishTimeout time.Duration
	// MaxPending is the number of progress messages kept for operations the
	// tracker does not know yet. The default value is 10000.
	MaxPending int
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{BulkOps: "termflow.bulk-ops", Progress: "termflow.progress", Group: "termflow-ingest",
		InstanceID: "ingest-1", SessionTimeout: 20 * time.Second, PollInterval: time.Second, PublishTimeout: 30 * time.Second, MaxPending: 10000}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.BulkOps == "" || c.Progress == "":
		return errors.New("tracker: empty topic name")
	case c.Group == "" || c.InstanceID == "":
		return errors.New("tracker: empty consumer group or instance id")
	case c.SessionTimeout <= 0:
		return errors.New("tracker: session timeout must be positive")
	case c.PollInterval <= 0 || c.PublishTimeout <= 0:
		return errors.New("tracker: poll interval and publish timeout must be positive")
	case c.MaxPending < 0:
		return errors.New("tracker: negative max pending")
	}
	return nil
}

// ConsumerOpts are the options of the progress consumer the tracker needs;
// add them to the connection options of the client passed to New.
func ConsumerOpts(cfg Config) []kgo.Opt {
	return []kgo.Opt{
		kgo.ConsumerGroup(cfg.Group),
		kgo.InstanceID(cfg.InstanceID),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(time.Second),
		kgo.ConsumeTopics(cfg.Progress),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	}
}

type entry struct {
	state     *bulkop.State
	version   uint64        // bumped by every change
	published uint64        // highest version Kafka acknowledged
	changed   chan struct{} // closed and replaced on every change
}

// Tracker owns the state of every operation.
type Tracker struct {
	cfg        Config
	producer   *kgo.Client
	consumer   *kgo.Client
	adm        *kadm.Client
	readerOpts []kgo.Opt
	log        zerolog.Logger
	now        func() time.Time
	notifier   Notifier // may be nil

	ready atomic.Bool
	pubMu sync.Mutex // serializes marshal+enqueue so a key's records reach Kafka in version order

	runMu   sync.Mutex
	running bool               // Run was called
	stopped bool               // Stop was called
	cancel  context.CancelFunc // ends Run's loop
	final   context.Context    // bounds Run's last publication, from Stop
	done    chan struct{}      // closed when Run returns

	mu       sync.Mutex
	ops      map[string]*entry
	pending  map[string][]progress.Message
	nPending int

	m metrics
}

type metrics struct {
	operations *prometheus.GaugeVec
	progress   *prometheus.CounterVec
	published  prometheus.Counter
}

// New returns a tracker. producer writes bulk-ops; consumer must have been
// created with ConsumerOpts(cfg); adm lists offsets; readerOpts (connection
// options only) make the short-lived client that reads bulk-ops at start.
func New(cfg Config, producer, consumer *kgo.Client, adm *kadm.Client, readerOpts []kgo.Opt,
	log zerolog.Logger, reg prometheus.Registerer) *Tracker {
	t := &Tracker{cfg: cfg, producer: producer, consumer: consumer, adm: adm, readerOpts: readerOpts,
		log: log, now: time.Now, ops: map[string]*entry{}, pending: map[string][]progress.Message{},
		done: make(chan struct{})}
	t.m = metrics{
		operations: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "termflow_ingest_operations",
			Help: "Bulk operations known to the tracker, by status."}, []string{"status"}),
		progress: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termflow_ingest_progress_messages_total",
			Help: "Progress messages consumed, by result (applied, duplicate, pending, invalid)."}, []string{"result"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "termflow_ingest_states_published_total",
			Help: "Operation states written to the bulk-ops topic."}),
	}
	for _, s := range []bulkop.Status{bulkop.Indexing, bulkop.Persisting, bulkop.Completed, bulkop.PartiallyCompleted, bulkop.Failed} {
		t.m.operations.WithLabelValues(string(s))
	}
	for _, r := range []string{"applied", "duplicate", "pending", "invalid"} {
		t.m.progress.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(t.m.operations, t.m.progress, t.m.published,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "termflow_ingest_operation_stalled_seconds",
				Help: "Seconds since the open operation that changed least recently last changed (0 when none is open): one stuck operation shows even while others progress."},
				t.stalledSeconds))
	}
	return t
}

// stalledSeconds is the age of the oldest last change among open
// operations.
func (t *Tracker) stalledSeconds() float64 {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var oldest time.Time
	for _, e := range t.ops {
		if e.state.Status().Terminal() {
			continue
		}
		if u := e.state.UpdatedAt(); oldest.IsZero() || u.Before(oldest) {
			oldest = u
		}
	}
	if oldest.IsZero() {
		return 0
	}
	return max(0, now.Sub(oldest).Seconds())
}

// Ready reports nil once the state is rebuilt and progress is consumed.
func (t *Tracker) Ready() error {
	if !t.ready.Load() {
		return errors.New("operation state not rebuilt yet")
	}
	return nil
}

// Run rebuilds the state, fails the operations that were never accepted,
// then applies progress until ctx is done or Stop is called. Before it
// returns it publishes the changed states and commits the progress they
// cover, within the context given to Stop (or 5s). Call it once.
func (t *Tracker) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t.runMu.Lock()
	if t.running || t.stopped {
		t.runMu.Unlock()
		return nil
	}
	t.running, t.cancel = true, cancel
	t.runMu.Unlock()
	defer close(t.done)

	start := time.Now()
	if err := t.rebuild(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	t.mu.Lock()
	n := len(t.ops)
	t.mu.Unlock()
	t.log.Info().Int("operations", n).Dur("took", time.Since(start)).Msg("operation state rebuilt")
	if n := t.abortUnaccepted(); n > 0 {
		// Published by the first flush below.
		t.log.Warn().Int("operations", n).Msg("operations never acknowledged failed")
	}
	t.notifyRebuilt()
	t.ready.Store(true)
	defer t.ready.Store(false)

	for {
		pollCtx, cancel := context.WithTimeout(ctx, t.cfg.PollInterval)
		fetches := t.consumer.PollRecords(pollCtx, 10000)
		cancel()
		if fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				t.log.Warn().Str("topic", topic).Int32("partition", p).Err(err).Msg("fetch progress")
			}
		})
		fetches.EachRecord(t.applyRecord)
		if ctx.Err() != nil {
			// Final publish and commit on a fresh context: the caller closes
			// the clients only after Run returns.
			fin, cancel := t.finalContext()
			t.flush(fin)
			cancel()
			t.consumer.AllowRebalance()
			return nil
		}
		t.flush(ctx)
		t.consumer.AllowRebalance()
	}
}

// Stop ends Run: it makes its last publication of changed states and
// commit of progress within ctx, and returns. Stop waits for that, or for
// ctx. Changes made after Stop (an Abort of a request still in hand) are
// not published by this process.
func (t *Tracker) Stop(ctx context.Context) error {
	t.runMu.Lock()
	t.stopped = true
	running, cancel := t.running, t.cancel
	if t.final == nil {
		t.final = ctx
	}
	t.runMu.Unlock()
	if !running {
		return nil
	}
	cancel()
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop tracker: %w", ctx.Err())
	}
}

// finalContext bounds Run's last publication: the context given to Stop,
// else 5s.
func (t *Tracker) finalContext() (context.Context, context.CancelFunc) {
	t.runMu.Lock()
	defer t.runMu.Unlock()
	if t.final != nil {
		return context.WithCancel(t.final)
	}
	return context.WithTimeout(context.Background(), 5*time.Second)
}

// abortUnaccepted aborts the operations that are neither accepted nor
// aborted, and returns how many.
func (t *Tracker) abortUnaccepted() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for id, e := range t.ops {
		if e.state.Accepted() || e.state.AbortReason() != "" {
			continue
		}
		before := e.state.Status()
		e.state.Abort(RestartReason, t.now())
		t.changedLocked(e, before)
		t.log.Info().Str("operation", id).Msg("operation never acknowledged failed")
		n++
	}
	return n
}

// flush publishes every changed state and, if all were acknowledged,
// commits the progress consumed so far.
func (t *Tracker) flush(ctx context.Context) {
	if err := t.publishDirty(ctx); err != nil {
		t.log.Warn().Str("topic", t.cfg.BulkOps).Err(err).Msg("publish operation states")
		return
	}
	if err := t.consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.log.Warn().Str("topic", t.cfg.Progress).Err(err).Msg("commit progress offsets")
	}
}

// rebuild reads bulk-ops from its start to its high watermark.
func (t *Tracker) rebuild(ctx context.Context) error {
	ends, err := t.adm.ListEndOffsets(ctx, t.cfg.BulkOps)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("list end offsets of %q: %w", t.cfg.BulkOps, err)
	}
	starts, err := t.adm.ListStartOffsets(ctx, t.cfg.BulkOps)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("list start offsets of %q: %w", t.cfg.BulkOps, err)
	}
	want := map[int32]int64{} // partition → end offset, for partitions holding records
	assign := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && o.Offset > s.Offset {
			want[o.Partition] = o.Offset
			assign[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(want) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(slices.Clone(t.readerOpts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{t.cfg.BulkOps: assign}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		return fmt.Errorf("bulk-ops reader: %w", err)
	}
	defer cl.Close()
	// The last record of a partition is in its active segment, which
	// compaction leaves alone, so reading up to end-1 always terminates. As
	// a guard against gaps at the end (transaction markers), a partition that
	// yields nothing for idleLimit polls in a row is taken as read.
	const idleLimit = 5
	idle := 0
	for len(want) > 0 {
		pollCtx, cancel := context.WithTimeout(ctx, t.cfg.PollInterval)
		fetches := cl.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.log.Warn().Str("topic", topic).Int32("partition", p).Err(err).Msg("read bulk-ops")
			}
		})
		got := false
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			got = true
			for _, r := range p.Records {
				t.load(r)
			}
			if end, ok := want[p.Partition]; ok && p.Records[len(p.Records)-1].Offset+1 >= end {
				delete(want, p.Partition)
			}
		})
		if got {
			idle = 0
		} else if idle++; idle >= idleLimit {
			t.log.Warn().Str("topic", t.cfg.BulkOps).Msg("bulk-ops ended before its high watermark")
			break
		}
	}
	return nil
}

// load installs one bulk-ops record read at start.
func (t *Tracker) load(r *kgo.Record) {
	id := string(r.Key)
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.ops[id]; ok {
		t.m.operations.WithLabelValues(string(old.state.Status())).Dec()
		delete(t.ops, id)
	}
	if r.Value == nil {
		return // tombstone: the operation was deleted
	}
	s := new(bulkop.State)
	if err := json.Unmarshal(r.Value, s); err != nil {
		t.log.Warn().Str("topic", r.Topic).Int32("partition", r.Partition).Int64("offset", r.Offset).
			Str("operation", id).Err(err).Msg("skip invalid operation state")
		return
	}
	t.ops[id] = &entry{state: s, version: 1, published: 1, changed: make(chan struct{})}
	t.m.operations.WithLabelValues(string(s.Status())).Inc()
}

// applyRecord applies one progress record.
func (t *Tracker) applyRecord(r *kgo.Record) {
	m, err := progress.Decode(r.Value)
	if err != nil {
		t.m.progress.WithLabelValues("invalid").Inc()
		t.log.Warn().Str("topic", r.Topic).Int32("partition", r.Partition).Int64("offset", r.Offset).Err(err).Msg("skip invalid progress")
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.ops[m.Operation]
	if !ok {
		if t.nPending >= t.cfg.MaxPending {
			t.m.progress.WithLabelValues("invalid").Inc()
			t.log.Warn().Str("operation", m.Operation).Int64("offset", r.Offset).Msg("drop progress of unknown operation")
			return
		}
		t.pending[m.Operation] = append(t.pending[m.Operation], m)
		t.nPending++
		t.m.progress.WithLabelValues("pending").Inc()
		t.log.Debug().Str("operation", m.Operation).Int64("offset", r.Offset).Msg("progress of unknown operation kept")
		return
	}
	t.applyLocked(e, m)
}

func (t *Tracker) applyLocked(e *entry, m progress.Message) {
	before := e.state.Status()
	changed, err := e.state.Apply(m, t.now())
	if err != nil {
		t.log.Warn().Str("operation", m.Operation).Err(err).Msg("progress out of range")
	}
	if !changed {
		t.m.progress.WithLabelValues("duplicate").Inc()
		return
	}
	t.m.progress.WithLabelValues("applied").Inc()
	t.changedLocked(e, before)
}

// changedLocked records a change of e, whose status was before.
func (t *Tracker) changedLocked(e *entry, before bulkop.Status) {
	if after := e.state.Status(); after != before {
		t.m.operations.WithLabelValues(string(before)).Dec()
		t.m.operations.WithLabelValues(string(after)).Inc()
	}
	t.statusChangedLocked(e, before)
	e.version++
	close(e.changed)
	e.changed = make(chan struct{})
}

// Create registers a new operation and publishes its initial state,
// returning once Kafka acknowledged it. Documents must be produced only
// after that, so progress never precedes its operation. If publishing
// fails the operation stays registered (abort it).
func (t *Tracker) Create(ctx context.Context, s *bulkop.State) error {
	t.mu.Lock()
	if _, ok := t.ops[s.ID()]; ok {
		t.mu.Unlock()
		return fmt.Errorf("operation %s exists", s.ID())
	}
	e := &entry{state: s, version: 1, changed: make(chan struct{})}
	t.ops[s.ID()] = e
	t.m.operations.WithLabelValues(string(s.Status())).Inc()
	if ms, ok := t.pending[s.ID()]; ok {
		delete(t.pending, s.ID())
		t.nPending -= len(ms)
		for _, m := range ms {
			t.applyLocked(e, m)
		}
	}
	t.mu.Unlock()
	return t.publish(ctx, []string{s.ID()})
}

// Accept marks an operation accepted (Kafka acknowledged every document of
// its request) and publishes its state, returning once Kafka acknowledged
// it. The request may be answered 202 only after that.
func (t *Tracker) Accept(ctx context.Context, id string) error {
	t.mu.Lock()
	e, ok := t.ops[id]
	switch {
	case !ok:
		t.mu.Unlock()
		return fmt.Errorf("operation %s not found", id)
	case e.state.AbortReason() != "":
		t.mu.Unlock()
		return fmt.Errorf("operation %s was aborted: %s", id, e.state.AbortReason())
	}
	before := e.state.Status()
	if e.state.Accept(t.now()) {
		t.changedLocked(e, before)
	}
	t.mu.Unlock()
	return t.publish(ctx, []string{id})
}

// Abort marks an operation failed for reason. The tracker loop publishes
// it (retrying while Kafka is unavailable).
func (t *Tracker) Abort(id, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.ops[id]; ok {
		before := e.state.Status()
		if e.state.Abort(reason, t.now()) {
			t.changedLocked(e, before)
		}
	}
}

// Fail records failed documents of an operation (for example documents
// Kafka did not acknowledge); their Partition and Offset should be
// bulkop.NoLocation. The tracker loop publishes the change.
func (t *Tracker) Fail(id string, fs []bulkop.Failure) {
	if len(fs) == 0 {
		return
	}
	m := progress.Message{Operation: id, Stage: progress.Failed, Errors: fs}
	seqs := make([]int, len(fs))
	for i, f := range fs {
		seqs[i] = f.Seq
	}
	m.Seqs = progress.RangesOf(seqs)
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.ops[id]; ok {
		before := e.state.Status()
		changed, err := e.state.Apply(m, t.now())
		if err != nil {
			t.log.Warn().Str("operation", id).Err(err).Msg("failures out of range")
		}
		if changed {
			t.changedLocked(e, before)
		}
	}
}

// publishDirty publishes every operation changed since its last publication.
func (t *Tracker) publishDirty(ctx context.Context) error {
	t.mu.Lock()
	var ids []string
	for id, e := range t.ops {
		if e.version > e.published {
			ids = append(ids, id)
		}
	}
	t.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.PublishTimeout)
	defer cancel()
	return t.publish(ctx, ids)
}

// publish writes the current states of ids to bulk-ops and waits for the
// acknowledgements.
func (t *Tracker) publish(ctx context.Context, ids []string) error {
	type pub struct {
		id      string
		version uint64
	}
	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
		errs  []error
	)
	done := make([]pub, 0, len(ids))
	var acked []pub
	t.pubMu.Lock()
	for _, id := range ids {
		t.mu.Lock()
		e, ok := t.ops[id]
		if !ok {
			t.mu.Unlock()
			continue
		}
		b, err := json.Marshal(e.state)
		p := pub{id, e.version}
		t.mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("encode operation %s: %w", id, err))
			continue
		}
		done = append(done, p)
		wg.Add(1)
		t.producer.Produce(ctx, &kgo.Record{Topic: t.cfg.BulkOps, Key: []byte(id), Value: b}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			errMu.Lock()
			defer errMu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("operation %s: %w", p.id, err))
				return
			}
			acked = append(acked, p)
		})
	}
	t.pubMu.Unlock()
	wg.Wait()
	t.mu.Lock()
	for _, p := range acked {
		if e, ok := t.ops[p.id]; ok && p.version > e.published {
			e.published = p.version
		}
	}
	t.mu.Unlock()
	t.m.published.Add(float64(len(acked)))
	if len(errs) > 0 {
		return fmt.Errorf("publish %d of %d states: %w", len(errs), len(done), errors.Join(errs...))
	}
	return nil
}

// View returns the API view of an operation.
func (t *Tracker) View(id string) (bulkop.View, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.ops[id]
	if !ok {
		return bulkop.View{}, false
	}
	return e.state.View(), true
}

// State returns a copy of an operation's state.
func (t *Tracker) State(id string) (*bulkop.State, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.ops[id]
	if !ok {
		return nil, false
	}
	return e.state.Clone(), true
}

// Wait blocks until the operation's status has reached target (see
// bulkop.Status.Reached) or ctx is done, and returns the view then.
func (t *Tracker) Wait(ctx context.Context, id string, target bulkop.Status) (bulkop.View, bool) {
	for {
		t.mu.Lock()
		e, ok := t.ops[id]
		if !ok {
			t.mu.Unlock()
			return bulkop.View{}, false
		}
		v, ch := e.state.View(), e.changed
		t.mu.Unlock()
		if v.Status.Reached(target) {
			return v, true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return v, true
		}
	}
}

// Filter selects operations for List.
type Filter struct {
	Index  string        // "" for any
	Status bulkop.Status // "" for any
	Limit  int           // at most this many
}

// List returns the views of matching operations, newest first.
func (t *Tracker) List(f Filter) []bulkop.View {
	t.mu.Lock()
	out := make([]bulkop.View, 0)
	for _, e := range t.ops {
		if (f.Index == "" || e.state.Index() == f.Index) && (f.Status == "" || e.state.Status() == f.Status) {
			out = append(out, e.state.View())
		}
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b bulkop.View) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out
}
