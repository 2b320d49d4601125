// Package auth guards ingest's HTTP API: API keys sent as bearer tokens,
// each with read and/or write permission, and a request rate per key.
//
// A key is configured as "name:permission:secret" (permission read, write
// or read+write; the secret at least MinSecretBytes long), several of them
// separated by newlines or commas, from a file or the environment. Only
// the name ever appears in answers, metrics or logs; the secret is kept as
// its SHA-256 and compared in constant time.
//
// GET and HEAD requests need the read permission (search, statistics,
// operation status), every other method the write permission (bulk, PUT,
// DELETE). The operational endpoints (/healthz, /readyz, /metrics,
// /debug/pprof/) are open: they reveal no documents.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Permission is a set of rights a key grants.
type Permission uint8

// The permissions.
const (
	Read  Permission = 1 << iota // GET and HEAD: search, statistics, operation status
	Write                        // every other method: bulk, PUT, DELETE
)

func (p Permission) String() string {
	switch p {
	case Read:
		return "read"
	case Write:
		return "write"
	case Read | Write:
		return "read+write"
	}
	return "none"
}

// MinSecretBytes is the shortest secret accepted.
const MinSecretBytes = 16

// Key is one configured API key.
type Key struct {
	Name  string
	Perms Permission
	hash  [sha256.Size]byte
}

// NewKey returns a key; the secret is kept only as its hash.
func NewKey(name string, perms Permission, secret string) Key {
	return Key{Name: name, Perms: perms, hash: sha256.Sum256([]byte(secret))}
}

// ParseKeys reads keys: entries "name:permission:secret" separated by
// newlines or commas; blank entries and lines starting with "#" are
// skipped. Errors name the entry by its position, never its secret.
func ParseKeys(text string) ([]Key, error) {
	var keys []Key
	names := map[string]bool{}
	hashes := map[[sha256.Size]byte]bool{}
	n := 0
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, e := range strings.Split(line, ",") {
			e = strings.TrimSpace(e)
			if e == "" {
				continue
			}
			n++
			parts := strings.SplitN(e, ":", 3)
			if len(parts) != 3 {
				return nil, fmt.Errorf("API key entry %d: want name:permission:secret", n)
			}
			name, perm, secret := parts[0], parts[1], parts[2]
			if name == "" || strings.ContainsAny(name, " \t\"") {
				return nil, fmt.Errorf("API key entry %d: empty name or one with spaces or quotes", n)
			}
			var p Permission
			switch perm {
			case "read":
				p = Read
			case "write":
				p = Write
			case "read+write", "readwrite", "rw":
				p = Read | Write
			default:
				return nil, fmt.Errorf("API key %q: permission %q: want read, write or read+write", name, perm)
			}
			if len(secret) < MinSecretBytes {
				return nil, fmt.Errorf("API key %q: secret shorter than %d bytes", name, MinSecretBytes)
			}
			k := NewKey(name, p, secret)
			if names[name] {
				return nil, fmt.Errorf("API key %q: name used twice", name)
			}
			if hashes[k.hash] {
				return nil, fmt.Errorf("API key %q: same secret as another key", name)
			}
			names[name], hashes[k.hash] = true, true
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// Config configures the guard.
type Config struct {
	// Disabled turns authentication off (local development only): every
	// request is served, without a rate limit. The default value is false.
	Disabled bool
	// Keys are the accepted keys; when enabled at least one is required.
	Keys []Key
	// Rate is the number of requests per second a key may make on average;
	// 0 turns the limit off. The default value is 100.
	Rate float64
	// Burst is the number of requests a key may make at once above Rate.
	// The default value is 200.
	Burst int
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if !c.Disabled && len(c.Keys) == 0 {
		return errors.New("no API keys configured: set TERMFLOW_API_KEYS or TERMFLOW_API_KEYS_FILE (name:permission:secret), or TERMFLOW_AUTH=off for local development")
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		return fmt.Errorf("rate limit %v: want a finite number >= 0", c.Rate)
	}
	if c.Rate > 0 && c.Burst < 1 {
		return fmt.Errorf("rate burst %d: want at least 1", c.Burst)
	}
	return nil
}

// Guard authenticates, authorizes and rate-limits requests.
type Guard struct {
	cfg Config
	now func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket // by key name

	rejected *prometheus.CounterVec
}

// New returns a guard; reg may be nil.
func New(cfg Config, reg prometheus.Registerer) *Guard {
	g := &Guard{cfg: cfg, now: time.Now, buckets: map[string]*bucket{},
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termflow_ingest_auth_rejections_total",
			Help: "Requests refused before reaching the API, by reason: missing or invalid key (401), forbidden (403), rate (429)."},
			[]string{"reason"})}
	for _, r := range []string{"missing", "invalid", "forbidden", "rate"} {
		g.rejected.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(g.rejected)
	}
	return g
}

// open reports whether path is an operational endpoint served to anyone.
func open(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return strings.HasPrefix(path, "/debug/pprof/")
}

// Required is the permission a request needs.
func Required(r *http.Request) Permission {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return Read
	}
	return Write
}

// Wrap returns next guarded.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	if g.cfg.Disabled {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if open(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		k, reason, msg := g.authenticate(r)
		if k == nil {
			g.rejected.WithLabelValues(reason).Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="termflow"`)
			writeError(w, http.StatusUnauthorized, msg)
			return
		}
		if need := Required(r); k.Perms&need == 0 {
			g.rejected.WithLabelValues("forbidden").Inc()
			writeError(w, http.StatusForbidden, fmt.Sprintf("API key %q has no %s permission (%s %s needs it)", k.Name, need, r.Method, r.URL.Path))
			return
		}
		if wait, ok := g.allow(k.Name); !ok {
			g.rejected.WithLabelValues("rate").Inc()
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			writeError(w, http.StatusTooManyRequests, fmt.Sprintf("API key %q is over its rate of %g requests per second; retry later", k.Name, g.cfg.Rate))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate finds the request's key. Every configured key is compared,
// in constant time, whatever matched, so the time taken tells nothing
// about which secret came close.
func (g *Guard) authenticate(r *http.Request) (k *Key, reason, msg string) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, "missing", "missing API key: send Authorization: Bearer <key>"
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return nil, "missing", "malformed Authorization header: want Bearer <key>"
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	found := -1
	for i := range g.cfg.Keys {
		if subtle.ConstantTimeCompare(sum[:], g.cfg.Keys[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil, "invalid", "invalid API key"
	}
	return &g.cfg.Keys[found], "", ""
}

// bucket is a token bucket: up to Burst tokens, refilled at Rate per
// second; a request takes one.
type bucket struct {
	tokens float64
	last   time.Time
}

// allow takes a token of the key's bucket, or reports how long until one
// is there.
func (g *Guard) allow(name string) (time.Duration, bool) {
	if g.cfg.Rate <= 0 {
		return 0, true
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.buckets[name]
	if b == nil {
		b = &bucket{tokens: float64(g.cfg.Burst), last: now}
		g.buckets[name] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(float64(g.cfg.Burst), b.tokens+el*g.cfg.Rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / g.cfg.Rate * float64(time.Second)), false
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]string{"error": msg})
}
