// Package webhook notifies completion webhooks: when a bulk operation
// reaches completed, partially_completed or failed, ingest POSTs its state
// (the JSON of GET /bulk-operations/{id}) to the operation's targets — the
// request's callbackUrl and the configured URLs, fixed when the operation
// is created.
//
// Each POST is signed: X-Termflow-Signature is "sha256=" and the hex
// HMAC-SHA256 of the body with the configured secret. X-Termflow-Event
// names the status ("operation.completed") and X-Termflow-Delivery is
// "<operation id>/<status>", the same for every attempt. A 2xx answer is a
// delivery; a connection error, 408, 429 or 5xx is retried with exponential
// backoff (with jitter) up to MaxAttempts; any other answer gives up.
//
// A delivery, or giving up, is recorded in the operation's state
// (bulkop.Webhook.Notified), which the tracker publishes to the compacted
// bulk-ops topic like every change; a target is notified of a status only
// if it is not recorded there. So each (operation, status, URL) is notified
// once, also across restarts — except that ingest dying between a 2xx and
// the publication of that record repeats the delivery after the restart
// (receivers can drop it by X-Termflow-Delivery). Deliveries cut by a
// shutdown are retried by the next start.
//
// Only URLs whose host is on the allow-list are ever called (ingest answers
// 400 to a request naming another), redirects are not followed, and the
// configured URLs must be on the allow-list too.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/termflow/termflow/pkg/bulkop"
	"github.com/termflow/termflow/pkg/flagenv"
)

// Header names.
const (
	HeaderSignature = "X-Termflow-Signature"
	HeaderEvent     = "X-Termflow-Event"
	HeaderDelivery  = "X-Termflow-Delivery"
)

// Config configures the notifier.
type Config struct {
	// URLs are notified of every operation created while they are
	// configured, comma separated (-webhook-urls, TERMFLOW_WEBHOOK_URLS).
	// The default value is "".
	URLs string
	// AllowedHosts are the hosts webhooks may call, comma separated: a host
	// name or IP (any port), host:port, or *.domain for its subdomains
	// (-webhook-allowed-hosts, TERMFLOW_WEBHOOK_ALLOWED_HOSTS). The default
	// value is "": no callbackUrl is accepted.
	AllowedHosts string
	// Secret keys the HMAC-SHA256 signature (-webhook-secret,
	// TERMFLOW_WEBHOOK_SECRET); required when URLs or AllowedHosts are set.
	// The default value is "".
	Secret string
	// Timeout bounds one attempt (-webhook-timeout,
	// TERMFLOW_WEBHOOK_TIMEOUT). The default value is 10s.
	Timeout time.Duration
	// MaxAttempts is the number of attempts before giving up
	// (-webhook-max-attempts, TERMFLOW_WEBHOOK_MAX_ATTEMPTS). The default
	// value is 8.
	MaxAttempts int
	// MinBackoff is the wait after the first failed attempt, doubled after
	// each (-webhook-min-backoff, TERMFLOW_WEBHOOK_MIN_BACKOFF). The default
	// value is 1s.
	MinBackoff time.Duration
	// MaxBackoff caps the wait (-webhook-max-backoff,
	// TERMFLOW_WEBHOOK_MAX_BACKOFF). The default value is 1m.
	MaxBackoff time.Duration
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{Timeout: 10 * time.Second, MaxAttempts: 8, MinBackoff: time.Second, MaxBackoff: time.Minute}
}

// AddFlags binds the configuration to flags and environment variables.
func (c *Config) AddFlags(fs *flagenv.Set) {
	d := Defaults()
	fs.String(&c.URLs, "webhook-urls", "TERMFLOW_WEBHOOK_URLS", "", "completion webhooks of every operation, comma separated")
	fs.String(&c.AllowedHosts, "webhook-allowed-hosts", "TERMFLOW_WEBHOOK_ALLOWED_HOSTS", "", "hosts webhooks may call: host, host:port or *.domain, comma separated")
	fs.String(&c.Secret, "webhook-secret", "TERMFLOW_WEBHOOK_SECRET", "", "HMAC-SHA256 key of the X-Termflow-Signature header")
	fs.Duration(&c.Timeout, "webhook-timeout", "TERMFLOW_WEBHOOK_TIMEOUT", d.Timeout, "bound of one webhook attempt")
	fs.Int(&c.MaxAttempts, "webhook-max-attempts", "TERMFLOW_WEBHOOK_MAX_ATTEMPTS", d.MaxAttempts, "webhook attempts before giving up")
	fs.Duration(&c.MinBackoff, "webhook-min-backoff", "TERMFLOW_WEBHOOK_MIN_BACKOFF", d.MinBackoff, "wait after a failed webhook attempt, doubled after each")
	fs.Duration(&c.MaxBackoff, "webhook-max-backoff", "TERMFLOW_WEBHOOK_MAX_BACKOFF", d.MaxBackoff, "longest wait between webhook attempts")
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	urls, hosts := splitList(c.URLs), splitList(c.AllowedHosts)
	if (len(urls) > 0 || len(hosts) > 0) && c.Secret == "" {
		errs = append(errs, errors.New("webhooks need a secret (TERMFLOW_WEBHOOK_SECRET)"))
	}
	if c.Timeout <= 0 || c.MaxAttempts < 1 || c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff {
		errs = append(errs, errors.New("webhook timeout, max attempts and min backoff must be positive, max backoff at least min backoff"))
	}
	for _, h := range hosts {
		if strings.ContainsAny(h, "/@?# ") {
			errs = append(errs, fmt.Errorf("webhook allowed host %q: want host, host:port or *.domain", h))
		}
	}
	al := allowList(hosts)
	for _, u := range urls {
		if err := al.check(u); err != nil {
			errs = append(errs, fmt.Errorf("webhook URL: %w (add its host to TERMFLOW_WEBHOOK_ALLOWED_HOSTS)", err))
		}
	}
	return errors.Join(errs...)
}

// allowList is the allowed hosts, lower-cased.
type allowList []string

// check parses raw and reports whether its host is allowed.
func (al allowList) check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http or https URL", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q: credentials in the URL are not allowed", raw)
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, a := range al {
		a = strings.ToLower(a)
		switch {
		case strings.HasPrefix(a, "*."):
			if strings.HasSuffix(host, a[1:]) {
				return nil
			}
		case a == host:
			return nil
		default:
			if h, p, err := net.SplitHostPort(a); err == nil && strings.Trim(h, "[]") == host && p == port {
				return nil
			}
		}
	}
	return fmt.Errorf("host %q of %q is not on the webhook allow-list", u.Host, raw)
}

// Marker records in an operation's state that url was notified of status
// (*tracker.Tracker).
type Marker interface {
	MarkNotified(id, url string, status bulkop.Status)
}

type job struct {
	id     string
	index  string
	url    string
	status bulkop.Status
	body   []byte
}

func (j job) key() string { return j.id + " " + string(j.status) + " " + j.url }

// Notifier delivers completion webhooks.
type Notifier struct {
	cfg    Config
	urls   []string
	allow  allowList
	hc     *http.Client
	marker Marker
	log    zerolog.Logger
	sleep  func(context.Context, time.Duration) bool

	mu      sync.Mutex
	queue   []job
	pending map[string]bool // jobs queued or in progress
	wake    chan struct{}

	deliveries *prometheus.CounterVec
	inFlight   prometheus.Gauge
}

// New returns a notifier; cfg must be valid. marker may be set later with
// SetMarker (the tracker and the notifier refer to each other).
func New(cfg Config, log zerolog.Logger, reg prometheus.Registerer) *Notifier {
	n := &Notifier{cfg: cfg, urls: splitList(cfg.URLs), allow: allowList(splitList(cfg.AllowedHosts)),
		hc: &http.Client{Timeout: cfg.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect could lead off the allow-list
		}},
		log: log, sleep: sleepCtx, pending: map[string]bool{}, wake: make(chan struct{}, 1)}
	n.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termflow_ingest_webhook_attempts_total",
		Help: "Completion webhook attempts, by result (delivered, retried, gave_up)."}, []string{"result"})
	n.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "termflow_ingest_webhook_pending",
		Help: "Completion webhooks not delivered (or given up) yet."})
	for _, r := range []string{"delivered", "retried", "gave_up"} {
		n.deliveries.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(n.deliveries, n.inFlight)
	}
	return n
}

// SetMarker sets where deliveries are recorded; call it before Run.
func (n *Notifier) SetMarker(m Marker) { n.marker = m }

// Targets checks a request's callbackUrl ("" for none) against the
// allow-list and returns the operation's targets: it, then the configured
// URLs.
func (n *Notifier) Targets(callbackURL string) ([]string, error) {
	var out []string
	if callbackURL != "" {
		if len(n.allow) == 0 {
			return nil, fmt.Errorf("callbackUrl: webhooks are not enabled (no host is allowed: TERMFLOW_WEBHOOK_ALLOWED_HOSTS)")
		}
		if err := n.allow.check(callbackURL); err != nil {
			return nil, fmt.Errorf("callbackUrl: %w", err)
		}
		out = append(out, callbackURL)
	}
	return append(out, n.urls...), nil
}

// Terminal queues the notifications st is due: its targets not yet
// notified of its status, if that is terminal. It does not block (the
// tracker calls it holding its lock).
func (n *Notifier) Terminal(st *bulkop.State) {
	urls := st.PendingWebhooks()
	if len(urls) == 0 {
		return
	}
	body, err := json.Marshal(st.View())
	if err != nil {
		n.log.Error().Str("operation", st.ID()).Err(err).Msg("encode webhook body")
		return
	}
	n.mu.Lock()
	for _, u := range urls {
		j := job{id: st.ID(), index: st.Index(), url: u, status: st.Status(), body: body}
		if n.pending[j.key()] {
			continue
		}
		n.pending[j.key()] = true
		n.queue = append(n.queue, j)
		n.inFlight.Inc()
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Run delivers queued notifications, each in its own goroutine, until ctx
// is done; then it waits for the attempts in progress to end (they are cut
// by ctx and retried by the next start).
func (n *Notifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		n.mu.Lock()
		q := n.queue
		n.queue = nil
		n.mu.Unlock()
		for _, j := range q {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n.deliver(ctx, j)
			}()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-n.wake:
		}
	}
}

// deliver runs the attempts of one notification.
func (n *Notifier) deliver(ctx context.Context, j job) {
	backoff := n.cfg.MinBackoff
	log := n.log.With().Str("operation", j.id).Str("index", j.index).Str("status", string(j.status)).Str("url", j.url).Logger()
	for attempt := 1; ; attempt++ {
		retry, err := n.attempt(ctx, j)
		if ctx.Err() != nil {
			return // shutting down: the next start delivers it
		}
		if err == nil {
			n.deliveries.WithLabelValues("delivered").Inc()
			log.Info().Int("attempts", attempt).Msg("webhook delivered")
			n.done(j)
			return
		}
		if !retry || attempt >= n.cfg.MaxAttempts {
			n.deliveries.WithLabelValues("gave_up").Inc()
			log.Warn().Int("attempts", attempt).Err(err).Msg("webhook given up")
			n.done(j)
			return
		}
		n.deliveries.WithLabelValues("retried").Inc()
		wait := backoff/2 + rand.N(backoff/2+1) // jitter in [backoff/2, backoff]
		log.Debug().Int("attempt", attempt).Dur("backoff", wait).Err(err).Msg("webhook attempt failed")
		backoff = min(2*backoff, n.cfg.MaxBackoff)
		if !n.sleep(ctx, wait) {
			return
		}
	}
}

func (n *Notifier) done(j job) {
	if n.marker != nil {
		n.marker.MarkNotified(j.id, j.url, j.status)
	}
	n.mu.Lock()
	delete(n.pending, j.key())
	n.mu.Unlock()
	n.inFlight.Dec()
}

// Sign returns the X-Termflow-Signature value of body.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// attempt POSTs once and reports whether a failure may be retried.
func (n *Notifier) attempt(ctx context.Context, j job) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.url, bytes.NewReader(j.body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "termflow-ingest")
	req.Header.Set(HeaderSignature, Sign(n.cfg.Secret, j.body))
	req.Header.Set(HeaderEvent, "operation."+string(j.status))
	req.Header.Set(HeaderDelivery, j.id+"/"+string(j.status))
	resp, err := n.hc.Do(req)
	if err != nil {
		return true, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c/100 == 2:
		return false, nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c/100 == 5:
		return true, fmt.Errorf("HTTP %d", c)
	default:
		return false, fmt.Errorf("HTTP %d", c)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
