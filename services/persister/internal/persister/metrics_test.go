package persister

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/termflow/termflow/pkg/mongostore"
)

func TestMetricsLintAndCommands(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	m.command(mongostore.Command{Collection: mongostore.CollChunks, Kind: "insert", Docs: 3})
	m.command(mongostore.Command{Collection: mongostore.CollChunks, Kind: "insert", Docs: 2})
	m.command(mongostore.Command{Collection: mongostore.CollTerms, Kind: "find"})
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
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"termflow_persister_mongo_commands_total", "termflow_persister_mongo_documents_written_total"); err != nil {
		t.Fatal(err)
	}
}
