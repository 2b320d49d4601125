package mongomon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.mongodb.org/mongo-driver/v2/event"
)

func TestMongoMonitor(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "test")
	ctx := context.Background()
	m.Succeeded(ctx, &event.CommandSucceededEvent{CommandFinishedEvent: event.CommandFinishedEvent{CommandName: "insert", Duration: time.Millisecond}})
	m.Failed(ctx, &event.CommandFailedEvent{CommandFinishedEvent: event.CommandFinishedEvent{CommandName: "insert", Duration: time.Millisecond}})
	m.Failed(ctx, &event.CommandFailedEvent{CommandFinishedEvent: event.CommandFinishedEvent{CommandName: "someNewCommand"}})
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
	want := `
# HELP termflow_test_mongo_command_errors_total MongoDB commands that failed, by command name.
# TYPE termflow_test_mongo_command_errors_total counter
termflow_test_mongo_command_errors_total{command="delete"} 0
termflow_test_mongo_command_errors_total{command="find"} 0
termflow_test_mongo_command_errors_total{command="insert"} 1
termflow_test_mongo_command_errors_total{command="other"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "termflow_test_mongo_command_errors_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "termflow_test_mongo_command_duration_seconds"); n != 2 {
		t.Fatalf("duration series: %d, want 2 (insert, other)", n)
	}
}
