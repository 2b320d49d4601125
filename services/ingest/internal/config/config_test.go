package config

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(Config) bool
		err   string
	}{
		{name: "defaults", check: func(c Config) bool {
			return c.HTTPAddr == "127.0.0.1:8080" && c.Kafka.Brokers == "127.0.0.1:9092" &&
				c.MongoURI == "mongodb://127.0.0.1:27017" && c.MongoDB == "termflow" && c.BatchSize == 150 &&
				c.MaxBodyBytes == 64<<20 && c.MaxDocumentBytes == 1<<20 && c.ProduceTimeout == 30*time.Second &&
				c.MaxBufferedRecords == 100000 && c.MaxBufferedBytes == 256<<20 && c.ShutdownTimeout == 30*time.Second &&
				c.Topics.Documents == "termflow.documents" && c.Topics.DocumentsPartitions == 12 &&
				c.Topics.BulkOps == "termflow.bulk-ops" && c.Group == "termflow-ingest" && c.LogLevel == zerolog.InfoLevel
		}},
		{name: "env", env: map[string]string{"TERMFLOW_BATCH_SIZE": "10", "TERMFLOW_TOPIC_PROGRESS": "p", "TERMFLOW_LOG_LEVEL": "debug"},
			check: func(c Config) bool {
				return c.BatchSize == 10 && c.Topics.Progress == "p" && c.LogLevel == zerolog.DebugLevel
			}},
		{name: "flag wins", args: []string{"-batch-size", "7"}, env: map[string]string{"TERMFLOW_BATCH_SIZE": "10"},
			check: func(c Config) bool { return c.BatchSize == 7 }},
		{name: "backpressure and shutdown", env: map[string]string{"TERMFLOW_MAX_BUFFERED_BYTES": "4194304", "TERMFLOW_SHUTDOWN_TIMEOUT": "2m"},
			check: func(c Config) bool { return c.MaxBufferedBytes == 4<<20 && c.ShutdownTimeout == 2*time.Minute }},
		{name: "buffer below two documents", args: []string{"-max-buffered-bytes", "1048576"}, err: "max buffered bytes 1048576"},
		{name: "zero shutdown timeout", env: map[string]string{"TERMFLOW_SHUTDOWN_TIMEOUT": "0s"}, err: "shutdown timeout 0s"},
		{name: "bad env", env: map[string]string{"TERMFLOW_BATCH_SIZE": "x"}, err: "not an integer"},
		{name: "zero batch", args: []string{"-batch-size", "0"}, err: "batch size 0"},
		{name: "same topics", args: []string{"-topic-progress", "termflow.bulk-ops"}, err: "share the name"},
		{name: "bad level", args: []string{"-log-level", "loud"}, err: "log level"},
		{name: "extra args", args: []string{"x"}, err: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("unexpected %+v", c)
			}
		})
	}
}
