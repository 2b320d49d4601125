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
		{name: "no keys", env: map[string]string{"TERMFLOW_AUTH": "on"}, err: "no API keys configured"},
		{name: "keys", env: map[string]string{"TERMFLOW_AUTH": "on", "TERMFLOW_API_KEYS": "app:read+write:0123456789abcdef, ro:read:fedcba9876543210"},
			check: func(c Config) bool {
				g := c.Security.Guard
				return !g.Disabled && len(g.Keys) == 2 && g.Keys[1].Name == "ro" && g.Rate == 100 && g.Burst == 200
			}},
		{name: "short secret", env: map[string]string{"TERMFLOW_AUTH": "on", "TERMFLOW_API_KEYS": "app:write:short"}, err: "secret shorter than 16"},
		{name: "off with keys", env: map[string]string{"TERMFLOW_API_KEYS": "app:write:0123456789abcdef"}, err: "TERMFLOW_AUTH=off but API keys"},
		{name: "limits", env: map[string]string{"TERMFLOW_MAX_FIELDS": "10", "TERMFLOW_MAX_QUERY_TERMS": "3"},
			check: func(c Config) bool {
				l := c.Security.Limits
				return l.MaxFields == 10 && l.MaxQueryTerms == 3 && l.MaxDepth == 100 && l.MaxDocuments == 100000
			}},
		{name: "depth over the indexer's", args: []string{"-max-depth", "101"}, err: "max depth 101"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.args, func(k string) string {
				if v, ok := tt.env[k]; ok || k != "TERMFLOW_AUTH" {
					return v
				}
				return "off" // most cases are not about auth
			}, io.Discard)
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
