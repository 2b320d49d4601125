package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// countingHandler counts the WithAttrs calls that reach it.
type countingHandler struct {
	slog.Handler
	n *int
}

func (h countingHandler) WithAttrs(a []slog.Attr) slog.Handler {
	*h.n++
	return countingHandler{h.Handler.WithAttrs(a), h.n}
}

func (h countingHandler) WithGroup(name string) slog.Handler {
	return countingHandler{h.Handler.WithGroup(name), h.n}
}

func TestDemoteHandler(t *testing.T) {
	var buf bytes.Buffer
	withs := 0
	base := countingHandler{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}), &withs}
	l := slog.New(demoteHandler{base: base})

	// Debug calls with attributes (what FerretDB does per SQL statement)
	// format nothing.
	for range 100 {
		l.With("args", strings.Repeat("x", 1000)).Debug(">>> UPDATE")
	}
	if withs != 0 || buf.Len() != 0 {
		t.Fatalf("disabled debug records: %d WithAttrs calls reached the handler, output %q", withs, buf.String())
	}
	// Demoted warnings are dropped at warn.
	l.With("conn", 1).Warn("Response header: length: 121")
	if buf.Len() != 0 {
		t.Fatalf("demoted warning printed: %q", buf.String())
	}
	// Other warnings keep their attributes and groups, in order.
	l.With("a", 1).WithGroup("g").With("b", 2).Warn("disk full", "c", 3)
	if got := buf.String(); !strings.Contains(got, `msg="disk full" a=1 g.b=2 g.c=3`) {
		t.Fatalf("warning: %q", got)
	}
}
