// Package persister is the single writer of MongoDB: it consumes the
// one-partition dirty-terms topic in order and applies each poll's events as
// one batch through mongostore.ApplyBatch (journaled, so a crash at any
// write is finished or replayed exactly), then reports the events' documents
// persisted and only then commits its Kafka offset. Consecutive polls are
// merged into one batch while events keep arriving (Linger, BatchEvents,
// BatchBytes), so a backlog costs fewer MongoDB writes per document. While
// MongoDB fails it retries the same batch with exponential backoff and
// jitter, and polls nothing new, so memory stays bounded by one batch.
package persister

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/dirtyterms"
	"github.com/termflow/termflow/pkg/failpoint"
	"github.com/termflow/termflow/pkg/kclient"
	"github.com/termflow/termflow/pkg/mongostore"
	"github.com/termflow/termflow/pkg/topic"
)

// The default caps of one MongoDB batch (Config.BatchEvents, BatchBytes).
const (
	DefaultBatchEvents = 2048
	DefaultBatchBytes  = 64 << 20
)

// fetchBytes bounds one fetch of dirty-terms events (compressed; a single
// larger event still comes whole, KIP-74). A batch is collected from several
// fetches up to BatchBytes, and the client buffers the next fetch while a
// batch is applied: when a fetch was as large as a batch, that buffer held
// as many decompressed events as the batch in hand (160 MB of the persister's
// 850 MB live heap on zipf-100k with 32 MiB fetches), and a batch was
// whatever one fetch brought, whatever BatchBytes said.
const fetchBytes = 4 << 20

// fetchOptions are how the persister's client fetches events.
func fetchOptions() []kgo.Opt {
	return []kgo.Opt{kgo.FetchMaxBytes(fetchBytes), kgo.FetchMaxPartitionBytes(fetchBytes), kgo.MaxConcurrentFetches(1)}
}

// Config configures the persister.
type Config struct {
	// Group is the consumer group on the dirty-terms topic. The default
	// value is "termflow-persister".
	Group string
	// InstanceID is the persister's static member id in the group: a
	// persister killed and restarted with the same id takes its partition
	// back at once instead of waiting for the old member's session to time
	// out. Only one persister runs per dirty-terms topic. The default value
	// is "persister-1".
	InstanceID string
	// SessionTimeout is how long the group waits for a silent persister.
	// The default value is 20s.
	SessionTimeout time.Duration
	// ShutdownTimeout bounds a graceful stop: the batch in hand gets this
	// long to be applied, reported and committed after the stop signal;
	// after that its MongoDB attempt is cancelled (the journal makes that
	// safe: the batch is finished or replayed at the next start). The
	// default value is 30s.
	ShutdownTimeout time.Duration
	// MinBackoff and MaxBackoff bound the retry delay while MongoDB fails.
	// The default values are 100ms and 10s.
	MinBackoff, MaxBackoff time.Duration
	// BatchEvents and BatchBytes cap one MongoDB batch: the events of
	// consecutive polls are merged into one ApplyBatch up to this many
	// events or bytes of encoded events. A term touched by many events is
	// then written once per batch, so a persister that falls behind writes
	// less per document as its backlog grows. The default values are 2048
	// and 64 MiB (about 30,000 short documents, each analyzed per field and
	// for _all; the batch in hand, decoded, merged and planned, takes about
	// ten times that in memory: a live heap of 550 MB on zipf-100k).
	BatchEvents, BatchBytes int
	// Linger is how long the persister keeps collecting events that are
	// still arriving before it applies them: once a poll returns events,
	// polls go on while each brings more within Linger, for at most
	// 4 × Linger in all — or, while an indexer says more events of a
	// documents partition are on their way (dirtyterms.MoreHeader), until
	// they come, for at most 20 × Linger. It trades that latency for fewer
	// rewrites of the same terms. The default value is 250ms; 0 applies
	// each poll at once.
	Linger time.Duration
	// ApplyTimeout bounds one attempt of a batch against MongoDB (a hung
	// server); the attempt is then retried. The default value is 10m.
	ApplyTimeout time.Duration
	Topics       topic.Config
	Kafka        kclient.Config
	// Failpoints crash the process at named points for fault tests
	// (TERMFLOW_FAILPOINTS); nil in production. Points:
	// persister.mongo-write (before each MongoDB write of an event),
	// persister.after-apply (MongoDB and checkpoint written, progress not
	// reported), persister.before-commit (progress reported, Kafka offset
	// not committed).
	Failpoints *failpoint.Set
}

// Persister applies dirty-terms events to MongoDB.
type Persister struct {
	cfg    Config
	store  *mongostore.Store
	client *kgo.Client
	log    zerolog.Logger
	m      *metrics

	mu    sync.Mutex
	cp    mongostore.Checkpoint
	ready bool

	// work is the context of MongoDB attempts and commits: it outlives the
	// stop signal by ShutdownTimeout, so the batch in hand is finished.
	work context.Context
}

// New builds a persister.
func New(cfg Config, store *mongostore.Store, log zerolog.Logger, reg prometheus.Registerer) (*Persister, error) {
	if cfg.BatchEvents <= 0 {
		cfg.BatchEvents = DefaultBatchEvents
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = DefaultBatchBytes
	}
	if cfg.ApplyTimeout <= 0 {
		cfg.ApplyTimeout = 10 * time.Minute
	}
	p := &Persister{cfg: cfg, store: store, log: log, m: newMetrics(reg)}
	store.SetCommandHook(p.m.command)
	if cfg.Failpoints.Armed() {
		store.SetWriteHook(func() error { cfg.Failpoints.Hit("persister.mongo-write"); return nil })
	}
	opts := append(kclient.Options(cfg.Kafka, "persister", log, reg),
		kgo.ConsumerGroup(cfg.Group),
		kgo.InstanceID(cfg.InstanceID),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(time.Second),
		kgo.ConsumeTopics(cfg.Topics.DirtyTerms),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	cl, err := kgo.NewClient(append(opts, fetchOptions()...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	p.client = cl
	p.m.registerLag(reg, cl, cfg.Group, cfg.Topics.DirtyTerms)
	return p, nil
}

// Close leaves the group and closes the client.
func (p *Persister) Close() { p.client.Close() }

// Ready reports whether the persister has its checkpoint and polls.
func (p *Persister) Ready() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.ready {
		return errors.New("checkpoint not loaded")
	}
	return nil
}

// Run consumes until ctx is done; the event in hand is finished first.
func (p *Persister) Run(ctx context.Context) error {
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	defer context.AfterFunc(ctx, func() { time.AfterFunc(p.cfg.ShutdownTimeout, cancelWork) })()
	p.work = work
	var cp mongostore.Checkpoint
	if err := p.retry(ctx, "load checkpoint", func(c context.Context) (err error) {
		cp, err = p.store.LoadCheckpoint(c)
		return err
	}); err != nil {
		return err
	}
	p.mu.Lock()
	p.cp, p.ready = cp, true
	p.mu.Unlock()
	p.log.Info().Str("topic", p.cfg.Topics.DirtyTerms).Int64("offset", cp.Offset).Msg("checkpoint loaded")
	for {
		b, closed := p.collect(ctx)
		if closed {
			p.client.AllowRebalance()
			return nil
		}
		recs := b.recs
		err := p.handle(ctx, b, &cp)
		if err == nil && len(recs) > 0 {
			p.cfg.Failpoints.Hit("persister.before-commit")
			// Commit after MongoDB acknowledged and progress was reported.
			// A failed commit only means a replay, which Apply skips.
			last := recs[len(recs)-1]
			if err := p.client.CommitRecords(p.work, last); err != nil {
				p.log.Warn().Err(err).Int64("offset", last.Offset).Msg("offset commit failed")
			}
		}
		p.client.AllowRebalance()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// collect polls the next batch: it waits for events, then keeps polling
// while more arrive within Linger, up to BatchEvents events or BatchBytes
// bytes (see batch for how long it lingers). A backlog fills a batch at
// once; a lone small request waits one Linger. Events are decoded as they
// arrive, while the batch waits for the rest. closed reports that the
// client closed or ctx ended.
func (p *Persister) collect(ctx context.Context) (_ *batch, closed bool) {
	b := newBatch(p.cfg)
	for {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if len(b.recs) > 0 {
			wait := b.wait(time.Now())
			if wait <= 0 {
				return b, false
			}
			pctx, cancel = context.WithTimeout(ctx, wait)
		}
		fetches := p.client.PollRecords(pctx, p.cfg.BatchEvents-len(b.recs))
		cancel()
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return b, true
		}
		fetches.EachError(func(t string, part int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				p.log.Warn().Str("topic", t).Int32("partition", part).Err(err).Msg("fetch error")
			}
		})
		got := 0
		now := time.Now()
		fetches.EachRecord(func(r *kgo.Record) {
			b.add(r, now)
			got++
		})
		if got == 0 && len(b.recs) > 0 && !b.moreComing() {
			return b, false // nothing more within Linger
		}
	}
}

// batch is the events collected for the next MongoDB batch, and when to
// stop collecting: when it is full; when a poll brings nothing within
// Linger, unless an indexer said events of a documents partition are on
// their way (dirtyterms.MoreHeader: more of its own partition, or the
// partitions of the same poll not handed over yet) and they have not come
// yet; and at the latest 4 × Linger after the first event, or 20 × Linger
// while more is on its way. Applying the head of a bulk load and then its tail would write
// every term they share twice.
type batch struct {
	linger       time.Duration
	events, size int // caps
	bytes        int
	first        time.Time
	recs         []*kgo.Record
	// evs[i] is recs[i] decoded, or nil with errs[i] set: a poison event,
	// whose record keeps its value for the dead-letter topic. A decoded
	// event holds copies of all it needs, so its record's value is dropped
	// at once: a batch holds its events decoded, not twice.
	evs    []*dirtyterms.Event
	errs   []error
	decode time.Duration   // spent decoding
	more   map[string]bool // dirty-terms keys (documents partitions) whose events are said to be coming
}

func newBatch(cfg Config) *batch {
	return &batch{linger: cfg.Linger, events: cfg.BatchEvents, size: cfg.BatchBytes, more: map[string]bool{}}
}

func (b *batch) add(r *kgo.Record, now time.Time) {
	if len(b.recs) == 0 {
		b.first = now
	}
	b.recs = append(b.recs, r)
	b.bytes += len(r.Value)
	start := time.Now()
	ev, err := dirtyterms.Decode(r.Value)
	b.decode += time.Since(start)
	b.evs, b.errs = append(b.evs, ev), append(b.errs, err)
	if err == nil {
		r.Value = nil
	}
	// This partition's awaited event is here; the ones it says are coming
	// (its own next, the rest of its indexer's poll) are awaited now.
	delete(b.more, string(r.Key))
	for _, h := range r.Headers {
		if h.Key == dirtyterms.MoreHeader {
			for _, k := range dirtyterms.DecodeMore(h.Value, string(r.Key)) {
				b.more[k] = true
			}
		}
	}
}

// moreComing reports whether an indexer said more events are on their way.
func (b *batch) moreComing() bool { return len(b.more) > 0 }

// wait returns how long to poll for more events; 0 or less: apply now.
func (b *batch) wait(now time.Time) time.Duration {
	if len(b.recs) >= b.events || b.bytes >= b.size || b.linger <= 0 {
		return 0
	}
	limit := 4 * b.linger
	if b.moreComing() {
		limit = 20 * b.linger
	}
	return min(b.linger, b.first.Add(limit).Sub(now))
}

// handle applies one batch's events (decoded while they were collected) as
// one batch: poison events go to the dead-letter topic, the rest are merged
// into one mongostore.ApplyBatch (one set of MongoDB round trips for the
// whole batch), then every event's progress is reported.
func (p *Persister) handle(ctx context.Context, b *batch, cp *mongostore.Checkpoint) error {
	recs := b.recs
	if len(recs) == 0 {
		return nil
	}
	start := time.Now()
	items := make([]mongostore.Item, 0, len(recs))
	for i, r := range recs {
		if b.errs[i] != nil {
			if err := p.deadLetter(ctx, r, b.errs[i]); err != nil {
				return err
			}
			r.Value = nil
			continue
		}
		items = append(items, mongostore.Item{Offset: r.Offset, Event: b.evs[i]})
	}
	var st mongostore.ApplyStats
	if err := p.retry(ctx, "apply events", func(c context.Context) (err error) {
		next := *cp
		st, err = p.store.ApplyBatch(c, items, &next)
		if err == nil {
			*cp = next
		}
		return err
	}); err != nil {
		return err
	}
	p.mu.Lock()
	p.cp = *cp
	p.mu.Unlock()
	p.cfg.Failpoints.Hit("persister.after-apply")
	applied := time.Now()
	var out []*kgo.Record
	for _, it := range items {
		for _, m := range it.Event.Progress {
			m.Stage = "persisted"
			out = append(out, &kgo.Record{Topic: p.cfg.Topics.Progress, Key: []byte(m.Operation), Value: m.Encode()})
		}
	}
	if len(out) > 0 {
		if err := p.retry(ctx, "report progress", func(c context.Context) error {
			return p.client.ProduceSync(c, out...).FirstErr()
		}); err != nil {
			return err
		}
	}
	p.logOperations(items, partitionOf(recs))
	p.m.events.Add(float64(len(items)))
	if !st.Skipped {
		p.m.docs.Add(float64(st.Records))
		p.m.duplicates.Add(float64(st.Duplicates))
		p.m.terms.Add(float64(st.Terms))
		p.m.termChunks.Add(float64(st.TermChunks))
		p.m.batches.Inc()
		if st.Journaled {
			p.m.journaled.Inc()
		}
		p.m.writes.Add(float64(st.Writes))
		p.m.reads.Add(float64(st.Reads))
		p.m.phases.WithLabelValues("decode").Add(b.decode.Seconds())
		p.m.phases.WithLabelValues("plan").Add(st.Plan.Seconds())
		p.m.phases.WithLabelValues("write").Add(st.Write.Seconds())
		p.m.phases.WithLabelValues("report").Add(time.Since(applied).Seconds())
	}
	last := recs[len(recs)-1]
	p.m.applySeconds.Observe(time.Since(start).Seconds())
	p.m.lastOffset.Set(float64(last.Offset))
	p.m.batchApplied(recs, items, st, time.Now())
	p.log.Debug().Str("topic", last.Topic).Int64("offset", last.Offset).Int("events", len(items)).
		Int("documents", st.Records).Int("terms", st.Terms).Bool("skipped", st.Skipped).Msg("events persisted")
	return nil
}

// deadLetter parks an event that cannot be decoded, with its reason, so the
// partition keeps flowing.
func (p *Persister) deadLetter(ctx context.Context, r *kgo.Record, cause error) error {
	p.m.deadLetters.Inc()
	p.log.Error().Str("topic", r.Topic).Int32("partition", r.Partition).Int64("offset", r.Offset).Err(cause).Msg("event dead-lettered")
	return p.retry(ctx, "dead-letter event", func(c context.Context) error {
		return p.client.ProduceSync(c, &kgo.Record{Topic: p.cfg.Topics.DeadLetter, Key: r.Key, Value: r.Value,
			Headers: append(append([]kgo.RecordHeader(nil), r.Headers...),
				kgo.RecordHeader{Key: "termflow-dlq-stage", Value: []byte("persister")},
				kgo.RecordHeader{Key: "termflow-dlq-reason", Value: []byte(cause.Error())},
				kgo.RecordHeader{Key: "termflow-dlq-topic", Value: []byte(r.Topic)},
				kgo.RecordHeader{Key: "termflow-dlq-partition", Value: []byte(strconv.Itoa(int(r.Partition)))},
				kgo.RecordHeader{Key: "termflow-dlq-offset", Value: []byte(strconv.FormatInt(r.Offset, 10))},
			)}).FirstErr()
	})
}

// retry runs fn until it succeeds or ctx is done, backing off exponentially
// with full jitter between attempts. fn's own context is not cancelled by a
// shutdown before ShutdownTimeout, so an attempt in flight completes.
func (p *Persister) retry(ctx context.Context, what string, fn func(context.Context) error) error {
	backoff := p.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		c, cancel := context.WithTimeout(p.work, p.cfg.ApplyTimeout)
		err := fn(c)
		cancel()
		if err == nil {
			if attempt > 1 {
				p.log.Info().Int("attempts", attempt).Msg(what + " recovered")
			}
			return nil
		}
		p.m.retries.WithLabelValues(what).Inc()
		p.log.Warn().Err(err).Int("attempt", attempt).Dur("backoff", backoff).Msg(what + " failed")
		sleep := time.Duration(rand.Int64N(int64(backoff)) + 1)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (gave up: %w)", what, err, ctx.Err())
		case <-time.After(sleep):
		}
		backoff = min(backoff*2, p.cfg.MaxBackoff)
	}
}
