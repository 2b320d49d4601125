package persister

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	tfmetrics "github.com/termflow/termflow/pkg/metrics"
	"github.com/termflow/termflow/pkg/mongostore"
)

type metrics struct {
	events, docs, duplicates, terms, writes, reads, deadLetters prometheus.Counter
	termChunks, batches, journaled                              prometheus.Counter
	retries, commands, written, phases                          *prometheus.CounterVec
	applySeconds                                                prometheus.Histogram
	lastOffset                                                  prometheus.Gauge

	deadLetterVec *prometheus.CounterVec // by stage
	applied       *prometheus.CounterVec // document records of applied events, by index
	latency       prometheus.Histogram   // indexed (event produced) -> persisted
	lastApplied   prometheus.Gauge       // unix time of the last applied batch
	indexes       *tfmetrics.Indexes
}

func newMetrics(reg prometheus.Registerer) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "termflow_persister_" + name, Help: help})
	}
	m := &metrics{
		events:     c("events_applied_total", "Dirty-terms events applied (or recognised as applied)."),
		docs:       c("documents_persisted_total", "Document records written to MongoDB."),
		duplicates: c("duplicate_records_total", "Records dropped because an earlier event applied them."),
		terms:      c("terms_written_total", "Term posting lists changed."),
		writes:     c("mongo_writes_total", "MongoDB write operations sent."),
		reads:      c("mongo_reads_total", "MongoDB find queries sent."),
		deadLetterVec: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termflow_persister_dead_letter_records_total",
			Help: "Undecodable events sent to the dead-letter topic, by stage."}, []string{"stage"}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termflow_persister_documents_applied_total",
			Help: "Document records of the events applied to MongoDB, by index (records an earlier event already applied included)."},
			[]string{"index"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "termflow_persister_persistence_latency_seconds",
			Help:    "Time from a batch's hand-over by the indexer (its dirty-terms event's timestamp) to MongoDB acknowledging it.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 12)}),
		lastApplied: prometheus.NewGauge(prometheus.GaugeOpts{Name: "termflow_persister_last_applied_timestamp_seconds",
			Help: "Unix time at which the last batch of events was applied (0 until then)."}),
		indexes: tfmetrics.NewIndexes(0),
		batches: c("batches_total", "MongoDB batches applied (each merges one or more dirty-terms events)."),
		journaled: c("batches_journaled_total",
			"MongoDB batches that split chunks or removed documents and so went through the journal (the rest write final values directly)."),
		termChunks: c("term_chunks_persisted_total",
			"(term, chunk) pairs whose postings a batch changed, each counted once per batch (a split counts its parts)."),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termflow_persister_mongo_commands_total",
			Help: "MongoDB commands sent, by collection and kind (insert, delete, update, find), failed ones included."},
			[]string{"collection", "kind"}),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termflow_persister_mongo_documents_written_total",
			Help: "MongoDB documents inserted, deleted or updated, by collection."}, []string{"collection"}),
		phases: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termflow_persister_phase_seconds_total",
			Help: "Time applied batches spent by phase: decode (the events, as they arrive while the batch is collected), plan (reading and computing the writes), " +
				"write (writes in flight; the documents are written during plan, so plan and write overlap), report (progress records). Retried attempts not counted."},
			[]string{"phase"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termflow_persister_retries_total",
			Help: "Failed attempts that were retried, by step."}, []string{"step"}),
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "termflow_persister_apply_duration_seconds",
			Help: "Time to apply one batch of events once collected (decoded as they arrived), retries included.", Buckets: prometheus.ExponentialBuckets(0.001, 3, 12)}),
		lastOffset: prometheus.NewGauge(prometheus.GaugeOpts{Name: "termflow_persister_last_offset",
			Help: "Dirty-terms offset of the last applied event."}),
	}
	m.deadLetters = m.deadLetterVec.WithLabelValues("persister")
	for _, ph := range []string{"decode", "plan", "write", "report"} {
		m.phases.WithLabelValues(ph)
	}
	for _, step := range []string{"apply events", "report progress", "dead-letter event"} {
		m.retries.WithLabelValues(step) // present at 0 for rate() and alerts
	}
	if reg != nil {
		reg.MustRegister(m.events, m.docs, m.duplicates, m.terms, m.writes, m.reads, m.deadLetterVec, m.retries, m.applySeconds, m.lastOffset,
			m.termChunks, m.batches, m.journaled, m.commands, m.written, m.applied, m.latency, m.lastApplied, m.phases)
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

// registerLag exports termflow_persister_consumer_lag_records{partition}:
// the dirty-terms events not yet committed by the group.
func (m *metrics) registerLag(reg prometheus.Registerer, cl *kgo.Client, group, topic string) {
	if reg != nil {
		tfmetrics.NewGroupLag(reg, "persister", cl, group, topic)
	}
}

// batchApplied records a batch of events MongoDB acknowledged: recs are the
// polled records (their timestamps are the indexers' hand-over times),
// items the decoded events. A batch applied before (a replay) counts no
// documents and no latency.
func (m *metrics) batchApplied(recs []*kgo.Record, items []mongostore.Item, st mongostore.ApplyStats, now time.Time) {
	m.lastApplied.Set(float64(now.UnixNano()) / 1e9)
	if st.Skipped {
		return
	}
	for _, r := range recs {
		if !r.Timestamp.IsZero() {
			m.latency.Observe(max(0, now.Sub(r.Timestamp).Seconds()))
		}
	}
	byIndex := map[string]int{}
	for _, it := range items {
		for _, r := range it.Event.Records {
			byIndex[r.Index]++
		}
	}
	for index, n := range byIndex {
		m.applied.WithLabelValues(m.indexes.Label(index)).Add(float64(n))
	}
}
