package opsserver

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func status(t *testing.T, mux *http.ServeMux, path string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code
}

func TestProfilerOnlyWhenAskedFor(t *testing.T) {
	t.Setenv("TERMFLOW_PPROF", "")
	off := http.NewServeMux()
	Register(off, prometheus.NewRegistry(), func() error { return nil })
	if c := status(t, off, "/debug/pprof/"); c != http.StatusNotFound {
		t.Fatalf("pprof without TERMFLOW_PPROF: %d, want 404", c)
	}
	if c := status(t, off, "/readyz"); c != http.StatusOK {
		t.Fatalf("readyz: %d", c)
	}

	t.Setenv("TERMFLOW_PPROF", "on")
	on := http.NewServeMux()
	Register(on, prometheus.NewRegistry(), func() error { return nil })
	if c := status(t, on, "/debug/pprof/"); c != http.StatusOK {
		t.Fatalf("pprof with TERMFLOW_PPROF=on: %d, want 200", c)
	}
	if c := status(t, on, "/debug/pprof/cmdline"); c != http.StatusOK {
		t.Fatalf("pprof cmdline: %d", c)
	}
}
