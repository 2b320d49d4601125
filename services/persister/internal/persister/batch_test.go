package persister

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/dirtyterms"
)

func rec(key string, size int, more bool) *kgo.Record {
	r := &kgo.Record{Key: []byte(key), Value: make([]byte, size)}
	if more {
		r.Headers = []kgo.RecordHeader{{Key: dirtyterms.MoreHeader, Value: []byte("1")}}
	}
	return r
}

func TestBatchLinger(t *testing.T) {
	cfg := Config{Linger: 250 * time.Millisecond, BatchEvents: 4, BatchBytes: 1000}
	t0 := time.Unix(1000, 0)

	// A lone event: wait one Linger for more.
	b := newBatch(cfg)
	b.add(rec("docs/0", 10, false), t0)
	if w := b.wait(t0); w != cfg.Linger {
		t.Fatalf("wait after one event: %v, want %v", w, cfg.Linger)
	}
	if b.moreComing() {
		t.Fatal("more coming without a hint")
	}
	// Events keep arriving: at most 4 × Linger after the first.
	if w := b.wait(t0.Add(900 * time.Millisecond)); w != 100*time.Millisecond {
		t.Fatalf("wait near the 4 × Linger limit: %v, want 100ms", w)
	}
	if w := b.wait(t0.Add(time.Second)); w > 0 {
		t.Fatalf("wait at the limit: %v, want none", w)
	}

	// An indexer says more of partition 1 is coming: wait up to 20 × Linger,
	// until that partition's next event comes without the hint.
	b = newBatch(cfg)
	b.add(rec("docs/1", 10, true), t0)
	b.add(rec("docs/2", 10, false), t0)
	if !b.moreComing() {
		t.Fatal("the hint of docs/1 was lost")
	}
	if w := b.wait(t0.Add(2 * time.Second)); w != cfg.Linger {
		t.Fatalf("wait while more is coming, past 4 × Linger: %v, want %v", w, cfg.Linger)
	}
	if w := b.wait(t0.Add(5 * time.Second)); w > 0 {
		t.Fatalf("wait at 20 × Linger: %v, want none", w)
	}
	b.add(rec("docs/1", 10, false), t0.Add(time.Second))
	if b.moreComing() {
		t.Fatal("docs/1's last event says no more, still waiting")
	}

	// The partitions of one indexer poll: the first event names the others
	// (and its own partition, of which more was in the log); the batch
	// waits until each has come, its last one naming none.
	b = newBatch(cfg)
	first := rec("docs/2", 10, false)
	first.Headers = []kgo.RecordHeader{{Key: dirtyterms.MoreHeader, Value: dirtyterms.EncodeMore([]string{"docs/0", "docs/2", "docs/3"})}}
	b.add(first, t0)
	second := rec("docs/0", 10, false)
	second.Headers = []kgo.RecordHeader{{Key: dirtyterms.MoreHeader, Value: dirtyterms.EncodeMore([]string{"docs/3"})}}
	b.add(second, t0)
	b.add(rec("docs/3", 10, false), t0)
	if !b.moreComing() || !b.more["docs/2"] || len(b.more) != 1 {
		t.Fatalf("after the poll's events: waiting for %v, want docs/2 (more of its own partition)", b.more)
	}
	b.add(rec("docs/2", 10, false), t0)
	if b.moreComing() {
		t.Fatalf("every awaited event came, still waiting for %v", b.more)
	}

	// Full by events or by bytes: apply at once.
	b = newBatch(cfg)
	for range 4 {
		b.add(rec("docs/0", 1, true), t0)
	}
	if w := b.wait(t0); w > 0 {
		t.Fatalf("wait with %d events (cap %d): %v", len(b.recs), cfg.BatchEvents, w)
	}
	b = newBatch(cfg)
	b.add(rec("docs/0", 1000, true), t0)
	if w := b.wait(t0); w > 0 {
		t.Fatalf("wait with %d bytes (cap %d): %v", b.bytes, cfg.BatchBytes, w)
	}

	// Linger 0: each poll is a batch.
	cfg.Linger = 0
	b = newBatch(cfg)
	b.add(rec("docs/0", 1, true), t0)
	if w := b.wait(t0); w > 0 {
		t.Fatalf("wait with Linger 0: %v", w)
	}
}

// Events are decoded as they arrive: a decoded event drops its record's
// bytes (the batch holds each event once), a poison one keeps them for the
// dead-letter topic, and the order of records is kept.
func TestBatchDecodesOnArrival(t *testing.T) {
	ev := &dirtyterms.Event{V: dirtyterms.Version, Topic: "docs", Partition: 0, FirstOffset: 7, LastOffset: 7,
		Records: []dirtyterms.Record{{Offset: 7, Index: "books", ID: "a", Count: 1}},
		Terms:   []dirtyterms.Term{{Index: "books", Field: "title", Term: "go", Ops: []dirtyterms.Op{{Rec: 0, TF: 1, Length: 1}}}}}
	v, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	good := &kgo.Record{Key: []byte("docs/0"), Value: v}
	bad := &kgo.Record{Key: []byte("docs/0"), Value: []byte(`{"v":1,"terms":[`)}
	b := newBatch(Config{Linger: time.Second, BatchEvents: 10, BatchBytes: 1 << 20})
	b.add(good, time.Unix(1000, 0))
	b.add(bad, time.Unix(1000, 0))
	if b.bytes != len(v)+len(`{"v":1,"terms":[`) {
		t.Fatalf("batch bytes %d: the encoded sizes count toward BatchBytes", b.bytes)
	}
	if b.errs[0] != nil || b.evs[0] == nil || b.evs[0].Terms[0].Term != "go" || b.evs[0].Records[0].ID != "a" {
		t.Fatalf("event 0 not decoded: %+v, %v", b.evs[0], b.errs[0])
	}
	if good.Value != nil {
		t.Fatal("a decoded event's record keeps its bytes")
	}
	if b.errs[1] == nil || b.evs[1] != nil {
		t.Fatalf("poison event 1 decoded: %+v", b.evs[1])
	}
	if string(bad.Value) != `{"v":1,"terms":[` {
		t.Fatal("a poison event's record lost the bytes the dead-letter topic needs")
	}
	if b.decode <= 0 {
		t.Fatal("decoding time not counted")
	}
}
