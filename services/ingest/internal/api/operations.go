package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/termflow/termflow/pkg/bulkop"
	"github.com/termflow/termflow/pkg/document"
	"github.com/termflow/termflow/services/ingest/internal/tracker"
)

const (
	defaultWait = 30 * time.Second
	maxWait     = 5 * time.Minute
	defaultList = 100
	maxList     = 1000
)

// waitTargets maps ?wait= to the status that must have been reached.
var waitTargets = map[string]bulkop.Status{
	"indexed":    bulkop.Persisting, // every document indexed (or failed)
	"persisting": bulkop.Persisting,
	"completed":  bulkop.Completed, // any terminal status
	"terminal":   bulkop.Completed,
}

// operation is GET /bulk-operations/{id}[?wait=completed&timeout=30s]. With
// wait it long-polls until the status reached the target or the timeout
// (default 30s, at most 5m), then answers the current view either way.
func (a *API) operation(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	wait := q.Get("wait")
	if wait == "" {
		v, ok := a.tracker.View(id)
		if !ok {
			writeError(w, http.StatusNotFound, "operation not found")
			return
		}
		writeJSON(w, http.StatusOK, v)
		return
	}
	target, ok := waitTargets[wait]
	if !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("wait %q: want indexed, persisting or completed", wait))
		return
	}
	timeout := defaultWait
	if s := q.Get("timeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("timeout %q: want a duration like 30s", s))
			return
		}
		timeout = min(d, maxWait)
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	v, ok := a.tracker.Wait(ctx, id, target)
	if !ok {
		writeError(w, http.StatusNotFound, "operation not found")
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// listOperations is GET /bulk-operations?index=&status=&limit=, newest first.
func (a *API) listOperations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := tracker.Filter{Index: q.Get("index"), Limit: defaultList}
	if f.Index != "" {
		if err := document.ValidateIndex(f.Index); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	if s := q.Get("status"); s != "" {
		st, err := bulkop.ParseStatus(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		f.Status = st
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxList {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q: want 1 to %d", s, maxList))
			return
		}
		f.Limit = n
	}
	writeJSON(w, http.StatusOK, map[string]any{"operations": a.tracker.List(f)})
}

// operationErrors is GET /bulk-operations/{id}/errors: the failed
// documents (at most bulkop.MaxFailures of them).
func (a *API) operationErrors(w http.ResponseWriter, r *http.Request) {
	fs, ok := a.tracker.Failures(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "operation not found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"errors": fs})
}
