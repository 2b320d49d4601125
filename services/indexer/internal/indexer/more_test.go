package indexer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
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

	events := readEvents(t, tc)
	var hints []bool
	var last int64 = -1
	for _, e := range events {
		hints = append(hints, len(e.more) > 0)
		last = max(last, e.last)
		for _, k := range e.more {
			if k != e.key {
				t.Errorf("event of %s names %s: one partition, no other to wait for", e.key, k)
			}
		}
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

// TestMoreHintNamesPollPartitions: with several partitions in a poll,
// indexed in parallel, an event names the poll's partitions whose events
// are still to come, so the persister waits for the whole poll; the last
// event says nothing is coming.
func TestMoreHintNamesPollPartitions(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 4)
	c := newCorpus(t, tc.brokers, 2, 400)
	c.produce(400) // before the indexer starts: its polls span partitions
	a := tc.start(tc.config("ix", "a"), t.TempDir())
	tc.waitCommitted("ix", 20*time.Second)
	a.stop()

	events := readEvents(t, tc)
	keys := map[string]bool{}
	for p := range 4 {
		keys[eventKey(testTopics.Documents, int32(p))] = true
	}
	others := 0
	for _, e := range events {
		for _, k := range e.more {
			if !keys[k] {
				t.Errorf("event of %s names %q, not a documents partition", e.key, k)
			}
			if k != e.key {
				others++
			}
		}
	}
	if others == 0 {
		t.Errorf("no event of %d names another partition of its poll", len(events))
	}
	if e := events[len(events)-1]; len(e.more) > 0 {
		t.Errorf("the last event (%s) says %v are coming", e.key, e.more)
	}
}

// TestPollHoldsEveryPartitionOfABacklog: with the default fetch and poll
// sizes, a backlog of short documents on four partitions is taken by one
// poll that holds all four (indexed in parallel), not partition by
// partition: the first event names the three others as still to come.
func TestPollHoldsEveryPartitionOfABacklog(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 4)
	c := newCorpus(t, tc.brokers, 4, 4000)
	c.produce(8000) // before the indexer starts
	cfg := tc.config("ix", "a")
	cfg.MaxPollRecords = Defaults().MaxPollRecords
	a := tc.start(cfg, t.TempDir())
	tc.waitCommitted("ix", 30*time.Second)
	a.stop()

	events := readEvents(t, tc)
	first := events[0]
	others := map[string]bool{}
	for _, k := range first.more {
		if k != first.key {
			others[k] = true
		}
	}
	if len(others) != 3 {
		t.Errorf("the first event (%s, %d records) names %v as still to come, want the three other partitions", first.key, first.records, first.more)
	}
	if len(events) != 4 {
		t.Errorf("%d events for a backlog of 8000 short documents, want one per partition", len(events))
	}
}

// TestOversizedEventIsSplit: a batch whose dirty-terms event would be larger
// than MaxEventBytes is handed over as several events within the limit,
// which cover its records once and in order and say together what one event
// would have said; all but the last tell the persister more is coming.
func TestOversizedEventIsSplit(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 1)
	c := newCorpus(t, tc.brokers, 3, 200)
	c.produce(300) // before the indexer starts: batches of up to 300 records
	cfg := tc.config("ix", "a")
	cfg.MaxPollRecords = 300
	cfg.MaxEventBytes = 8 << 10
	a := tc.start(cfg, t.TempDir())
	tc.waitCommitted("ix", 20*time.Second)
	a.stop()

	events := readEvents(t, tc)
	if splits := testutil.ToFloat64(a.ix.m.splits); splits == 0 || len(events) < 4 {
		t.Fatalf("%v batches split into %d events; want the 300 records (about 60 kB of events) in several", splits, len(events))
	}
	next := int64(0)
	for i, e := range events {
		if e.size > cfg.MaxEventBytes && e.records > 1 {
			t.Errorf("event %d (offsets %d-%d, %d records): %d bytes, over the %d limit", i, e.first, e.last, e.records, e.size, cfg.MaxEventBytes)
		}
		if e.first != next {
			t.Errorf("event %d starts at offset %d, want %d", i, e.first, next)
		}
		next = e.last + 1
		if hinted := len(e.more) > 0; hinted != (i < len(events)-1) {
			t.Errorf("event %d of %d (offsets %d-%d) says more is coming: %v", i, len(events), e.first, e.last, hinted)
		}
	}
	if next != 300 {
		t.Errorf("events end at offset %d, want 300", next)
	}
	postings, docs, _ := handedOver(tc.events())
	c.checkHandedOver(postings, docs)
}

type dirtyEvent struct {
	key     string
	more    []string // what its MoreHeader names
	first   int64    // its first source offset
	last    int64    // its last source offset
	records int      // its records
	size    int      // its encoded bytes
}

// readEvents reads the whole dirty-terms topic.
func readEvents(t *testing.T, tc *testCluster) []dirtyEvent {
	t.Helper()
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
	var out []dirtyEvent
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
			h := dirtyEvent{key: string(r.Key), first: ev.FirstOffset, last: ev.LastOffset, records: len(ev.Records), size: len(r.Value)}
			for _, hd := range r.Headers {
				if hd.Key == dirtyterms.MoreHeader {
					h.more = dirtyterms.DecodeMore(hd.Value, h.key)
				}
			}
			out = append(out, h)
			next = r.Offset + 1
		})
	}
	return out
}

// TestParallelismBoundsBatchesIndexedAtOnce: a poll's four partitions are
// indexed at most Parallelism at a time. With one slot each batch waits,
// in the queue phase, for the index phases of the batches before it; with
// four slots none waits. Only time within one run is compared: the waits
// against the index phases they wait for.
func TestParallelismBoundsBatchesIndexedAtOnce(t *testing.T) {
	t.Parallel()
	phases := func(slots int) (queue, index float64, events int) {
		tc := newTestCluster(t, 4)
		c := newCorpus(t, tc.brokers, 5, 4000)
		c.produce(8000) // before the indexer starts: one poll of four batches
		cfg := tc.config("ix", "a")
		cfg.MaxPollRecords = Defaults().MaxPollRecords
		cfg.Parallelism = slots
		a := tc.start(cfg, t.TempDir())
		tc.waitCommitted("ix", 30*time.Second)
		a.stop()
		postings, docs, _ := handedOver(tc.events())
		c.checkHandedOver(postings, docs)
		return testutil.ToFloat64(a.ix.m.phases.WithLabelValues("queue")), testutil.ToFloat64(a.ix.m.phases.WithLabelValues("index")),
			len(readEvents(t, tc))
	}
	queue, index, events := phases(1)
	if events != 4 {
		t.Fatalf("%d events, want one poll of four batches", events)
	}
	// Batch k waits for the k-1 index phases before it: of four batches
	// of about equal size, the waits add up to about 1.5 times the index
	// phases; at most one batch's worth of them is missing however the
	// sizes fall.
	if queue < index/3 {
		t.Errorf("one slot: batches waited %.3f s for %.3f s of index phases; want them indexed one at a time", queue, index)
	}
	queue, index, _ = phases(4)
	if queue > index/10 {
		t.Errorf("four slots: batches waited %.3f s, against %.3f s of index phases; want no wait", queue, index)
	}
}
