package indexer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/dirtyterms"
)

// TestMoreHint: an indexer that fetched only part of what a partition held
// marks that batch's dirty-terms event with dirtyterms.MoreHeader (the
// persister keeps collecting), and the event of the batch that reached the
// partition's end carries no hint.
func TestMoreHint(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 1)
	c := newCorpus(t, tc.brokers, 1, 60)
	c.produce(300)                                   // before the indexer starts: every fetch sees the whole log
	a := tc.start(tc.config("ix", "a"), t.TempDir()) // 40 records per poll
	tc.waitCommitted("ix", 20*time.Second)
	a.stop()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := tc.adm.ListEndOffsets(ctx, tc.topics.DirtyTerms)
	if err != nil {
		t.Fatal(err)
	}
	end := ends[tc.topics.DirtyTerms][0].Offset
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(tc.brokers, ",")...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{tc.topics.DirtyTerms: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var hints []bool
	var last int64 = -1
	for next := int64(0); next < end; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read dirty-terms: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			ev, err := dirtyterms.Decode(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			more := false
			for _, h := range r.Headers {
				more = more || h.Key == dirtyterms.MoreHeader
			}
			hints = append(hints, more)
			last = max(last, ev.LastOffset)
			next = r.Offset + 1
		})
	}
	if len(hints) < 3 || last != 299 {
		t.Fatalf("%d events up to source offset %d, want several up to 299", len(hints), last)
	}
	if hints[len(hints)-1] {
		t.Errorf("the event that reached the partition's end says more is coming")
	}
	withHint := 0
	for _, h := range hints[:len(hints)-1] {
		if h {
			withHint++
		}
	}
	if withHint == 0 {
		t.Errorf("no event of %d says more is coming, though every fetch saw the whole log", len(hints))
	}
}
