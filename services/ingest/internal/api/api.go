// Package api is ingest's HTTP API: bulk indexing, single-document
// replacement and deletion, bulk-operation status and search. Every error
// is JSON {"error": "..."}.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/semaphore"

	"github.com/termflow/termflow/pkg/analysis"
	"github.com/termflow/termflow/pkg/mongostore"
	"github.com/termflow/termflow/services/ingest/internal/tracker"
)

// Store is the search side of MongoDB the API reads (*mongostore.Store).
type Store interface {
	Search(ctx context.Context, index string, q []analysis.QueryTerm, from, limit int) (mongostore.SearchResult, error)
	IndexStats(ctx context.Context, index string) (mongostore.IndexStats, error)
	TermStats(ctx context.Context, index, field, term string) (mongostore.TermStats, error)
}

// Config configures the API.
type Config struct {
	// DocumentsTopic receives the documents. The default value is "termflow.documents".
	DocumentsTopic string
	// BatchSize is the number of documents per batch. The default value is 150.
	BatchSize int
	// MaxBodyBytes limits a bulk request body. The default value is 64 MiB.
	MaxBodyBytes int
	// MaxDocumentBytes limits one document. The default value is 1 MiB.
	MaxDocumentBytes int
	// ProduceTimeout bounds the wait for Kafka's acknowledgements. The
	// default value is 30s.
	ProduceTimeout time.Duration
	// MaxBufferedRecords is the number of documents in flight to Kafka
	// across requests (the documents producer's buffer); a request that does
	// not fit gets 429. A request larger than this is taken only when
	// nothing else is in flight, and produced alone. The default value is
	// 100000.
	MaxBufferedRecords int
	// MaxBufferedBytes is the same limit in bytes of records (key, value and
	// headers). The default value is 256 MiB.
	MaxBufferedBytes int
	// Limits bound documents and queries (limits.go). The default value is
	// DefaultLimits().
	Limits Limits
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{DocumentsTopic: "termflow.documents", BatchSize: 150, MaxBodyBytes: 64 << 20,
		MaxDocumentBytes: 1 << 20, ProduceTimeout: 30 * time.Second, MaxBufferedRecords: 100000,
		MaxBufferedBytes: 256 << 20, Limits: DefaultLimits()}
}

// ProducerOpts are the options of the documents producer, the client given
// to New, which nothing else may produce through: idempotent (franz-go's
// default), acks=all, murmur2 sticky-key partitioning like the Java client
// and kcat, a short linger, and a buffer exactly as large as the in-flight
// limits, so that a full buffer (kgo.ErrMaxBuffered) means 429.
func ProducerOpts(cfg Config) []kgo.Opt {
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.MaxBufferedRecords(cfg.MaxBufferedRecords),
		kgo.MaxBufferedBytes(cfg.MaxBufferedBytes),
		kgo.ProducerBatchMaxBytes(8 << 20),
	}
}

// API serves the HTTP endpoints.
type API struct {
	cfg       Config
	producer  *kgo.Client // documents only
	tracker   *tracker.Tracker
	store     Store
	log       zerolog.Logger
	inflight  *semaphore.Weighted // documents in flight to Kafka
	inflightB *semaphore.Weighted // their bytes
	now       func() time.Time
	m         metrics
	limits    *prometheus.CounterVec // limits.go
	hooks     Webhooks               // webhook.go; nil: no webhooks

	drainMu  sync.Mutex
	draining bool
	writes   sync.WaitGroup // write requests in hand, until their records' outcomes are known
}

type metrics struct {
	accepted, rejected prometheus.Counter
	requests           *prometheus.CounterVec
	duration           *prometheus.HistogramVec
}

// New returns the API.
func New(cfg Config, producer *kgo.Client, tr *tracker.Tracker, store Store, log zerolog.Logger, reg prometheus.Registerer) *API {
	a := &API{cfg: cfg, producer: producer, tracker: tr, store: store, log: log,
		inflight: semaphore.NewWeighted(int64(cfg.MaxBufferedRecords)), inflightB: semaphore.NewWeighted(int64(cfg.MaxBufferedBytes)),
		now: time.Now}
	a.m = metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "termflow_ingest_documents_accepted_total",
			Help: "Documents (and deletes) acknowledged by Kafka and answered 202."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "termflow_ingest_documents_rejected_total",
			Help: "Invalid documents in requests answered 400."}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termflow_ingest_requests_total",
			Help: "HTTP requests by route pattern and status code."}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "termflow_ingest_request_duration_seconds",
			Help: "HTTP request duration by route pattern.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"route"}),
	}
	if reg != nil {
		reg.MustRegister(a.m.accepted, a.m.rejected, a.m.requests, a.m.duration)
	}
	a.limits = newLimitMetric(reg)
	return a
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	a.handle(mux, "POST /bulk-indexing/{index}", a.bulk)
	a.handle(mux, "PUT /indexes/{index}/documents/{id}", a.putDocument)
	a.handle(mux, "DELETE /indexes/{index}/documents/{id}", a.deleteDocument)
	a.handle(mux, "GET /bulk-operations", a.listOperations)
	a.handle(mux, "GET /bulk-operations/{id}", a.operation)
	a.handle(mux, "GET /bulk-operations/{id}/errors", a.operationErrors)
	a.handle(mux, "GET /indexes/{index}", a.indexStats)
	a.handle(mux, "GET /indexes/{index}/search", a.search)
	a.handle(mux, "GET /indexes/{index}/terms/{field}/{term}", a.termStats)
	a.handle(mux, "GET /indexes/{index}/analyze", a.analyze)
}

// errDraining answers write requests once Drain started.
var errDraining = errors.New("shutting down")

// Accepting reports nil while write requests are taken, and why not once
// Drain started.
func (a *API) Accepting() error {
	a.drainMu.Lock()
	defer a.drainMu.Unlock()
	if a.draining {
		return errDraining
	}
	return nil
}

// Drain makes every new write request (bulk, PUT, DELETE) answer 503 with
// Retry-After, and waits until the ones in hand are finished: answered, and
// the outcome of each of their records known (a request answered 503 after
// the produce timeout may still have records in flight). It returns ctx's
// error if that takes longer than ctx.
func (a *API) Drain(ctx context.Context) error {
	a.drainMu.Lock()
	a.draining = true
	a.drainMu.Unlock()
	done := make(chan struct{})
	go func() {
		a.writes.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("drain write requests: %w", ctx.Err())
	}
}

// admit registers a write request, or answers 503 when the API is draining
// or the operation state is not rebuilt yet. done must be called when the
// request is finished (see Drain).
func (a *API) admit(w http.ResponseWriter) (done func(), ok bool) {
	a.drainMu.Lock()
	if a.draining {
		a.drainMu.Unlock()
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "shutting down; retry on another instance or later")
		return nil, false
	}
	a.writes.Add(1)
	a.drainMu.Unlock()
	if err := a.tracker.Ready(); err != nil {
		a.writes.Done()
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
		return nil, false
	}
	return sync.OnceFunc(a.writes.Done), true
}

// handle registers h under pattern, counted and timed with the pattern as
// its route label (a bounded set).
func (a *API) handle(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	dur := a.m.duration.WithLabelValues(pattern)
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		a.countPathLimits(r)
		h(sw, r)
		a.m.requests.WithLabelValues(pattern, strconv.Itoa(sw.code)).Inc()
		dur.Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

type errorBody struct {
	Error       string      `json:"error"`
	Items       []itemError `json:"items,omitempty"`
	OperationID string      `json:"operationId,omitempty"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}
