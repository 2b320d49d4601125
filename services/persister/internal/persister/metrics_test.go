package persister

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/dirtyterms"
	"github.com/termflow/termflow/pkg/mongostore"
)

func TestMetricsLintAndCommands(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	m.command(mongostore.Command{Collection: mongostore.CollChunks, Kind: "insert", Docs: 3})
	m.command(mongostore.Command{Collection: mongostore.CollChunks, Kind: "insert", Docs: 2})
	m.command(mongostore.Command{Collection: mongostore.CollTerms, Kind: "find"})
	now := time.Now()
	recs := []*kgo.Record{{Timestamp: now.Add(-2 * time.Second)}, {Timestamp: now.Add(-time.Second)}}
	items := []mongostore.Item{
		{Offset: 0, Event: &dirtyterms.Event{Records: []dirtyterms.Record{{Index: "books"}, {Index: "films"}}}},
		{Offset: 1, Event: &dirtyterms.Event{Records: []dirtyterms.Record{{Index: "books"}}}},
	}
	m.batchApplied(recs, items, mongostore.ApplyStats{Records: 3}, now)
	m.batchApplied(recs, items, mongostore.ApplyStats{Skipped: true}, now) // a replay: no documents, no latency
	m.deadLetters.Inc()
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	want := `
# HELP termflow_persister_mongo_commands_total MongoDB commands sent, by collection and kind (insert, delete, update, find), failed ones included.
# TYPE termflow_persister_mongo_commands_total counter
termflow_persister_mongo_commands_total{collection="chunks",kind="insert"} 2
termflow_persister_mongo_commands_total{collection="terms",kind="find"} 1
# HELP termflow_persister_mongo_documents_written_total MongoDB documents inserted, deleted or updated, by collection.
# TYPE termflow_persister_mongo_documents_written_total counter
termflow_persister_mongo_documents_written_total{collection="chunks"} 5

# HELP termflow_persister_documents_applied_total Document records of the events applied to MongoDB, by index (records an earlier event already applied included).
# TYPE termflow_persister_documents_applied_total counter
termflow_persister_documents_applied_total{index="books"} 2
termflow_persister_documents_applied_total{index="films"} 1
# HELP termflow_persister_dead_letter_records_total Undecodable events sent to the dead-letter topic, by stage.
# TYPE termflow_persister_dead_letter_records_total counter
termflow_persister_dead_letter_records_total{stage="persister"} 1
`
	if n := testutil.CollectAndCount(m.latency); n != 1 {
		t.Fatalf("latency: %d series", n)
	}
	if got := testutil.ToFloat64(m.lastApplied); got != float64(now.UnixNano())/1e9 {
		t.Fatalf("last applied %v", got)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"termflow_persister_mongo_commands_total", "termflow_persister_mongo_documents_written_total",
		"termflow_persister_documents_applied_total", "termflow_persister_dead_letter_records_total"); err != nil {
		t.Fatal(err)
	}
}
