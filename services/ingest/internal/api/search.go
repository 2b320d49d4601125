package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/termflow/termflow/pkg/analysis"
	"github.com/termflow/termflow/pkg/document"
	"github.com/termflow/termflow/pkg/mongostore"
)

const (
	defaultLimit = 10
	maxLimit     = 1000
	maxWindow    = 10000 // from+limit
)

// pathIndex validates the {index} path value, answering 400 if invalid.
func pathIndex(w http.ResponseWriter, r *http.Request) (string, bool) {
	index := r.PathValue("index")
	if err := document.ValidateIndex(index); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return "", false
	}
	return index, true
}

// storeError answers an error of the store: 404 for an unknown index, 503
// otherwise (MongoDB unavailable is the failure to expect).
func (a *API) storeError(w http.ResponseWriter, index string, err error) {
	if errors.Is(err, mongostore.ErrIndexNotFound) {
		writeError(w, http.StatusNotFound, "index not found")
		return
	}
	a.log.Warn().Str("index", index).Err(err).Msg("store request failed")
	writeError(w, http.StatusServiceUnavailable, "search store unavailable")
}

func intParam(r *http.Request, name string, def int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q: not an integer", name, s)
	}
	return n, nil
}

type searchResponse struct {
	Total  int              `json:"total"`
	Hits   []mongostore.Hit `json:"hits"`
	TookMs int64            `json:"tookMs"`
}

// search is GET /indexes/{index}/search?q=&limit=10&from=0. Every query
// term must match (analysis.ParseQuery); hits are ranked by BM25.
func (a *API) search(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	index, ok := pathIndex(w, r)
	if !ok {
		return
	}
	terms, ok := a.parseQuery(w, r)
	if !ok {
		return
	}
	limit, err := intParam(r, "limit", defaultLimit)
	if err == nil && (limit < 1 || limit > maxLimit) {
		err = fmt.Errorf("limit %d: want 1 to %d", limit, maxLimit)
	}
	if err != nil {
		a.overLimit(limLimit, 1)
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	from, err := intParam(r, "from", 0)
	if err == nil && (from < 0 || from+limit > maxWindow) {
		err = fmt.Errorf("from %d: want from >= 0 and from+limit <= %d", from, maxWindow)
	}
	if err != nil {
		a.overLimit(limFrom, 1)
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	res, err := a.store.Search(r.Context(), index, terms, from, limit)
	if err != nil {
		a.storeError(w, index, err)
		return
	}
	if res.Hits == nil {
		res.Hits = []mongostore.Hit{}
	}
	writeJSON(w, http.StatusOK, searchResponse{Total: res.Total, Hits: res.Hits, TookMs: time.Since(start).Milliseconds()})
}

// indexStats is GET /indexes/{index}.
func (a *API) indexStats(w http.ResponseWriter, r *http.Request) {
	index, ok := pathIndex(w, r)
	if !ok {
		return
	}
	st, err := a.store.IndexStats(r.Context(), index)
	if err != nil {
		a.storeError(w, index, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"index": index, "documentCount": st.DocumentCount, "termCount": st.TermCount})
}

// termStats is GET /indexes/{index}/terms/{field}/{term}. The term is
// taken literally after lower-casing, not analyzed (so "New York" is one
// term that never exists); field "_all" is the catch-all field. A term
// with no postings answers 404 {"error":"term not found"} rather than 200
// with zeros: the client asked for a resource that does not exist, and an
// unknown index looks the same (no term of it is stored).
func (a *API) termStats(w http.ResponseWriter, r *http.Request) {
	index, ok := pathIndex(w, r)
	if !ok {
		return
	}
	field, term := r.PathValue("field"), strings.ToLower(r.PathValue("term"))
	st, err := a.store.TermStats(r.Context(), index, field, term)
	if err != nil {
		a.storeError(w, index, err)
		return
	}
	if st.Postings == 0 {
		writeError(w, http.StatusNotFound, "term not found")
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// analyze is GET /indexes/{index}/analyze?field=F&text=T: the terms text
// is indexed as. Every field uses the same analyzer, so field is
// informational.
func (a *API) analyze(w http.ResponseWriter, r *http.Request) {
	if _, ok := pathIndex(w, r); !ok {
		return
	}
	text := r.URL.Query().Get("text")
	if len(text) > a.cfg.Limits.MaxStringBytes {
		a.overLimit(limAnalyzeText, 1)
		writeError(w, http.StatusBadRequest, fmt.Sprintf("text of %d bytes, over the limit of %d", len(text), a.cfg.Limits.MaxStringBytes))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": analysis.AppendTokens([]string{}, text)})
}
