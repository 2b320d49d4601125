package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/termflow/termflow/pkg/analysis"
	"github.com/termflow/termflow/pkg/document"
)

// Limits bound what one request may ask for. Each refusal is a 4xx with
// the limit named in the message, counted in
// termflow_ingest_limit_rejections_total{limit}. Besides these, the body
// (MaxBodyBytes, 413) and each document (MaxDocumentBytes, 400) are
// bounded, an id has at most 512 bytes (document.MaxIDBytes), an index name
// matches [a-z0-9][a-z0-9_-]{0,63}, limit is 1 to 1000 and from+limit at
// most 10000.
type Limits struct {
	// MaxDocuments is the number of documents (and deletes) in one bulk
	// request. The default value is 100000.
	MaxDocuments int
	// MaxFields is the number of fields of one document, counted as the
	// indexer counts them (analysis.MaxFields, which it may not exceed). The
	// default value is 1000.
	MaxFields int
	// MaxDepth is the nesting of objects and arrays in one document, its own
	// object counting as 1 (at most analysis.MaxDepth). The default value is
	// 100.
	MaxDepth int
	// MaxStringBytes is the longest string (key or value, as written in
	// JSON) in a document, and the longest text analyzed by /analyze. The
	// default value is 65536.
	MaxStringBytes int
	// MaxQueryBytes is the longest search query q. The default value is
	// 4096.
	MaxQueryBytes int
	// MaxQueryTerms is the number of distinct terms of a search query. The
	// default value is 64.
	MaxQueryTerms int
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{MaxDocuments: 100000, MaxFields: analysis.MaxFields, MaxDepth: analysis.MaxDepth,
		MaxStringBytes: 64 << 10, MaxQueryBytes: 4096, MaxQueryTerms: 64}
}

// Validate checks the limits.
func (l Limits) Validate() error {
	switch {
	case l.MaxDocuments < 1:
		return fmt.Errorf("max documents %d: want at least 1", l.MaxDocuments)
	case l.MaxFields < 1 || l.MaxFields > analysis.MaxFields:
		return fmt.Errorf("max fields %d: want 1 to %d (what the indexer takes)", l.MaxFields, analysis.MaxFields)
	case l.MaxDepth < 1 || l.MaxDepth > analysis.MaxDepth:
		return fmt.Errorf("max depth %d: want 1 to %d (what the indexer takes)", l.MaxDepth, analysis.MaxDepth)
	case l.MaxStringBytes < 1:
		return fmt.Errorf("max string bytes %d: want at least 1", l.MaxStringBytes)
	case l.MaxQueryBytes < 1 || l.MaxQueryTerms < 1:
		return fmt.Errorf("max query bytes %d, max query terms %d: want at least 1", l.MaxQueryBytes, l.MaxQueryTerms)
	}
	return nil
}

// The limit label values of termflow_ingest_limit_rejections_total.
const (
	limBody        = "body_bytes"
	limDocuments   = "documents"
	limDocBytes    = "document_bytes"
	limFields      = "fields"
	limDepth       = "depth"
	limString      = "string_bytes"
	limID          = "id"
	limIndex       = "index_name"
	limQueryBytes  = "query_bytes"
	limQueryTerms  = "query_terms"
	limLimit       = "limit"
	limFrom        = "from"
	limAnalyzeText = "analyze_text_bytes"
)

func newLimitMetric(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termflow_ingest_limit_rejections_total",
		Help: "Requests (or, in bulk requests, documents) refused for going over a limit, by limit."}, []string{"limit"})
	for _, l := range []string{limBody, limDocuments, limDocBytes, limFields, limDepth, limString, limID, limIndex,
		limQueryBytes, limQueryTerms, limLimit, limFrom, limAnalyzeText} {
		c.WithLabelValues(l)
	}
	if reg != nil {
		reg.MustRegister(c)
	}
	return c
}

// overLimit counts a refusal.
func (a *API) overLimit(limit string, n int) {
	if a.limits != nil && n > 0 {
		a.limits.WithLabelValues(limit).Add(float64(n))
	}
}

// checkShape checks a valid document against the depth, string and field
// limits. It names the limit that failed ("" when none did).
func (l Limits) checkShape(src []byte) (string, error) {
	s := analysis.Measure(src)
	switch {
	case s.Depth > l.MaxDepth:
		return limDepth, fmt.Errorf("document nested %d levels deep, over the limit of %d", s.Depth, l.MaxDepth)
	case s.LongestString > l.MaxStringBytes:
		return limString, fmt.Errorf("document has a string of %d bytes, over the limit of %d", s.LongestString, l.MaxStringBytes)
	case s.Members > l.MaxFields:
		// Members bound the fields from above; count them exactly only
		// when the bound is not enough.
		d, err := analysis.AnalyzeJSON(src)
		if err != nil {
			return limFields, err
		}
		if n := d.FieldCount(); n > l.MaxFields {
			return limFields, fmt.Errorf("document has %d fields, over the limit of %d", n, l.MaxFields)
		}
	}
	return "", nil
}

// applyLimits refuses the parsed documents that go over a limit (400 per
// line, like any invalid document) and counts them.
func (a *API) applyLimits(p *parsed) {
	lim := a.cfg.Limits
	kept := p.items[:0]
	for _, it := range p.items {
		if it.src != nil {
			if which, err := lim.checkShape(it.src); err != nil {
				a.overLimit(which, 1)
				p.reject(it.line, err)
				continue
			}
		}
		kept = append(kept, it)
	}
	if len(kept) < len(p.items) {
		if it := p.items; it != nil {
			clear(it[len(kept):])
		}
		p.items = kept
		slices.SortStableFunc(p.errs, func(x, y itemError) int { return x.Line - y.Line })
		// the per-line list holds the first maxItems by line
		if len(p.errs) > maxItems {
			p.errs = p.errs[:maxItems]
		}
	}
}

// tooManyDocuments answers 400 if a bulk request holds more documents than
// MaxDocuments.
func (a *API) tooManyDocuments(w http.ResponseWriter, p *parsed) bool {
	if n := len(p.items) + p.invalid; n > a.cfg.Limits.MaxDocuments {
		a.overLimit(limDocuments, 1)
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%d documents in one request, over the limit of %d: split it", n, a.cfg.Limits.MaxDocuments))
		return true
	}
	return false
}

// countPathLimits counts the path values the handler will refuse: an
// invalid index name, an invalid document id (the handler answers 400).
func (a *API) countPathLimits(r *http.Request) {
	if index := r.PathValue("index"); index != "" || strings.Contains(r.Pattern, "{index}") {
		if document.ValidateIndex(index) != nil {
			a.overLimit(limIndex, 1)
			return
		}
	}
	if strings.Contains(r.Pattern, "/documents/{id}") && document.ValidateID(r.PathValue("id")) != nil {
		a.overLimit(limID, 1)
	}
}

// parseQuery reads the search query q within the query limits, answering
// 400 when it is too long or has too many terms or none.
func (a *API) parseQuery(w http.ResponseWriter, r *http.Request) ([]analysis.QueryTerm, bool) {
	q, lim := r.URL.Query().Get("q"), a.cfg.Limits
	if len(q) > lim.MaxQueryBytes {
		a.overLimit(limQueryBytes, 1)
		writeError(w, http.StatusBadRequest, fmt.Sprintf("query q of %d bytes, over the limit of %d", len(q), lim.MaxQueryBytes))
		return nil, false
	}
	terms := analysis.ParseQuery(q)
	if len(terms) == 0 {
		writeError(w, http.StatusBadRequest, "query q has no terms")
		return nil, false
	}
	if len(terms) > lim.MaxQueryTerms {
		a.overLimit(limQueryTerms, 1)
		writeError(w, http.StatusBadRequest, fmt.Sprintf("query q has %d terms, over the limit of %d", len(terms), lim.MaxQueryTerms))
		return nil, false
	}
	return terms, true
}
