package tracker

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/bulkop"
	"github.com/termflow/termflow/pkg/progress"
	"github.com/termflow/termflow/services/ingest/internal/webhook"
)

// startNotifying runs a tracker and a webhook notifier wired as main does.
func (h *harness) startNotifying(cfg webhook.Config) (*running, *prometheus.Registry, func()) {
	producer := h.client()
	consumer := h.client(ConsumerOpts(h.cfg)...)
	reg := prometheus.NewRegistry()
	log := zerolog.New(zerolog.NewTestWriter(h.t)).Level(zerolog.WarnLevel)
	tr := New(h.cfg, producer, consumer, kadm.NewClient(producer), []kgo.Opt{kgo.SeedBrokers(h.seeds...)}, log, reg)
	n := webhook.New(cfg, log, reg)
	n.SetMarker(tr)
	tr.SetNotifier(n)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- tr.Run(ctx) }()
	nctx, ncancel := context.WithCancel(context.Background())
	go func() { done <- n.Run(nctx) }()
	for deadline := time.Now().Add(10 * time.Second); tr.Ready() != nil; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			h.t.Fatal("tracker not ready")
		}
	}
	stop := func() {
		ncancel() // as main: deliveries are cut, then the tracker publishes and stops
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				h.t.Errorf("run: %v", err)
			}
		}
		consumer.Close()
	}
	return &running{tr: tr, reg: reg}, reg, stop
}

// TestWebhookOncePerStatusAcrossRestart: a completed operation's webhook is
// delivered once, signed, and not again after a restart; one whose
// receiver was down when ingest stopped is delivered by the next process.
func TestWebhookOncePerStatusAcrossRestart(t *testing.T) {
	var down atomic.Bool
	var mu sync.Mutex
	got := map[string]int{} // delivery header → deliveries
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		got[r.Header.Get(webhook.HeaderDelivery)]++
		mu.Unlock()
	}))
	defer srv.Close()
	deliveries := func(key string) int {
		mu.Lock()
		defer mu.Unlock()
		return got[key]
	}
	cfg := webhook.Defaults()
	cfg.AllowedHosts, cfg.Secret, cfg.MinBackoff, cfg.MaxBackoff, cfg.MaxAttempts =
		strings.TrimPrefix(srv.URL, "http://"), "k", 5*time.Millisecond, 20*time.Millisecond, 1000000

	h := newHarness(t)
	r1, _, stop1 := h.startNotifying(cfg)
	now := time.Now()
	newOp := func(i int, url string) string {
		s, err := bulkop.New(bulkop.NewID(now.Add(time.Duration(i)*time.Millisecond)), "books", 3, 2, now)
		if err != nil {
			t.Fatal(err)
		}
		s.SetCallbackURL(url)
		s.AddWebhook(url)
		if err := r1.tr.Create(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		if err := r1.tr.Accept(context.Background(), s.ID()); err != nil {
			t.Fatal(err)
		}
		return s.ID()
	}
	op1 := newOp(0, srv.URL+"/one")
	h.send(progress.Message{Operation: op1, Stage: progress.Persisted, Seqs: progress.Ranges{{0, 2}}})
	waitStatus(t, r1.tr, op1, bulkop.Completed)
	waitFor(t, "delivery of op1", func() bool {
		s, _ := r1.tr.State(op1)
		return deliveries(op1+"/completed") == 1 && len(s.PendingWebhooks()) == 0
	})

	down.Store(true)
	op2 := newOp(1, srv.URL+"/two")
	h.send(progress.Message{Operation: op2, Stage: progress.Failed, Seqs: progress.Ranges{{0, 2}}})
	waitStatus(t, r1.tr, op2, bulkop.Failed)
	waitFor(t, "attempts at op2", func() bool {
		return testutil.ToFloat64(counter(t, r1.reg, "termflow_ingest_webhook_attempts_total", "retried")) > 0
	})
	stop1()

	down.Store(false)
	r2, _, stop2 := h.startNotifying(cfg)
	// The rebuilt state says op1 was notified, so only op2 is queued.
	if s, _ := r2.tr.State(op1); len(s.PendingWebhooks()) != 0 {
		t.Fatalf("op1 pending after restart: %v", s.PendingWebhooks())
	}
	if s, _ := r2.tr.State(op2); len(s.PendingWebhooks()) != 1 && deliveries(op2+"/failed") == 0 {
		t.Fatalf("op2 not pending after restart: %v", s.PendingWebhooks())
	}
	waitFor(t, "delivery of op2 after the restart", func() bool {
		s, _ := r2.tr.State(op2)
		return deliveries(op2+"/failed") == 1 && len(s.PendingWebhooks()) == 0
	})
	stop2()
	if n := deliveries(op1 + "/completed"); n != 1 {
		t.Fatalf("op1 delivered %d times", n)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name, result string) prometheus.Collector {
	t.Helper()
	return collectorFunc(func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "result" && l.GetValue() == result {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		return 0
	})
}

// collectorFunc is a one-value gauge computed on collection.
func collectorFunc(f func() float64) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "probe", Help: "test probe"}, f)
}
