// Package indexer is the indexer service: a member of the consumer group on
// the documents topic that analyzes each polled batch of a partition, keeps
// postings and the forward index in Pebble, and hands every batch to the
// persister as one dirty-terms event.
//
// Per batch, in this order:
//
//  1. analyze the records and build the Pebble batch and the event;
//  2. produce the event, the progress messages and the dead letters, and
//     wait until Kafka acknowledged all of them;
//  3. commit the Pebble batch (postings, forward entries and the
//     partition's applied offset together, fsynced);
//  4. mark the records for the group's offset commit.
//
// A crash before 2 completes loses nothing (the records are polled again).
// A crash between 2 and 3 re-produces the same event after the restart; the
// persister drops records it already applied. A crash between 3 and 4 makes
// the group redeliver records that Pebble already holds; they are skipped by
// the applied offset. A partition this indexer has no current state for (it
// never owned it, lost its Pebble directory, or another indexer moved it
// ahead) is first caught up from the documents topic, silently, from its
// applied offset to the group's committed offset.
package indexer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/termflow/termflow/pkg/dirtyterms"
	"github.com/termflow/termflow/pkg/document"
	"github.com/termflow/termflow/pkg/failpoint"
	"github.com/termflow/termflow/pkg/kclient"
	"github.com/termflow/termflow/pkg/pebblestore"
	"github.com/termflow/termflow/pkg/progress"
	"github.com/termflow/termflow/pkg/topic"
)

// Config configures an indexer.
type Config struct {
	// InstanceID names this indexer in events and logs, and is its static
	// member id in the consumer group (see SessionTimeout). Two running
	// indexers must never share it. The default value is "indexer-1".
	InstanceID string
	// Group is the consumer group. The default value is "termflow-indexer".
	Group string
	// MaxPollRecords bounds the records taken per poll. A poll takes the
	// buffered records partition by partition, and the next poll waits
	// for all of the poll's partitions, so the cap should rarely bind:
	// fetchBytes is what bounds a poll. The default value is 20000 (5000
	// until the twelfth session, when a zipf-100k poll held 1.45 of the 4
	// partitions on average).
	MaxPollRecords int
	// MaxDocumentBytes bounds a documents-topic record. The default value is
	// 1 MiB.
	MaxDocumentBytes int
	// SessionTimeout is how long the group waits for a silent member before
	// it hands the member's partitions to the others. The indexer is a
	// static member (its InstanceID is the group instance id): an indexer
	// that is killed and restarted within the timeout gets its partitions
	// back at once, without a rebalance, and with them the Pebble state it
	// already has; one that stays down leaves its partitions unconsumed for
	// this long. A restart (process start, topic check, Pebble's WAL replay)
	// takes a few seconds, longer under an orchestrator's restart back-off,
	// so the default leaves room for that while keeping the stall of an
	// indexer that died for good short. A graceful stop does not wait for it
	// (see LeaveGroupOnShutdown). The broker bounds it by
	// group.min.session.timeout.ms (6s) and group.max.session.timeout.ms.
	// The default value is 20s.
	SessionTimeout time.Duration
	// ShutdownTimeout bounds a graceful stop, from the cancellation of Run's
	// context: finishing the batch in hand (which gets three quarters of
	// it), committing the marked offsets, leaving the group and closing the
	// client. A batch not handed over in its time is abandoned (its records
	// are polled again by whoever owns the partition next). The default
	// value is 30s.
	ShutdownTimeout time.Duration
	// LeaveGroupOnShutdown makes a graceful stop leave the group explicitly,
	// so the other indexers take the partitions over at once. A static
	// member does not leave on close by itself; without this, its partitions
	// wait for its restart or for SessionTimeout (what a rolling restart
	// that keeps every indexer's partitions in place wants). The default
	// value is true.
	LeaveGroupOnShutdown bool
	// MaxEventBytes bounds an encoded dirty-terms event. A batch whose
	// event is larger is split in halves, each indexed and handed over in
	// turn. The producer refuses a record larger than its batch limit
	// (measured before compression), and a batch of short documents with
	// many terms reaches it: a term's ops cost several times the source
	// text they come from (10,000 zipf documents, 3.6 MB of source, make a
	// 33.7 MB event). The default value is 31 MiB, 1 MiB under the
	// producer's limit; tests make it small.
	MaxEventBytes int
	// Parallelism bounds the batches being indexed at once: analyzed,
	// written into their Pebble batch and encoded as an event, the work
	// that needs a core. Waiting for the event's acknowledgement and
	// Pebble's commit does not hold a slot. A poll's partitions are
	// indexed in parallel; with more of them than cores, they all used to
	// finish together at the end of the poll and then queued to hand over
	// one at a time, while with a slot per core the first ones hand over
	// while the others are indexed. (A partition's catch-up after a lost
	// store, rare and handed over to no one, takes no slot.) The default
	// value, 0, is GOMAXPROCS.
	Parallelism int
	Topics      topic.Config
	Kafka       kclient.Config
	// Failpoints crash the process at named points for fault tests
	// (TERMFLOW_FAILPOINTS); nil in production. Points:
	// indexer.before-hand-over (batch analyzed, nothing produced),
	// indexer.after-hand-over (event acknowledged, Pebble not committed),
	// indexer.after-pebble-commit (Pebble committed, records not marked).
	Failpoints *failpoint.Set
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{InstanceID: "indexer-1", Group: "termflow-indexer", MaxPollRecords: 20000,
		MaxDocumentBytes: document.DefaultMaxBytes, MaxEventBytes: maxEventBytes, SessionTimeout: 20 * time.Second,
		ShutdownTimeout: 30 * time.Second, LeaveGroupOnShutdown: true,
		Topics: topic.Defaults(), Kafka: kclient.Config{Brokers: "127.0.0.1:9092"}}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.InstanceID == "" || filepath.Base(c.InstanceID) != c.InstanceID {
		errs = append(errs, fmt.Errorf("instance id %q: want a plain name", c.InstanceID))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("empty consumer group"))
	}
	if c.MaxEventBytes < 1 || c.MaxEventBytes > maxEventBytes {
		errs = append(errs, fmt.Errorf("max event bytes %d: want 1 to %d", c.MaxEventBytes, maxEventBytes))
	}
	if c.Parallelism < 0 {
		errs = append(errs, fmt.Errorf("parallelism %d: want 0 (one per core) or more", c.Parallelism))
	}
	if c.MaxPollRecords < 1 {
		errs = append(errs, fmt.Errorf("max-poll-records %d: want at least 1", c.MaxPollRecords))
	}
	if c.MaxDocumentBytes < 1 || c.MaxDocumentBytes > topic.DocumentsMaxMessageBytes {
		errs = append(errs, fmt.Errorf("max-document-bytes %d: want 1 to %d (the documents topic's limit)", c.MaxDocumentBytes, topic.DocumentsMaxMessageBytes))
	}
	if c.SessionTimeout < time.Second {
		errs = append(errs, fmt.Errorf("session timeout %s: want at least 1s", c.SessionTimeout))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown timeout %s: want positive", c.ShutdownTimeout))
	}
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Topics.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Indexer consumes the documents topic.
type Indexer struct {
	cfg     Config
	store   *pebblestore.Store
	client  *kgo.Client
	log     zerolog.Logger
	m       *metrics
	started time.Time
	// slots hold a token per batch being indexed (Config.Parallelism).
	slots chan struct{}

	closeOnce sync.Once

	mu         sync.Mutex
	ready      map[int32]bool // partitions whose Pebble state is current
	owned      map[int32]bool // partitions assigned to this indexer
	polls      bool
	stopping   bool
	assigned   bool // the first assignment was seen
	firstBatch bool // the first batch was handed over
}

// Fetch and produce sizes. A fetch returns at least one whole record batch
// per partition even when it is larger than the limits (KIP-74), so a record
// up to the documents topic's limit never stalls a partition; it is then
// dead-lettered by MaxDocumentBytes. A partition's part of a fetch, and so a
// batch, stays near fetchPartitionBytes. fetchBytes bounds what a backlog
// keeps buffered in the client: decompressed, a fetch of short documents is
// several times its size in records on the heap (at 64 MiB, with a backlog,
// they were most of the indexer's 300 MB live heap). It is four partitions'
// worth, so that a poll, which takes what is buffered, holds every
// partition of a bulk load at once and indexes them in parallel; with 4 MiB
// per partition and 16 MiB in all, polls of 5000 records had taken a
// backlog one partition and a half at a time (zipf-100k to indexed 15,189
// docs/s against 17,268 now, zipf-10k 15,649 against 19,980, debian 15,329
// against 16,886; three alternating rounds each). producerBatchBytes must
// take the largest dead letter (a documents record plus headers) and stay
// below the limit of the topics the indexer produces to.
const (
	fetchPartitionBytes = 1 << 20
	fetchBytes          = 4 << 20
	producerBatchBytes  = 32 << 20
	// maxEventBytes is the largest dirty-terms event (Config.MaxEventBytes):
	// 1 MiB under producerBatchBytes leaves room for the record's key and
	// headers.
	maxEventBytes = producerBatchBytes - 1<<20
)

// New builds an indexer; Run starts consuming.
func New(cfg Config, store *pebblestore.Store, log zerolog.Logger, reg prometheus.Registerer) (*Indexer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	slots := cfg.Parallelism
	if slots == 0 {
		slots = runtime.GOMAXPROCS(0)
	}
	ix := &Indexer{cfg: cfg, store: store, log: log, m: newMetrics(reg), ready: map[int32]bool{}, owned: map[int32]bool{}, started: time.Now(),
		slots: make(chan struct{}, slots)}
	opts := append(kclient.Options(cfg.Kafka, "indexer", log, reg),
		kgo.ConsumerGroup(cfg.Group),
		kgo.InstanceID(cfg.InstanceID),
		kgo.SessionTimeout(cfg.SessionTimeout),
		// Members learn of a rebalance (another indexer joining or
		// leaving) at their next heartbeat: every second, not Kafka's 3s.
		kgo.HeartbeatInterval(min(time.Second, cfg.SessionTimeout/3)),
		kgo.ConsumeTopics(cfg.Topics.Documents),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.BlockRebalanceOnPoll(),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(time.Second),
		kgo.OnPartitionsAssigned(ix.onAssigned),
		kgo.OnPartitionsRevoked(ix.onRevoked),
		kgo.OnPartitionsLost(ix.onLost),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(producerBatchBytes),
		// lz4 like the dirty-terms topic (the broker keeps the
		// producer's batches as they are). zstd, even at its fastest
		// level, cost the indexer a sixth of its CPU on zipf-100k
		// (0.66 s of 3.9 s); lz4 costs half that, and the persister
		// decompresses it faster too. The events are larger on disk.
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.FetchMaxPartitionBytes(fetchPartitionBytes),
		kgo.FetchMaxBytes(fetchBytes),
		kgo.ProducerLinger(0),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	ix.client = cl
	ix.m.registerLag(reg, cl, cfg.Group, cfg.Topics.Documents)
	return ix, nil
}

// Close closes the client without the graceful steps of Run's shutdown; it
// is for an indexer that never ran. After Run it does nothing.
func (ix *Indexer) Close() {
	ix.closeOnce.Do(func() {
		ix.client.AllowRebalance()
		ix.client.Close()
	})
}

// Ready reports whether the indexer polls.
func (ix *Indexer) Ready() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.stopping {
		return errors.New("shutting down")
	}
	if !ix.polls {
		return errors.New("not polling yet")
	}
	return nil
}

func (ix *Indexer) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.polls = true
	ps := assigned[ix.cfg.Topics.Documents]
	if !ix.assigned && len(ps) > 0 {
		// How long a (re)started indexer waits for its partitions: with
		// static membership a restart within the session timeout gets them
		// at its first join.
		ix.assigned = true
		d := time.Since(ix.started)
		ix.m.startToAssigned.Set(d.Seconds())
		ix.log.Info().Str("topic", ix.cfg.Topics.Documents).Dur("since_start", d).Ints32("partitions", ps).Msg("first partitions assigned")
	}
	for _, p := range ps {
		delete(ix.ready, p) // state is checked again before the first batch
		ix.owned[p] = true
		ix.log.Info().Str("topic", ix.cfg.Topics.Documents).Int32("partition", p).Msg("partition assigned")
	}
}

func (ix *Indexer) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	// Every polled batch was finished before the rebalance could start
	// (BlockRebalanceOnPoll), so what is marked is everything done. After
	// this callback franz-go drops the marks of the revoked partitions, so
	// nothing is ever committed for a partition another indexer owns.
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		ix.log.Warn().Err(err).Msg("commit on revoke failed")
	}
	ix.forget(revoked)
}

func (ix *Indexer) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) { ix.forget(lost) }

func (ix *Indexer) forget(ps map[string][]int32) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, p := range ps[ix.cfg.Topics.Documents] {
		delete(ix.ready, p)
		delete(ix.owned, p)
		ix.log.Info().Str("topic", ix.cfg.Topics.Documents).Int32("partition", p).Msg("partition released")
	}
}

// Run polls until ctx is done or a batch fails, then shuts down within
// ShutdownTimeout: it finishes the batch in hand (a catch-up in progress is
// abandoned, it hands nothing over), commits the marked offsets, leaves the
// group (LeaveGroupOnShutdown) and closes the client. Pebble stays open; the
// caller closes it after Run returned.
func (ix *Indexer) Run(ctx context.Context) error {
	// work is the context of the hand-over: it outlives ctx by three
	// quarters of ShutdownTimeout, so a stop finishes the batch in hand;
	// final, the context of committing, leaving and closing, by all of it,
	// so a batch that never gets its acks does not also cost the leave.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	final, cancelFinal := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelFinal()
	var budget sync.Once
	startBudget := func() {
		budget.Do(func() {
			time.AfterFunc(ix.cfg.ShutdownTimeout*3/4, cancelWork)
			time.AfterFunc(ix.cfg.ShutdownTimeout, cancelFinal)
		})
	}
	defer context.AfterFunc(ctx, startBudget)()

	err := ix.poll(ctx, work)
	startBudget()
	ix.mu.Lock()
	ix.stopping = true
	ix.mu.Unlock()
	start := time.Now()
	serr := ix.shutdown(final)
	if serr != nil {
		ix.log.Error().Err(serr).Dur("took", time.Since(start)).Msg("shutdown incomplete")
	} else {
		ix.log.Info().Dur("took", time.Since(start)).Msg("left the group")
	}
	return errors.Join(err, serr)
}

func (ix *Indexer) poll(ctx, work context.Context) error {
	for {
		if err := ix.catchUpAssigned(ctx, work); err != nil {
			return err
		}
		fetches := ix.client.PollRecords(ctx, ix.cfg.MaxPollRecords)
		ix.mu.Lock()
		ix.polls = true
		ix.mu.Unlock()
		if fetches.IsClientClosed() || ctx.Err() != nil {
			ix.client.AllowRebalance()
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			ix.log.Warn().Str("topic", t).Int32("partition", p).Err(err).Msg("fetch error")
		})
		// Partitions are independent: index them in parallel. The batch is
		// finished even when ctx is cancelled meanwhile (the hand-over uses
		// work), so a shutdown never leaves a half-handled batch.
		g, gwork := errgroup.WithContext(work)
		g.SetLimit(4)
		po := &pollOrder{pending: map[string]bool{}}
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) > 0 {
				po.pending[eventKey(fp.Topic, fp.Partition)] = true
			}
		})
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			hwm := fp.HighWatermark
			g.Go(func() error { return ix.handle(ctx, gwork, fp.Topic, fp.Partition, fp.Records, hwm, po) })
		})
		err := g.Wait()
		ix.client.AllowRebalance()
		if err != nil {
			return err
		}
	}
}

// shutdown commits what was marked, leaves the group and closes the client.
func (ix *Indexer) shutdown(ctx context.Context) error {
	var errs []error
	ix.closeOnce.Do(func() {
		ix.client.AllowRebalance()
		if err := ix.client.CommitMarkedOffsets(ctx); err != nil {
			errs = append(errs, fmt.Errorf("commit offsets: %w", err))
		}
		// Stop being a member: franz-go revokes everything (onRevoked
		// commits again, a no-op) but, as a static member, does not tell
		// the group, which would keep the partitions for our restart.
		if err := ix.client.LeaveGroupContext(ctx); err != nil {
			errs = append(errs, fmt.Errorf("leave group: %w", err))
		}
		if ix.cfg.LeaveGroupOnShutdown && ctx.Err() == nil {
			if err := ix.leaveStatic(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		closed := make(chan struct{})
		go func() {
			ix.client.Close()
			close(closed)
		}()
		select {
		case <-closed:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("close kafka client: %w", ctx.Err()))
		}
	})
	return errors.Join(errs...)
}

// leaveStatic removes this indexer's instance id from the group (KIP-345),
// which rebalances the group now instead of after SessionTimeout.
func (ix *Indexer) leaveStatic(ctx context.Context) error {
	resp, err := kadm.NewClient(ix.client).LeaveGroup(ctx,
		kadm.LeaveGroup(ix.cfg.Group).InstanceIDs(ix.cfg.InstanceID).Reason("indexer shutting down"))
	if err == nil {
		err = resp.Error()
	}
	if err != nil && !errors.Is(err, kerr.UnknownMemberID) { // franz-go may have left already
		return fmt.Errorf("leave group %s as %s: %w", ix.cfg.Group, ix.cfg.InstanceID, err)
	}
	return nil
}

// handle brings the partition's state up to date and indexes one batch. A
// catch-up stops with stop (it hands nothing over; the batch is left
// unmarked); the hand-over runs on work.
func (ix *Indexer) handle(stop, work context.Context, tp string, p int32, recs []*kgo.Record, hwm int64, po *pollOrder) error {
	// However the partition ends, the poll's other events stop waiting
	// for its event (a no-op once its event was handed over).
	defer po.done(eventKey(tp, p))
	applied, err := ix.store.Applied(tp, p)
	if err != nil {
		return err
	}
	ix.mu.Lock()
	ready := ix.ready[p]
	ix.mu.Unlock()
	if !ready {
		if first := recs[0].Offset; applied+1 < first {
			cctx, cancel := context.WithCancel(work)
			defer context.AfterFunc(stop, cancel)()
			err := ix.catchUp(cctx, tp, p, applied+1, first)
			cancel()
			if err != nil && stop.Err() != nil {
				ix.log.Info().Str("topic", tp).Int32("partition", p).Msg("catch-up interrupted by shutdown")
				return nil
			}
			if err != nil {
				return fmt.Errorf("catch up partition %d: %w", p, err)
			}
		}
		ix.mu.Lock()
		ix.ready[p] = true
		ix.mu.Unlock()
		if applied, err = ix.store.Applied(tp, p); err != nil {
			return err
		}
	}
	// Records already in Pebble (redelivered after a crash before the group
	// commit) were handed over before Pebble committed them: skip them.
	i := 0
	for i < len(recs) && recs[i].Offset <= applied {
		i++
	}
	if i > 0 {
		ix.m.skipped.Add(float64(i))
	}
	if i < len(recs) {
		// More records of the partition were already in the log when
		// these were fetched: the persister keeps collecting this
		// partition's events into one MongoDB batch.
		more := hwm > recs[len(recs)-1].Offset+1
		if err := ix.indexAndHandOver(work, tp, p, recs[i:], more, po); err != nil {
			return err
		}
	}
	ix.client.MarkCommitRecords(recs[len(recs)-1])
	ix.mu.Lock()
	first := !ix.firstBatch
	ix.firstBatch = true
	ix.mu.Unlock()
	if first {
		d := time.Since(ix.started)
		ix.m.startToFirstBatch.Set(d.Seconds())
		ix.log.Info().Str("topic", tp).Int32("partition", p).Int64("offset", recs[len(recs)-1].Offset).
			Dur("since_start", d).Msg("first batch indexed")
	}
	return nil
}

// prepared is a batch indexed and ready to hand over: its Pebble batch (not
// committed), its result, and the records to produce (the dirty-terms
// event, if any, first).
type prepared struct {
	pb    *pebblestore.Batch
	res   *batchResult
	event *kgo.Record
	out   []*kgo.Record
	start time.Time // when indexing began, after the wait for a slot
}

// prepare indexes recs and builds the records to hand over while it holds
// an indexing slot (Config.Parallelism): the part of a batch that needs a
// core. The caller closes the Pebble batch.
func (ix *Indexer) prepare(ctx context.Context, tp string, p int32, recs []*kgo.Record) (*prepared, error) {
	queued := time.Now()
	select {
	case ix.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-ix.slots }()
	pr := &prepared{pb: ix.store.NewBatchSized(batchSizeHint(recs)), start: time.Now()}
	ix.m.phases.WithLabelValues("queue").Add(pr.start.Sub(queued).Seconds())
	res, err := indexBatch(ix.store, pr.pb, ix.cfg.InstanceID, tp, p, recs, ix.cfg.MaxDocumentBytes)
	if err != nil {
		pr.pb.Close()
		return nil, err
	}
	pr.res = res
	if len(res.event.Records) > 0 || len(res.event.Progress) > 0 {
		b, err := res.event.Encode()
		if err != nil {
			pr.pb.Close()
			return nil, fmt.Errorf("encode event: %w", err)
		}
		pr.event = &kgo.Record{Topic: ix.cfg.Topics.DirtyTerms, Key: []byte(eventKey(tp, p)), Value: b}
		pr.out = append(pr.out, pr.event)
	}
	for _, m := range res.event.Progress {
		pr.out = append(pr.out, &kgo.Record{Topic: ix.cfg.Topics.Progress, Key: []byte(m.Operation), Value: m.Encode()})
	}
	for op, fs := range res.failed {
		seqs := make([]int, len(fs))
		for i, f := range fs {
			seqs[i] = f.Seq
		}
		m := progress.Message{Operation: op, Stage: progress.Failed, Seqs: progress.RangesOf(seqs), Errors: fs}
		pr.out = append(pr.out, &kgo.Record{Topic: ix.cfg.Topics.Progress, Key: []byte(op), Value: m.Encode()})
	}
	for _, dl := range res.failures {
		pr.out = append(pr.out, ix.deadLetterRecord(dl))
	}
	return pr, nil
}

// batchSizeHint is the room a Pebble batch starts with for recs: their
// forward entries, postings and keys took 5.1 (synthetic) to 5.7 (godoc)
// times the records' bytes. Growing by doubling from Pebble's default had
// copied every batch about once more, 8 % of indexBatch's CPU on godoc.
func batchSizeHint(recs []*kgo.Record) int {
	n := 0
	for _, r := range recs {
		n += len(r.Value)
	}
	return min(6*n, 64<<20)
}

func (ix *Indexer) indexAndHandOver(ctx context.Context, tp string, p int32, recs []*kgo.Record, more bool, po *pollOrder) error {
	pr, err := ix.prepare(ctx, tp, p, recs)
	if err != nil {
		return err
	}
	pb, res, start := pr.pb, pr.res, pr.start
	defer pb.Close()
	if pr.event != nil && len(pr.event.Value) > ix.cfg.MaxEventBytes && len(recs) > 1 {
		// Nothing was produced or committed: index the halves instead,
		// the first one telling the persister that more of its
		// partition is coming.
		pb.Close()
		half := len(recs) / 2
		ix.m.splits.Inc()
		ix.log.Info().Str("topic", tp).Int32("partition", p).Int("records", len(recs)).Int("event_bytes", len(pr.event.Value)).
			Int("max_event_bytes", ix.cfg.MaxEventBytes).Msg("batch split: its event is too large")
		if err := ix.indexAndHandOver(ctx, tp, p, recs[:half], true, po); err != nil {
			return err
		}
		return ix.indexAndHandOver(ctx, tp, p, recs[half:], more, po)
	}
	indexed := time.Now()
	ix.m.phases.WithLabelValues("index").Add(indexed.Sub(start).Seconds())
	ix.cfg.Failpoints.Hit("indexer.before-hand-over")
	if err := po.handOver(eventKey(tp, p), more, pr.event, func() error { return produceAll(ctx, ix.client, pr.out) }); err != nil {
		return fmt.Errorf("hand over batch of partition %d: %w", p, err)
	}
	ix.cfg.Failpoints.Hit("indexer.after-hand-over")
	handed := time.Now()
	ix.m.phases.WithLabelValues("handover").Add(handed.Sub(indexed).Seconds())
	if err := pb.Commit(); err != nil {
		return err
	}
	ix.m.phases.WithLabelValues("commit").Add(time.Since(handed).Seconds())
	ix.cfg.Failpoints.Hit("indexer.after-pebble-commit")
	ix.m.batchDone(res.event, len(res.failures), time.Since(start))
	ix.log.Debug().Str("topic", tp).Int32("partition", p).Int64("offset", res.event.LastOffset).
		Int("documents", res.docs).Int("terms", len(res.event.Terms)).Msg("batch indexed")
	ix.logOperations(tp, p, recs, res)
	for _, dl := range res.failures {
		op, _, _ := operationOf(dl.rec)
		index, _, _ := document.ParseKey(dl.rec.Key)
		ix.log.Warn().Str("operation", op).Str("index", index).Str("topic", tp).Int32("partition", p).Int64("offset", dl.rec.Offset).
			Str("error", dl.reason).Msg("record dead-lettered")
	}
	return nil
}

// produceAll produces recs and waits until Kafka acknowledged all of them,
// or until ctx is done. The idempotent producer cannot take back records it
// already sent (ProduceSync waits for their answer however long the broker
// takes), so at the shutdown deadline it is the wait that is abandoned: the
// batch is then neither committed to Pebble nor marked, and whoever owns the
// partition next hands its records over again; the persister keeps the first
// copy of each record.
func produceAll(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	errc := make(chan error, len(recs))
	for _, r := range recs {
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) { errc <- err })
	}
	for range recs {
		select {
		case err := <-errc:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return fmt.Errorf("wait for acks: %w", ctx.Err())
		}
	}
	return nil
}

// Dead-letter headers.
const (
	HeaderDLQStage     = "termflow-dlq-stage"
	HeaderDLQReason    = "termflow-dlq-reason"
	HeaderDLQTopic     = "termflow-dlq-topic"
	HeaderDLQPartition = "termflow-dlq-partition"
	HeaderDLQOffset    = "termflow-dlq-offset"
)

func (ix *Indexer) deadLetterRecord(dl deadLetter) *kgo.Record {
	r := dl.rec
	h := append([]kgo.RecordHeader(nil), r.Headers...)
	h = append(h,
		kgo.RecordHeader{Key: HeaderDLQStage, Value: []byte("indexer")},
		kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(dl.reason)},
		kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
	)
	return &kgo.Record{Topic: ix.cfg.Topics.DeadLetter, Key: r.Key, Value: r.Value, Headers: h}
}

// catchUpAssigned brings every assigned partition whose state is not
// checked yet up to the group's committed offset, so that a lost or stale
// Pebble directory is rebuilt as soon as the partition is assigned, not only
// when new records arrive (handle does the same lazily for a partition that
// gets records first). A failure to read the committed offsets is retried at
// the next poll.
func (ix *Indexer) catchUpAssigned(stop, work context.Context) error {
	ix.mu.Lock()
	var todo []int32
	for p := range ix.owned {
		if !ix.ready[p] {
			todo = append(todo, p)
		}
	}
	ix.mu.Unlock()
	if len(todo) == 0 || stop.Err() != nil {
		return nil
	}
	tp := ix.cfg.Topics.Documents
	offs, err := kadm.NewClient(ix.client).FetchOffsets(stop, ix.cfg.Group)
	if err != nil {
		ix.log.Warn().Err(err).Msg("committed offsets not read; catch-up deferred")
		return nil
	}
	slices.Sort(todo)
	for _, p := range todo {
		applied, err := ix.store.Applied(tp, p)
		if err != nil {
			return err
		}
		if o, ok := offs.Lookup(tp, p); ok && applied+1 < o.At {
			cctx, cancel := context.WithCancel(work)
			stopCancel := context.AfterFunc(stop, cancel)
			err := ix.catchUp(cctx, tp, p, applied+1, o.At)
			stopCancel()
			cancel()
			if err != nil && stop.Err() != nil {
				return nil
			}
			if err != nil {
				return fmt.Errorf("catch up partition %d: %w", p, err)
			}
		}
		ix.mu.Lock()
		if ix.owned[p] {
			ix.ready[p] = true
		}
		ix.mu.Unlock()
	}
	return nil
}

// catchUp applies records [from, to) of a partition to Pebble without
// handing them over: another indexer (or this one, earlier) already did.
func (ix *Indexer) catchUp(ctx context.Context, tp string, p int32, from, to int64) error {
	ix.log.Info().Str("topic", tp).Int32("partition", p).Int64("offset", from).Int64("to", to).Msg("catching up partition")
	start := time.Now()
	cl, err := kgo.NewClient(append(kclient.Options(ix.cfg.Kafka, "indexer-catchup", ix.log, nil),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{tp: {p: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxPartitionBytes(fetchPartitionBytes), kgo.FetchMaxBytes(fetchBytes))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	n := 0
	for {
		fs := cl.PollRecords(ctx, ix.cfg.MaxPollRecords)
		if err := ctx.Err(); err != nil {
			return err
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return errs[0].Err
		}
		var recs []*kgo.Record
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= to {
				done = true
				return
			}
			recs = append(recs, r)
		})
		if len(recs) > 0 {
			pb := ix.store.NewBatch()
			if _, err := indexBatch(ix.store, pb, ix.cfg.InstanceID, tp, p, recs, ix.cfg.MaxDocumentBytes); err != nil {
				pb.Close()
				return err
			}
			if err := pb.Commit(); err != nil {
				return err
			}
			n += len(recs)
			if recs[len(recs)-1].Offset >= to-1 {
				done = true
			}
		}
		if done {
			break
		}
	}
	ix.m.caughtUp.Add(float64(n))
	ix.log.Info().Str("topic", tp).Int32("partition", p).Int("records", n).Dur("took", time.Since(start)).Msg("partition caught up")
	return nil
}

// eventKey is the key of a documents partition's dirty-terms events.
func eventKey(topic string, p int32) string { return fmt.Sprintf("%s/%d", topic, p) }

// pollOrder orders the hand-overs of one poll's partitions, which are
// indexed in parallel, and tells the persister which of them are still to
// come: each dirty-terms event names, in its dirtyterms.MoreHeader, the
// partitions of the poll whose events are not handed over yet (and its own
// partition when more of it was already in the log), so the persister
// applies the whole poll as one MongoDB batch rather than the first
// partition's terms now and the others' shared terms again right after.
type pollOrder struct {
	mu      sync.Mutex
	pending map[string]bool // keys of the partitions whose events are to come
}

// handOver marks the partition's dirty-terms record (nil if it hands none
// over) with the partitions still to come, then runs produce; a hand-over
// of the poll at a time, so the records reach the log in the order their
// lists were computed.
func (po *pollOrder) handOver(key string, own bool, event *kgo.Record, produce func() error) error {
	po.mu.Lock()
	defer po.mu.Unlock()
	delete(po.pending, key)
	var more []string
	for k := range po.pending {
		more = append(more, k)
	}
	if own {
		more = append(more, key)
	}
	if len(more) > 0 && event != nil {
		sort.Strings(more)
		event.Headers = append(event.Headers, kgo.RecordHeader{Key: dirtyterms.MoreHeader, Value: dirtyterms.EncodeMore(more)})
	}
	return produce()
}

// done removes a partition that hands nothing over (or failed) from the
// poll's pending ones.
func (po *pollOrder) done(key string) {
	po.mu.Lock()
	delete(po.pending, key)
	po.mu.Unlock()
}
