package indexer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/dirtyterms"
	tfmetrics "github.com/termflow/termflow/pkg/metrics"
)

// metrics are the indexer's termflow_indexer_* series. The index label is
// bounded (tfmetrics.Indexes); partitions are the documents topic's.
type metrics struct {
	batches      prometheus.Counter
	docs         *prometheus.CounterVec // by index
	terms        *prometheus.CounterVec // dirty terms, by index
	skipped      prometheus.Counter
	caughtUp     prometheus.Counter
	splits       prometheus.Counter
	deadLetters  *prometheus.CounterVec // by stage
	dirtyTerms   prometheus.Histogram
	batchSeconds prometheus.Histogram
	phases       *prometheus.CounterVec // batch time by phase
	indexes      *tfmetrics.Indexes

	startToAssigned   prometheus.Gauge
	startToFirstBatch prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		batches: prometheus.NewCounter(prometheus.CounterOpts{Name: "termflow_indexer_batches_indexed_total",
			Help: "Batches indexed and handed over."}),
		docs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termflow_indexer_documents_indexed_total",
			Help: "Documents indexed (upserts and deletes), by index."}, []string{"index"}),
		terms: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termflow_indexer_dirty_terms_total",
			Help: "Dirty terms handed over (one per index, field and term a batch changed), by index."}, []string{"index"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "termflow_indexer_records_skipped_total",
			Help: "Redelivered records skipped because Pebble already held them."}),
		caughtUp: prometheus.NewCounter(prometheus.CounterOpts{Name: "termflow_indexer_records_caught_up_total",
			Help: "Records applied while rebuilding a partition's state."}),
		splits: prometheus.NewCounter(prometheus.CounterOpts{Name: "termflow_indexer_batch_splits_total",
			Help: "Batches split in halves because their dirty-terms event was larger than the maximum event size."}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termflow_indexer_dead_letter_records_total",
			Help: "Records sent to the dead-letter topic, by stage."}, []string{"stage"}),
		dirtyTerms: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "termflow_indexer_batch_dirty_terms",
			Help: "Dirty terms per batch.", Buckets: prometheus.ExponentialBuckets(10, 4, 8)}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "termflow_indexer_batch_duration_seconds",
			Help: "Time to index and hand over one batch.", Buckets: prometheus.ExponentialBuckets(0.001, 3, 10)}),
		phases: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termflow_indexer_phase_seconds_total",
			Help: "Time batches spent by phase: queue (waiting for an indexing slot, see -parallelism), index (analysis, the Pebble " +
				"batch and the event's encoding), handover (waiting for the poll's earlier partitions, then producing the event until " +
				"the broker acknowledged it), commit (the Pebble commit)."},
			[]string{"phase"}),
		indexes: tfmetrics.NewIndexes(0),
		startToAssigned: prometheus.NewGauge(prometheus.GaugeOpts{Name: "termflow_indexer_start_to_assigned_seconds",
			Help: "Time from the indexer's start to its first partition assignment (0 until then)."}),
		startToFirstBatch: prometheus.NewGauge(prometheus.GaugeOpts{Name: "termflow_indexer_start_to_first_batch_seconds",
			Help: "Time from the indexer's start to its first batch handled (0 until then)."}),
	}
	m.deadLetters.WithLabelValues("indexer") // present at 0 for rate() and alerts
	for _, ph := range []string{"queue", "index", "handover", "commit"} {
		m.phases.WithLabelValues(ph)
	}
	if reg != nil {
		reg.MustRegister(m.batches, m.docs, m.terms, m.skipped, m.caughtUp, m.splits, m.deadLetters, m.dirtyTerms, m.batchSeconds,
			m.phases, m.startToAssigned, m.startToFirstBatch)
	}
	return m
}

// registerLag exports termflow_indexer_consumer_lag_records{partition}: the
// documents not yet committed by the group, for the partitions cl owns.
func (m *metrics) registerLag(reg prometheus.Registerer, cl *kgo.Client, group, topic string) {
	if reg != nil {
		tfmetrics.NewGroupLag(reg, "indexer", cl, group, topic)
	}
}

// batchDone records one batch handed over: its event, the records it
// dead-lettered and how long it took.
func (m *metrics) batchDone(ev *dirtyterms.Event, deadLettered int, took time.Duration) {
	m.batches.Inc()
	byIndex := map[string]int{}
	for _, r := range ev.Records {
		byIndex[r.Index]++
	}
	for index, n := range byIndex {
		m.docs.WithLabelValues(m.indexes.Label(index)).Add(float64(n))
	}
	clear(byIndex)
	for _, t := range ev.Terms {
		byIndex[t.Index]++
	}
	for index, n := range byIndex {
		m.terms.WithLabelValues(m.indexes.Label(index)).Add(float64(n))
	}
	m.deadLetters.WithLabelValues("indexer").Add(float64(deadLettered))
	m.dirtyTerms.Observe(float64(len(ev.Terms)))
	m.batchSeconds.Observe(took.Seconds())
}
