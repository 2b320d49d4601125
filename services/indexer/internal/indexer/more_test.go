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

type dirtyEvent struct {
	key  string
	more []string // what its MoreHeader names
	last int64    // its last source offset
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
			h := dirtyEvent{key: string(r.Key), last: ev.LastOffset}
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
