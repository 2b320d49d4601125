package auth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const (
	rw = "rw-secret-0123456789"
	ro = "ro-secret-0123456789"
	wo = "wo-secret-0123456789"
)

func guard(t *testing.T, rate float64, burst int) (*Guard, http.Handler, *prometheus.Registry) {
	t.Helper()
	keys, err := ParseKeys("# comment\napp:read+write:" + rw + "\nreader:read:" + ro + ", writer:write:" + wo)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	g := New(Config{Keys: keys, Rate: rate, Burst: burst}, reg)
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	return g, h, reg
}

func do(h http.Handler, method, path, auth string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestGuard(t *testing.T) {
	_, h, reg := guard(t, 0, 0)
	for _, tt := range []struct {
		method, path, auth string
		code               int
		msg                string
	}{
		{"GET", "/indexes/books/search", "", 401, "missing API key"},
		{"GET", "/indexes/books/search", "Basic dXNlcjpwYXNz", 401, "malformed Authorization"},
		{"GET", "/indexes/books/search", "Bearer ", 401, "malformed Authorization"},
		{"GET", "/indexes/books/search", "Bearer nope-nope-nope-nope", 401, "invalid API key"},
		{"GET", "/indexes/books/search", "Bearer " + rw[:len(rw)-1], 401, "invalid API key"},
		{"GET", "/indexes/books/search", "Bearer " + rw, 418, ""},
		{"GET", "/indexes/books/search", "bearer " + ro, 418, ""},
		{"HEAD", "/bulk-operations", "Bearer " + ro, 418, ""},
		{"POST", "/bulk-indexing/books", "Bearer " + ro, 403, `API key "reader" has no write permission`},
		{"DELETE", "/indexes/books/documents/1", "Bearer " + ro, 403, "no write permission"},
		{"POST", "/bulk-indexing/books", "Bearer " + wo, 418, ""},
		{"PUT", "/indexes/books/documents/1", "Bearer " + rw, 418, ""},
		{"GET", "/bulk-operations/op_1", "Bearer " + wo, 403, `API key "writer" has no read permission`},
		{"GET", "/healthz", "", 418, ""},
		{"GET", "/readyz", "", 418, ""},
		{"GET", "/metrics", "", 418, ""},
		{"GET", "/debug/pprof/heap", "", 418, ""},
		{"GET", "/metricsx", "", 401, "missing API key"},
	} {
		w := do(h, tt.method, tt.path, tt.auth)
		if w.Code != tt.code {
			t.Errorf("%s %s %q: %d, want %d (%s)", tt.method, tt.path, tt.auth, w.Code, tt.code, w.Body)
			continue
		}
		if tt.msg == "" {
			continue
		}
		var body struct{ Error string }
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || !strings.Contains(body.Error, tt.msg) {
			t.Errorf("%s %s: body %s, want error containing %q", tt.method, tt.path, w.Body, tt.msg)
		}
		for _, s := range []string{rw, ro, wo} {
			if strings.Contains(w.Body.String(), s) {
				t.Errorf("answer %s shows a secret", w.Body)
			}
		}
		if tt.code == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("401 without WWW-Authenticate")
		}
	}
	if n := testutil.ToFloat64(counter(reg, "forbidden")); n != 3 {
		t.Errorf("forbidden counted %v, want 3", n)
	}
	if probs, err := testutil.GatherAndLint(reg); err != nil || len(probs) > 0 {
		t.Errorf("lint: %v %v", probs, err)
	}
}

func counter(reg *prometheus.Registry, reason string) prometheus.Collector {
	mfs, _ := reg.Gather()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == reason {
				c.Add(m.GetCounter().GetValue())
			}
		}
	}
	return c
}

func TestRateLimit(t *testing.T) {
	g, h, reg := guard(t, 2, 3)
	now := time.Unix(1000, 0)
	g.now = func() time.Time { return now }
	for i := range 3 {
		if w := do(h, "GET", "/x", "Bearer "+rw); w.Code != 418 {
			t.Fatalf("request %d within the burst: %d", i, w.Code)
		}
	}
	w := do(h, "GET", "/x", "Bearer "+rw)
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" || !strings.Contains(w.Body.String(), `API key \"app\" is over its rate`) {
		t.Fatalf("over the burst: %d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	// another key has a bucket of its own
	if w := do(h, "GET", "/x", "Bearer "+ro); w.Code != 418 {
		t.Fatalf("other key: %d", w.Code)
	}
	now = now.Add(500 * time.Millisecond) // one token back
	if w := do(h, "GET", "/x", "Bearer "+rw); w.Code != 418 {
		t.Fatalf("after refill: %d", w.Code)
	}
	if w := do(h, "GET", "/x", "Bearer "+rw); w.Code != 429 {
		t.Fatalf("refill gave more than one token: %d", w.Code)
	}
	if n := testutil.ToFloat64(counter(reg, "rate")); n != 2 {
		t.Errorf("rate counted %v, want 2", n)
	}
}

func TestDisabled(t *testing.T) {
	g := New(Config{Disabled: true}, nil)
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	if w := do(h, "POST", "/bulk-indexing/books", ""); w.Code != 418 {
		t.Fatalf("auth off: %d", w.Code)
	}
}

func TestParseKeys(t *testing.T) {
	for _, tt := range []struct{ in, err string }{
		{"a:read:0123456789abcdef", ""},
		{"a:read:0123456789abcdef:with:colons", ""},
		{"a:read", "entry 1: want name:permission:secret"},
		{"a:admin:0123456789abcdef", `permission "admin"`},
		{"a:read:short", "shorter than 16"},
		{"a:read:0123456789abcdef,a:write:0123456789abcdeg", "name used twice"},
		{"a:read:0123456789abcdef,b:write:0123456789abcdef", "same secret"},
		{":read:0123456789abcdef", "empty name"},
	} {
		_, err := ParseKeys(tt.in)
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
		}
		if err != nil && strings.Contains(err.Error(), "0123456789abcde") {
			t.Errorf("error %v shows a secret", err)
		}
	}
}

func TestSettings(t *testing.T) {
	f := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(f, []byte("# keys\nfile:read:"+ro+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Settings{Mode: "on", Keys: "env:write:" + wo, KeysFile: f, Rate: 5, Burst: 5}.Config()
	if err != nil || len(c.Keys) != 2 || c.Keys[0].Name != "env" || c.Keys[1].Name != "file" || c.Rate != 5 {
		t.Fatalf("%+v %v", c, err)
	}
	if _, err := (Settings{Mode: "on", KeysFile: f + ".missing"}).Config(); err == nil {
		t.Fatal("missing keys file accepted")
	}
	if c, err := (Settings{Mode: "off"}).Config(); err != nil || !c.Disabled {
		t.Fatalf("off: %+v %v", c, err)
	}
}
