package persister

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/termflow/termflow/pkg/mongostore"
)

type metrics struct {
	events, docs, duplicates, terms, writes, reads, deadLetters prometheus.Counter
	termChunks                                                  prometheus.Counter
	retries, commands, written                                  *prometheus.CounterVec
	applySeconds                                                prometheus.Histogram
	lastOffset                                                  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "termflow_persister_" + name, Help: help})
	}
	m := &metrics{
		events:      c("events_applied_total", "Dirty-terms events applied (or recognised as applied)."),
		docs:        c("documents_persisted_total", "Document records written to MongoDB."),
		duplicates:  c("duplicate_records_total", "Records dropped because an earlier event applied them."),
		terms:       c("terms_written_total", "Term posting lists changed."),
		writes:      c("mongo_writes_total", "MongoDB write operations sent."),
		reads:       c("mongo_reads_total", "MongoDB find queries sent."),
		deadLetters: c("dead_letter_events_total", "Undecodable events sent to the dead-letter topic."),
		termChunks: c("term_chunks_persisted_total",
			"(term, chunk) pairs whose postings a batch changed, each counted once per batch (a split counts its parts)."),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termflow_persister_mongo_commands_total",
			Help: "MongoDB commands sent, by collection and kind (insert, delete, update, find), failed ones included."},
			[]string{"collection", "kind"}),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termflow_persister_mongo_documents_written_total",
			Help: "MongoDB documents inserted, deleted or updated, by collection."}, []string{"collection"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termflow_persister_retries_total",
			Help: "Failed attempts that were retried, by step."}, []string{"step"}),
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "termflow_persister_apply_duration_seconds",
			Help: "Time to apply one event, retries included.", Buckets: prometheus.ExponentialBuckets(0.001, 3, 12)}),
		lastOffset: prometheus.NewGauge(prometheus.GaugeOpts{Name: "termflow_persister_last_offset",
			Help: "Dirty-terms offset of the last applied event."}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.docs, m.duplicates, m.terms, m.writes, m.reads, m.deadLetters, m.retries, m.applySeconds, m.lastOffset,
			m.termChunks, m.commands, m.written)
	}
	return m
}

// command counts one MongoDB command (mongostore.Store's command hook).
// Collections and kinds are the store's fixed sets, so labels stay bounded.
func (m *metrics) command(c mongostore.Command) {
	m.commands.WithLabelValues(c.Collection, c.Kind).Inc()
	if c.Docs > 0 {
		m.written.WithLabelValues(c.Collection).Add(float64(c.Docs))
	}
}
