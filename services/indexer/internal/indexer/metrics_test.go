package indexer

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/termflow/termflow/pkg/dirtyterms"
)

func TestMetricsLintAndBatch(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	m.batchDone(&dirtyterms.Event{
		Records: []dirtyterms.Record{{Index: "books"}, {Index: "books"}, {Index: "films", Deleted: true}},
		Terms:   []dirtyterms.Term{{Index: "books", Term: "a"}, {Index: "books", Term: "b"}, {Index: "films", Term: "a"}},
	}, 1, 10*time.Millisecond)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
	want := `
# HELP termflow_indexer_documents_indexed_total Documents indexed (upserts and deletes), by index.
# TYPE termflow_indexer_documents_indexed_total counter
termflow_indexer_documents_indexed_total{index="books"} 2
termflow_indexer_documents_indexed_total{index="films"} 1
# HELP termflow_indexer_dirty_terms_total Dirty terms handed over (one per index, field and term a batch changed), by index.
# TYPE termflow_indexer_dirty_terms_total counter
termflow_indexer_dirty_terms_total{index="books"} 2
termflow_indexer_dirty_terms_total{index="films"} 1
# HELP termflow_indexer_dead_letter_records_total Records sent to the dead-letter topic, by stage.
# TYPE termflow_indexer_dead_letter_records_total counter
termflow_indexer_dead_letter_records_total{stage="indexer"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "termflow_indexer_documents_indexed_total",
		"termflow_indexer_dirty_terms_total", "termflow_indexer_dead_letter_records_total"); err != nil {
		t.Fatal(err)
	}
}
