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
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/termflow/termflow/pkg/kclient"
	"github.com/termflow/termflow/pkg/pebblestore"
	"github.com/termflow/termflow/pkg/progress"
	"github.com/termflow/termflow/pkg/topic"
)

// Config configures an indexer.
type Config struct {
	// InstanceID names this indexer in events and logs. The default value
	// is "indexer-1".
	InstanceID string
	// Group is the consumer group. The default value is "termflow-indexer".
	Group string
	// MaxPollRecords bounds the records taken per poll. The default value
	// is 5000.
	MaxPollRecords int
	// MaxDocumentBytes bounds a documents-topic record. The default value is
	// 1 MiB.
	MaxDocumentBytes int
	Topics           topic.Config
	Kafka            kclient.Config
}

// Indexer consumes the documents topic.
type Indexer struct {
	cfg    Config
	store  *pebblestore.Store
	client *kgo.Client
	log    zerolog.Logger
	m      *metrics

	mu    sync.Mutex
	ready map[int32]bool // partitions whose Pebble state is current
	polls bool
}

// New builds an indexer; Run starts consuming.
func New(cfg Config, store *pebblestore.Store, log zerolog.Logger, reg prometheus.Registerer) (*Indexer, error) {
	ix := &Indexer{cfg: cfg, store: store, log: log, m: newMetrics(reg), ready: map[int32]bool{}}
	opts := append(kclient.Options(cfg.Kafka, "indexer", log, reg),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics.Documents),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.BlockRebalanceOnPoll(),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(time.Second),
		kgo.OnPartitionsAssigned(ix.onAssigned),
		kgo.OnPartitionsRevoked(ix.onRevoked),
		kgo.OnPartitionsLost(ix.onLost),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(32<<20),
		kgo.ProducerBatchCompression(kgo.ZstdCompression()),
		kgo.FetchMaxPartitionBytes(4<<20),
		kgo.ProducerLinger(0),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	ix.client = cl
	return ix, nil
}

// Close leaves the group (committing what was marked) and closes the client.
func (ix *Indexer) Close() { ix.client.Close() }

// Ready reports whether the indexer polls.
func (ix *Indexer) Ready() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if !ix.polls {
		return errors.New("not polling yet")
	}
	return nil
}

func (ix *Indexer) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.polls = true
	for _, p := range assigned[ix.cfg.Topics.Documents] {
		delete(ix.ready, p) // state is checked again before the first batch
		ix.log.Info().Str("topic", ix.cfg.Topics.Documents).Int32("partition", p).Msg("partition assigned")
	}
}

func (ix *Indexer) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	// Every polled batch was finished before the rebalance could start
	// (BlockRebalanceOnPoll), so what is marked is everything done.
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
		ix.log.Info().Str("topic", ix.cfg.Topics.Documents).Int32("partition", p).Msg("partition released")
	}
}

// Run polls until ctx is done. A batch in hand is finished before it returns.
func (ix *Indexer) Run(ctx context.Context) error {
	for {
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
		// finished even when ctx is cancelled meanwhile (work uses its own
		// context), so a shutdown never leaves a half-handled batch.
		work := context.WithoutCancel(ctx)
		g, gctx := errgroup.WithContext(work)
		g.SetLimit(4)
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			hwm := fp.HighWatermark
			g.Go(func() error { return ix.handle(gctx, fp.Topic, fp.Partition, fp.Records, hwm) })
		})
		err := g.Wait()
		ix.client.AllowRebalance()
		if err != nil {
			return err
		}
	}
}

// handle brings the partition's state up to date and indexes one batch.
func (ix *Indexer) handle(ctx context.Context, tp string, p int32, recs []*kgo.Record, hwm int64) error {
	applied, err := ix.store.Applied(tp, p)
	if err != nil {
		return err
	}
	ix.mu.Lock()
	ready := ix.ready[p]
	ix.mu.Unlock()
	if !ready {
		if first := recs[0].Offset; applied+1 < first {
			if err := ix.catchUp(ctx, tp, p, applied+1, first); err != nil {
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
		if err := ix.indexAndHandOver(ctx, tp, p, recs[i:]); err != nil {
			return err
		}
	}
	ix.client.MarkCommitRecords(recs[len(recs)-1])
	ix.m.lag.WithLabelValues(strconv.Itoa(int(p))).Set(float64(max(0, hwm-recs[len(recs)-1].Offset-1)))
	return nil
}

func (ix *Indexer) indexAndHandOver(ctx context.Context, tp string, p int32, recs []*kgo.Record) error {
	start := time.Now()
	pb := ix.store.NewBatch()
	defer pb.Close()
	res, err := indexBatch(ix.store, pb, ix.cfg.InstanceID, tp, p, recs, ix.cfg.MaxDocumentBytes)
	if err != nil {
		return err
	}
	var out []*kgo.Record
	if len(res.event.Records) > 0 || len(res.event.Progress) > 0 {
		b, err := res.event.Encode()
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		out = append(out, &kgo.Record{Topic: ix.cfg.Topics.DirtyTerms, Key: []byte(fmt.Sprintf("%s/%d", tp, p)), Value: b})
	}
	for _, m := range res.event.Progress {
		out = append(out, &kgo.Record{Topic: ix.cfg.Topics.Progress, Key: []byte(m.Operation), Value: m.Encode()})
	}
	for op, fs := range res.failed {
		seqs := make([]int, len(fs))
		for i, f := range fs {
			seqs[i] = f.Seq
		}
		m := progress.Message{Operation: op, Stage: progress.Failed, Seqs: progress.RangesOf(seqs), Errors: fs}
		out = append(out, &kgo.Record{Topic: ix.cfg.Topics.Progress, Key: []byte(op), Value: m.Encode()})
	}
	for _, dl := range res.failures {
		out = append(out, ix.deadLetterRecord(dl))
	}
	if len(out) > 0 {
		if err := ix.client.ProduceSync(ctx, out...).FirstErr(); err != nil {
			return fmt.Errorf("hand over batch of partition %d: %w", p, err)
		}
	}
	if err := pb.Commit(); err != nil {
		return err
	}
	ix.m.batches.Inc()
	ix.m.docs.Add(float64(res.docs))
	ix.m.deadLetters.Add(float64(len(res.failures)))
	ix.m.dirtyTerms.Observe(float64(len(res.event.Terms)))
	ix.m.batchSeconds.Observe(time.Since(start).Seconds())
	ix.log.Debug().Str("topic", tp).Int32("partition", p).Int64("offset", res.event.LastOffset).
		Int("documents", res.docs).Int("terms", len(res.event.Terms)).Msg("batch indexed")
	for _, dl := range res.failures {
		ix.log.Warn().Str("topic", tp).Int32("partition", p).Int64("offset", dl.rec.Offset).
			Str("error", dl.reason).Msg("record dead-lettered")
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

// catchUp applies records [from, to) of a partition to Pebble without
// handing them over: another indexer (or this one, earlier) already did.
func (ix *Indexer) catchUp(ctx context.Context, tp string, p int32, from, to int64) error {
	ix.log.Info().Str("topic", tp).Int32("partition", p).Int64("offset", from).Int64("to", to).Msg("catching up partition")
	start := time.Now()
	cl, err := kgo.NewClient(append(kclient.Options(ix.cfg.Kafka, "indexer-catchup", ix.log, nil),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{tp: {p: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxPartitionBytes(4<<20))...)
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
