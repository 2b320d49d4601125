package indexer

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/termflow/termflow/pkg/pebblestore"
)

// holdHandOver makes the broker sit on the indexer's first produce request
// to the dirty-terms topic until release is closed; started is closed when
// that request arrived.
func holdHandOver(tc *testCluster) (started, release chan struct{}) {
	tc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	details, err := tc.adm.ListTopics(ctx, testTopics.DirtyTerms)
	if err != nil {
		tc.t.Fatal(err)
	}
	id := details[testTopics.DirtyTerms].ID // produce v13+ names topics by id
	started, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	tc.c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		tc.c.KeepControl()
		for _, t := range req.(*kmsg.ProduceRequest).Topics {
			if t.Topic != testTopics.DirtyTerms && t.TopicID != id {
				continue
			}
			held := false
			once.Do(func() { held = true })
			if held {
				tc.c.DropControl()
				close(started)
				tc.c.SleepControl(func() { <-release })
			}
		}
		return nil, nil, false // the broker handles it
	})
	return started, release
}

// TestShutdownFinishesBatchInHand: SIGTERM while a batch is being handed
// over; the stop waits for Kafka's acks, commits the batch to Pebble and its
// offsets to the group, then leaves.
func TestShutdownFinishesBatchInHand(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 1)
	c := newCorpus(t, tc.brokers, 4, 30)
	started, release := holdHandOver(tc)
	c.produce(30) // one batch (MaxPollRecords is 40)

	r := tc.start(tc.config("sd", "a"), t.TempDir())
	select {
	case <-started:
	case <-time.After(15 * time.Second):
		t.Fatal("no hand-over")
	}
	r.cancel() // SIGTERM
	time.AfterFunc(500*time.Millisecond, func() { close(release) })
	took := r.stop()
	if took < 400*time.Millisecond {
		t.Errorf("stopped after %v, before the batch's acks", took)
	}
	if ok, msg := tc.committedAtEnd("sd"); !ok {
		t.Fatalf("batch in hand not committed: %s", msg)
	}
	if n := len(tc.events()); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}
	s, err := pebblestore.Open(r.dir, pebblestore.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if off, _ := s.Applied(testTopics.Documents, 0); off != 29 {
		t.Fatalf("pebble applied offset %d, want 29", off)
	}
}

// TestShutdownTimeoutAbandonsBatch: when Kafka does not acknowledge the
// hand-over within ShutdownTimeout, the stop gives up on the batch (nothing
// committed to Pebble or to the group) and returns an error in time.
func TestShutdownTimeoutAbandonsBatch(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 1)
	c := newCorpus(t, tc.brokers, 5, 30)
	started, release := holdHandOver(tc)
	defer close(release)
	c.produce(30)

	cfg := tc.config("sd", "a")
	cfg.ShutdownTimeout = time.Second
	r := tc.start(cfg, t.TempDir())
	select {
	case <-started:
	case <-time.After(15 * time.Second):
		t.Fatal("no hand-over")
	}
	start := time.Now()
	r.cancel()
	select {
	case err := <-r.done:
		if err == nil || !strings.Contains(err.Error(), "hand over batch") || strings.Contains(err.Error(), "leave") {
			t.Fatalf("Run returned %v, want only the abandoned hand-over", err)
		}
		t.Logf("Run returned after %v: %v", time.Since(start), err)
	case <-time.After(cfg.ShutdownTimeout + 3*time.Second):
		t.Fatal("Run did not return within the shutdown timeout")
	}
	if testutil.ToFloat64(r.ix.m.batches) != 0 {
		t.Fatal("abandoned batch counted as indexed")
	}
	if off, _ := r.store.Applied(testTopics.Documents, 0); off != -1 {
		t.Fatalf("abandoned batch committed to pebble (applied %d)", off)
	}
	r.store.Close()
	if ok, _ := tc.committedAtEnd("sd"); ok {
		t.Fatal("abandoned batch committed to the group")
	}
	// The batch took its part of the timeout; the leave still happened.
	if m := tc.assignment("sd"); len(m) != 0 {
		t.Fatalf("still in the group: %v", m)
	}
}
