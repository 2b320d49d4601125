package stages

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/bench/corpus"
	"github.com/termflow/termflow/pkg/bulkop"
	"github.com/termflow/termflow/pkg/document"
	"github.com/termflow/termflow/pkg/kclient"
	"github.com/termflow/termflow/pkg/topic"
)

// The ingest documents producer's settings (services/ingest/internal/api
// ProducerOpts, defaults of its Config) and the indexer's fetch sizes
// (services/indexer/internal/indexer). Both live in internal packages, so
// they are restated here; KafkaSettings reports them with every result.
const (
	producerLinger         = 5 * time.Millisecond
	producerBufferRecords  = 100000
	producerBufferBytes    = 256 << 20
	producerBatchMaxBytes  = 8 << 20
	fetchMaxPartitionBytes = 4 << 20
	fetchMaxBytes          = 64 << 20
)

// warmupKey is the key of the record that warms the producer up; consumers
// do not count it. It has no "/", so no document key equals it.
const warmupKey = "termflow-bench-warmup"

// KafkaSettings are the client settings a Kafka result was measured with.
type KafkaSettings struct {
	Acks                   string            `json:"acks"`
	Idempotent             bool              `json:"idempotent"`
	Partitioner            string            `json:"partitioner"`
	LingerMillis           int64             `json:"linger_ms"`
	MaxBufferedRecords     int               `json:"max_buffered_records"`
	MaxBufferedBytes       int               `json:"max_buffered_bytes"`
	ProducerBatchMaxBytes  int               `json:"producer_batch_max_bytes"`
	FetchMaxPartitionBytes int               `json:"fetch_max_partition_bytes"`
	FetchMaxBytes          int               `json:"fetch_max_bytes"`
	Consumer               string            `json:"consumer"`
	OperationDocs          int               `json:"operation_docs"`
	TopicConfigs           map[string]string `json:"topic_configs"`
}

// KafkaResult is the Kafka limit for the corpus's documents-topic records.
// Bytes count record keys, values and headers, as the ingest producer's
// buffer does.
type KafkaResult struct {
	Corpus     string        `json:"corpus"`
	Topic      string        `json:"topic"`
	Partitions int           `json:"partitions"`
	Settings   KafkaSettings `json:"settings"`
	// Produce: from the first Produce call until Kafka acknowledged every
	// record (the producer sent one uncounted record before, so it has its
	// producer id and the topic's metadata, as a running ingest service
	// has).
	Produce Throughput `json:"produce"`
	// Consume: a fresh consumer, from its creation until it has fetched
	// every record produced.
	Consume Throughput `json:"consume"`
	// Together: the same records produced again while a consumer that
	// started at the end of the topic (and polled once, so it is connected,
	// as a running indexer is) reads them, from the first Produce until the
	// last record was consumed: the two stages running at once, as ingest
	// and indexers do.
	Together Throughput `json:"together"`
}

// Kafka creates topic with the documents topic's settings and partitions
// partitions, produces the first n documents of c (n <= 0: all) as the ingest
// service does, consumes them back, produces them once more while consuming
// concurrently, and deletes the topic. The topic must not exist.
func Kafka(ctx context.Context, brokers []string, topicName string, partitions int, c corpus.Corpus, n int) (KafkaResult, error) {
	n = limit(c, n)
	spec := topic.Config{Documents: topicName, DocumentsPartitions: partitions}.DocumentsSpec()
	res := KafkaResult{Corpus: c.Name(), Topic: topicName, Partitions: partitions, Settings: KafkaSettings{
		Acks: "all", Idempotent: true, Partitioner: "sticky key (murmur2)", LingerMillis: producerLinger.Milliseconds(),
		MaxBufferedRecords: producerBufferRecords, MaxBufferedBytes: producerBufferBytes,
		ProducerBatchMaxBytes: producerBatchMaxBytes, FetchMaxPartitionBytes: fetchMaxPartitionBytes,
		FetchMaxBytes: fetchMaxBytes, Consumer: "direct partition consumer (no group), from the start",
		OperationDocs: OperationDocs, TopicConfigs: spec.Configs}}
	if partitions < 1 {
		return res, fmt.Errorf("partitions %d: want at least 1", partitions)
	}
	recs, bytes, err := kafkaRecords(c, n, topicName, time.Now())
	if err != nil {
		return res, err
	}
	kcfg := kclient.Config{Brokers: strings.Join(brokers, ",")}
	log := zerolog.Nop()

	admCl, err := kgo.NewClient(kclient.Options(kcfg, "bench_admin", log, nil)...)
	if err != nil {
		return res, fmt.Errorf("kafka admin client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	// The topic is deleted afterwards: it must be this run's own.
	existing, err := adm.ListTopics(kadm.WithAuthorizedOps(ctx), topicName)
	if err != nil {
		return res, fmt.Errorf("list topics: %w", err)
	}
	if d, ok := existing[topicName]; ok && d.Err == nil {
		return res, fmt.Errorf("topic %q exists already: the Kafka stage creates and deletes its own", topicName)
	}
	if err := topic.Ensure(ctx, adm, -1, spec); err != nil {
		return res, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopic(dctx, topicName)
	}()
	if err := waitLeaders(ctx, adm, topicName, partitions); err != nil {
		return res, err
	}

	producer, err := kgo.NewClient(append(kclient.Options(kcfg, "bench_documents", log, nil), producerOpts()...)...)
	if err != nil {
		return res, fmt.Errorf("kafka producer: %w", err)
	}
	defer producer.Close()
	// A running ingest service has its producer id and the topic's
	// metadata: one record, not counted, gets them before the timer.
	warmup := &kgo.Record{Topic: topicName, Key: []byte(warmupKey)}
	if err := producer.ProduceSync(ctx, warmup).FirstErr(); err != nil {
		return res, fmt.Errorf("produce warm-up record: %w", err)
	}

	// Produce.
	start := time.Now()
	if err := produceAll(ctx, producer, recs); err != nil {
		return res, err
	}
	res.Produce = throughput(n, bytes, time.Since(start))

	// Consume with a fresh consumer.
	start = time.Now()
	got, gotBytes, err := consume(ctx, kcfg, log, topicName, nil, n)
	if err != nil {
		return res, err
	}
	res.Consume = throughput(got, gotBytes, time.Since(start))
	if got != n || gotBytes != bytes {
		return res, fmt.Errorf("consumed %d records of %d bytes, produced %d of %d bytes", got, gotBytes, n, bytes)
	}

	// Produce again while a consumer reads from the end of the topic.
	ends, err := adm.ListEndOffsets(ctx, topicName)
	if err != nil {
		return res, fmt.Errorf("list end offsets: %w", err)
	}
	from := map[int32]kgo.Offset{}
	var endErr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil && endErr == nil {
			endErr = o.Err
		}
		from[o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	if endErr != nil {
		return res, fmt.Errorf("list end offsets: %w", endErr)
	}
	recs2, _, err := kafkaRecords(c, n, topicName, time.Now())
	if err != nil {
		return res, err
	}
	cl, err := newConsumer(kcfg, log, topicName, from)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	if err := warm(ctx, cl); err != nil {
		return res, err
	}
	start = time.Now()
	var produceErr error
	var wg sync.WaitGroup
	wg.Go(func() { produceErr = produceAll(ctx, producer, recs2) })
	got, gotBytes, err = drain(ctx, cl, n)
	wg.Wait()
	res.Together = throughput(got, gotBytes, time.Since(start))
	if err = errors.Join(produceErr, err); err != nil {
		return res, err
	}
	if got != n || gotBytes != bytes {
		return res, fmt.Errorf("consumed %d records of %d bytes while producing %d of %d bytes", got, gotBytes, n, bytes)
	}
	return res, nil
}

// producerOpts are the ingest documents producer's options (franz-go's
// producer is idempotent by default).
func producerOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(producerLinger),
		kgo.MaxBufferedRecords(producerBufferRecords),
		kgo.MaxBufferedBytes(producerBufferBytes),
		kgo.ProducerBatchMaxBytes(producerBatchMaxBytes),
	}
}

// kafkaRecords builds the records the ingest service produces for the first
// n documents of c, posted in operations of OperationDocs documents, and
// sums their sizes as the ingest producer counts them.
func kafkaRecords(c corpus.Corpus, n int, topicName string, now time.Time) ([]*kgo.Record, int64, error) {
	recs := make([]*kgo.Record, n)
	var size int64
	var op string
	for i := range n {
		d := c.Doc(i)
		if err := checkDoc(i, d); err != nil {
			return nil, 0, err
		}
		seq := i % OperationDocs
		if seq == 0 {
			op = bulkop.NewID(now)
		}
		r := &kgo.Record{
			Topic: topicName,
			Key:   document.Key(Index, d.ID),
			Value: envelope(d),
			Headers: []kgo.RecordHeader{
				{Key: document.HeaderOperation, Value: []byte(op)},
				{Key: document.HeaderSeq, Value: document.Seq(seq)},
			},
		}
		size += recordBytes(r)
		recs[i] = r
	}
	return recs, size, nil
}

func recordBytes(r *kgo.Record) int64 {
	n := int64(len(r.Key) + len(r.Value))
	for _, h := range r.Headers {
		n += int64(len(h.Key) + len(h.Value))
	}
	return n
}

// waitLeaders waits until every partition of a new topic has a leader that
// answers offset requests, so that the timed produce does not measure the
// broker's topic creation.
func waitLeaders(ctx context.Context, adm *kadm.Client, topicName string, partitions int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ends, err := adm.ListEndOffsets(ctx, topicName)
		ready := 0
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err == nil {
					ready++
				}
			})
		}
		if ready == partitions {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topic %q: %d of %d partitions ready after 30s (last error: %v)", topicName, ready, partitions, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// produceAll produces recs and waits until every one is acknowledged.
func produceAll(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	var (
		wg     sync.WaitGroup
		failed atomic.Int64
		first  atomic.Pointer[error]
	)
	wg.Add(len(recs))
	for _, r := range recs {
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				first.CompareAndSwap(nil, &err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("produce: %d of %d records failed: %w", f, len(recs), *first.Load())
	}
	return nil
}

// newConsumer is a consumer of topicName with the indexer's fetch sizes,
// from the given offsets (nil: every partition from the start).
func newConsumer(kcfg kclient.Config, log zerolog.Logger, topicName string, from map[int32]kgo.Offset) (*kgo.Client, error) {
	opts := append(kclient.Options(kcfg, "bench_consumer", log, nil),
		kgo.FetchMaxPartitionBytes(fetchMaxPartitionBytes), kgo.FetchMaxBytes(fetchMaxBytes))
	if from == nil {
		opts = append(opts, kgo.ConsumeTopics(topicName), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	} else {
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topicName: from}))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	return cl, nil
}

// consume reads want records with a new consumer (see newConsumer) and
// returns how many records it read and their size.
func consume(ctx context.Context, kcfg kclient.Config, log zerolog.Logger, topicName string,
	from map[int32]kgo.Offset, want int) (int, int64, error) {
	cl, err := newConsumer(kcfg, log, topicName, from)
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	return drain(ctx, cl, want)
}

// drain polls cl until it has read want records, and returns how many it
// read and their size.
func drain(ctx context.Context, cl *kgo.Client, want int) (int, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	got, bytes := 0, int64(0)
	for got < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return got, bytes, fmt.Errorf("consume: %d of %d records: %w", got, want, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("consume %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return got, bytes, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Key) == warmupKey {
				return
			}
			got++
			bytes += recordBytes(r)
		})
	}
	return got, bytes, nil
}

// warm polls cl once, briefly, so that it has its connections and fetch
// sessions before a measurement starts, as a running indexer has. It returns
// an error if that poll returned records (there must be none yet).
func warm(ctx context.Context, cl *kgo.Client) error {
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	fs := cl.PollFetches(wctx)
	if n := fs.NumRecords(); n > 0 {
		return fmt.Errorf("warm-up poll read %d records past the end of the topic", n)
	}
	return ctx.Err()
}
