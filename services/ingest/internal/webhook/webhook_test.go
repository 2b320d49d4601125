package webhook

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/termflow/termflow/pkg/bulkop"
	"github.com/termflow/termflow/pkg/progress"
)

func TestAllowList(t *testing.T) {
	al := allowList{"hooks.example.com", "127.0.0.1:9000", "*.corp.example", "[::1]:8080"}
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://hooks.example.com/x", true},
		{"http://HOOKS.example.com:8443/x?y=1", true},
		{"http://127.0.0.1:9000/", true},
		{"http://127.0.0.1:9001/", false},
		{"http://127.0.0.1/", false},
		{"https://a.b.corp.example/hook", true},
		{"https://corp.example.evil.com/hook", false},
		{"http://[::1]:8080/h", true},
		{"http://evil.com/?hooks.example.com", false},
		{"http://user:pw@hooks.example.com/", false},
		{"ftp://hooks.example.com/", false},
		{"/relative", false},
	} {
		if err := al.check(tc.url); (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

func TestValidate(t *testing.T) {
	c := Defaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c.AllowedHosts = "a.example"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("no secret: %v", err)
	}
	c.Secret, c.URLs = "s", "https://b.example/hook"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "allow-list") {
		t.Fatalf("URL off the allow-list: %v", err)
	}
	c.AllowedHosts = "a.example, b.example"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	n := New(c, zerolog.Nop(), nil)
	if got, err := n.Targets("https://a.example/cb"); err != nil || len(got) != 2 || got[0] != "https://a.example/cb" {
		t.Fatalf("targets %v %v", got, err)
	}
	if _, err := n.Targets("http://169.254.169.254/latest"); err == nil || !strings.Contains(err.Error(), "not on the webhook allow-list") {
		t.Fatalf("metadata address: %v", err)
	}
	if _, err := New(Defaults(), zerolog.Nop(), nil).Targets("https://a.example/cb"); err == nil {
		t.Fatal("callbackUrl accepted with no allowed host")
	}
}

type marks struct {
	mu sync.Mutex
	m  []string
	ch chan string
}

func (m *marks) MarkNotified(id, url string, status bulkop.Status) {
	m.mu.Lock()
	m.m = append(m.m, id+" "+string(status)+" "+url)
	m.mu.Unlock()
	m.ch <- url
}

func terminalState(t *testing.T, urls ...string) *bulkop.State {
	now := time.Now()
	st, err := bulkop.New(bulkop.NewID(now), "books", 2, 150, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range urls {
		st.AddWebhook(u)
	}
	st.Accept(now)
	st.Apply(progress.Message{Operation: st.ID(), Stage: progress.Persisted, Seqs: progress.Ranges{{0, 0}}}, now)
	st.Apply(progress.Message{Operation: st.ID(), Stage: progress.Failed, Seqs: progress.Ranges{{1, 1}},
		Errors: []progress.Failure{{Seq: 1, ID: "2", Reason: "bad", Partition: 0, Offset: 7}}}, now)
	if st.Status() != bulkop.PartiallyCompleted {
		t.Fatalf("status %s", st.Status())
	}
	return st
}

func TestDeliverSignedWithRetries(t *testing.T) {
	type got struct {
		body                 []byte
		sig, event, delivery string
	}
	var (
		mu    sync.Mutex
		calls = map[string]int{}
		recv  []got
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls[r.URL.Path]++
		switch {
		case r.URL.Path == "/flaky" && calls[r.URL.Path] <= 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		case r.URL.Path == "/gone":
			w.WriteHeader(http.StatusGone)
		case r.URL.Path == "/redirect":
			http.Redirect(w, r, "http://169.254.169.254/", http.StatusFound)
		default:
			recv = append(recv, got{b, r.Header.Get(HeaderSignature), r.Header.Get(HeaderEvent), r.Header.Get(HeaderDelivery)})
		}
	}))
	defer srv.Close()
	cfg := Defaults()
	cfg.AllowedHosts, cfg.Secret, cfg.MinBackoff, cfg.MaxBackoff, cfg.MaxAttempts = strings.TrimPrefix(srv.URL, "http://"), "s3cret", time.Millisecond, 2*time.Millisecond, 5
	reg := prometheus.NewRegistry()
	n := New(cfg, zerolog.New(zerolog.NewTestWriter(t)), reg)
	m := &marks{ch: make(chan string, 10)}
	n.SetMarker(m)
	st := terminalState(t, srv.URL+"/flaky", srv.URL+"/gone", srv.URL+"/redirect")
	n.Terminal(st)
	n.Terminal(st) // queued once
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	marked := map[string]bool{}
	for len(marked) < 3 {
		select {
		case u := <-m.ch:
			if marked[u] {
				t.Fatalf("%s marked twice", u)
			}
			marked[u] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("marked %v", marked)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls["/flaky"] != 3 || calls["/gone"] != 1 || calls["/redirect"] != 1 || len(recv) != 1 {
		t.Fatalf("calls %v, received %d", calls, len(recv))
	}
	r := recv[0]
	if !hmac.Equal([]byte(r.sig), []byte(Sign("s3cret", r.body))) || r.event != "operation.partially_completed" ||
		r.delivery != st.ID()+"/partially_completed" {
		t.Fatalf("headers %+v", r)
	}
	var v bulkop.View
	if err := json.Unmarshal(r.body, &v); err != nil || v.ID != st.ID() || v.Status != bulkop.PartiallyCompleted || v.FailedDocuments != 1 {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if got := testutil.ToFloat64(n.deliveries.WithLabelValues("delivered")); got != 1 {
		t.Fatalf("delivered %v", got)
	}
	if got := testutil.ToFloat64(n.deliveries.WithLabelValues("gave_up")); got != 2 {
		t.Fatalf("gave up %v", got)
	}
	if got := testutil.ToFloat64(n.inFlight); got != 0 {
		t.Fatalf("pending %v", got)
	}
	if probs, err := testutil.CollectAndLint(n.deliveries); err != nil || len(probs) > 0 {
		t.Fatalf("lint %v %v", probs, err)
	}
}
