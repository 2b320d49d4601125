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

// failureView is one failed document in GET /bulk-operations/{id}/errors.
// Partition and offset locate the documents-topic record that was
// dead-lettered; they are absent when the failure did not come from a
// record (Kafka did not acknowledge the document).
type failureView struct {
	Seq       int    `json:"seq"`
	ID        string `json:"id,omitempty"`
	Reason    string `json:"reason"`
	Partition *int32 `json:"partition,omitempty"`
	Offset    *int64 `json:"offset,omitempty"`
}

type errorsResponse struct {
	Errors       []failureView `json:"errors"`
	FailureCount int           `json:"failureCount"`          // failed documents, also beyond the listed ones
	AbortReason  string        `json:"abortReason,omitempty"` // why the whole operation failed
}

// operationErrors is GET /bulk-operations/{id}/errors: the failed
// documents (the first bulkop.MaxFailures of them), how many failed, and
// why the operation was aborted if it was.
func (a *API) operationErrors(w http.ResponseWriter, r *http.Request) {
	st, ok := a.tracker.State(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "operation not found")
		return
	}
	resp := errorsResponse{Errors: make([]failureView, 0, len(st.Failures())), FailureCount: st.FailureCount(),
		AbortReason: st.AbortReason()}
	for _, f := range st.Failures() {
		v := failureView{Seq: f.Seq, ID: f.ID, Reason: f.Reason}
		if f.Partition >= 0 && f.Offset >= 0 {
			v.Partition, v.Offset = &f.Partition, &f.Offset
		}
		resp.Errors = append(resp.Errors, v)
	}
	writeJSON(w, http.StatusOK, resp)
}
