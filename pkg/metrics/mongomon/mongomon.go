// Package mongomon turns the MongoDB driver's command monitor into
// Prometheus metrics on a service's own registry.
package mongomon

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/event"
)

// mongoCommands are the command names the services send; any other name
// is counted as "other", so the label stays bounded.
var mongoCommands = map[string]bool{
	"insert": true, "update": true, "delete": true, "find": true, "getMore": true, "aggregate": true,
	"count": true, "distinct": true, "findAndModify": true, "createIndexes": true, "listIndexes": true,
	"drop": true, "dropDatabase": true, "listCollections": true, "listDatabases": true, "killCursors": true,
	"endSessions": true, "ping": true,
}

// New returns a MongoDB command monitor that observes
// termflow_<subsystem>_mongo_command_duration_seconds{command} and counts
// termflow_<subsystem>_mongo_command_errors_total{command}. Commands that
// never reached a server (no server selected) are not commands to the
// driver; the services count those as their own retries.
func New(reg prometheus.Registerer, subsystem string) *event.CommandMonitor {
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "termflow_" + subsystem + "_mongo_command_duration_seconds",
		Help:    "MongoDB command round trips, by command name, failed ones included.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}, []string{"command"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termflow_" + subsystem + "_mongo_command_errors_total",
		Help: "MongoDB commands that failed, by command name."}, []string{"command"})
	if reg != nil {
		reg.MustRegister(dur, errs)
	}
	for _, c := range []string{"insert", "find", "delete"} {
		errs.WithLabelValues(c) // present at 0, so rate() and alerts see the series
	}
	name := func(c string) string {
		if mongoCommands[c] {
			return c
		}
		return "other"
	}
	return &event.CommandMonitor{
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			dur.WithLabelValues(name(e.CommandName)).Observe(e.Duration.Seconds())
		},
		Failed: func(_ context.Context, e *event.CommandFailedEvent) {
			c := name(e.CommandName)
			dur.WithLabelValues(c).Observe(e.Duration.Seconds())
			errs.WithLabelValues(c).Inc()
		},
	}
}
