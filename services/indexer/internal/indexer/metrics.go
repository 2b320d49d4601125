package indexer

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	batches      prometheus.Counter
	docs         prometheus.Counter
	skipped      prometheus.Counter
	caughtUp     prometheus.Counter
	deadLetters  prometheus.Counter
	dirtyTerms   prometheus.Histogram
	batchSeconds prometheus.Histogram
	lag          *prometheus.GaugeVec

	startToAssigned   prometheus.Gauge
	startToFirstBatch prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		batches: prometheus.NewCounter(prometheus.CounterOpts{Name: "termflow_indexer_batches_indexed_total",
			Help: "Batches indexed and handed over."}),
		docs: prometheus.NewCounter(prometheus.CounterOpts{Name: "termflow_indexer_documents_indexed_total",
			Help: "Documents indexed (upserts and deletes)."}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "termflow_indexer_records_skipped_total",
			Help: "Redelivered records skipped because Pebble already held them."}),
		caughtUp: prometheus.NewCounter(prometheus.CounterOpts{Name: "termflow_indexer_records_caught_up_total",
			Help: "Records applied while rebuilding a partition's state."}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{Name: "termflow_indexer_dead_letter_records_total",
			Help: "Records sent to the dead-letter topic."}),
		dirtyTerms: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "termflow_indexer_batch_dirty_terms",
			Help: "Dirty terms per batch.", Buckets: prometheus.ExponentialBuckets(10, 4, 8)}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "termflow_indexer_batch_duration_seconds",
			Help: "Time to index and hand over one batch.", Buckets: prometheus.ExponentialBuckets(0.001, 3, 10)}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "termflow_indexer_consumer_lag_records",
			Help: "Records behind the end of the documents partition."}, []string{"partition"}),
		startToAssigned: prometheus.NewGauge(prometheus.GaugeOpts{Name: "termflow_indexer_start_to_assigned_seconds",
			Help: "Time from the indexer's start to its first partition assignment (0 until then)."}),
		startToFirstBatch: prometheus.NewGauge(prometheus.GaugeOpts{Name: "termflow_indexer_start_to_first_batch_seconds",
			Help: "Time from the indexer's start to its first batch handled (0 until then)."}),
	}
	if reg != nil {
		reg.MustRegister(m.batches, m.docs, m.skipped, m.caughtUp, m.deadLetters, m.dirtyTerms, m.batchSeconds, m.lag,
			m.startToAssigned, m.startToFirstBatch)
	}
	return m
}
