package verify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// idleTimeout is how long a partition may deliver nothing before its end is
// taken as reached: the record at end-1 may be gone (a compacted tombstone
// or a transaction marker), and kgo does not report a position past it.
const idleTimeout = 10 * time.Second

// readTopic feeds exp every record of topic from the start of each
// partition to the end offsets listed when it starts. It returns warnings
// for partitions whose last offsets could not be read.
func readTopic(ctx context.Context, opts []kgo.Opt, topic string, exp *Expected, log zerolog.Logger) ([]string, error) {
	admCl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) || (err == nil && len(ends[topic]) == 0) {
		return nil, fmt.Errorf("documents topic %q does not exist", topic)
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %q: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %q: %w", topic, err)
	}
	end := map[int32]int64{}
	from := map[int32]kgo.Offset{}
	for p, o := range ends[topic] {
		s, _ := starts.Lookup(topic, p)
		if o.Offset > s.Offset {
			end[p] = o.Offset
			from[p] = kgo.NewOffset().At(s.Offset)
		}
	}
	if len(end) == 0 {
		return nil, nil
	}

	cl, err := kgo.NewClient(append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchMaxBytes(64<<20),
		kgo.FetchMaxPartitionBytes(16<<20),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	for len(end) > 0 {
		pctx, cancel := context.WithTimeout(ctx, idleTimeout)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		idle := false
		for _, fe := range fs.Errors() {
			if errors.Is(fe.Err, context.DeadlineExceeded) {
				idle = true
				continue
			}
			return nil, fmt.Errorf("read %q partition %d: %w", topic, fe.Partition, fe.Err)
		}
		var done []int32
		fs.EachRecord(func(r *kgo.Record) {
			e, ok := end[r.Partition]
			if !ok || r.Offset >= e {
				return // done, or produced after the start
			}
			exp.Add(r)
			if r.Offset >= e-1 {
				delete(end, r.Partition)
				done = append(done, r.Partition)
			}
		})
		if len(done) > 0 {
			cl.PauseFetchPartitions(map[string][]int32{topic: done})
		}
		if idle && fs.NumRecords() == 0 {
			return idleEnd(ctx, adm, topic, end, log)
		}
	}
	return nil, nil
}

// idleEnd decides about partitions that delivered nothing for idleTimeout
// before their end: with the broker answering, their tails are taken as
// gone; without, verification fails.
func idleEnd(ctx context.Context, adm *kadm.Client, topic string, end map[int32]int64, log zerolog.Logger) ([]string, error) {
	if _, err := adm.ListEndOffsets(ctx, topic); err != nil {
		return nil, fmt.Errorf("read %q: no records for %v and the broker does not answer: %w", topic, idleTimeout, err)
	}
	var warnings []string
	for p, e := range end {
		w := fmt.Sprintf("partition %d: nothing read for %v before end offset %d; taken as its end", p, idleTimeout, e)
		log.Warn().Str("topic", topic).Int32("partition", p).Int64("offset", e).Msg("partition end not reached")
		warnings = append(warnings, w)
	}
	return warnings, nil
}
