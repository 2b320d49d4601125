// Package config is the configuration of the ingest service: flags, each
// backed by an environment variable, with defaults.
package config

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/termflow/termflow/pkg/flagenv"
	"github.com/termflow/termflow/pkg/kclient"
	"github.com/termflow/termflow/pkg/topic"
	"github.com/termflow/termflow/services/ingest/internal/webhook"
)

// Config configures ingest.
type Config struct {
	// HTTPAddr is the API, metrics and health listener (-http-addr,
	// TERMFLOW_HTTP_ADDR). The default value is "127.0.0.1:8080".
	HTTPAddr string
	// Kafka are the brokers (-kafka-brokers, KAFKA_BROKERS). The default
	// value is "127.0.0.1:9092".
	Kafka kclient.Config
	// MongoURI is the MongoDB server (-mongo-uri, MONGO_URI). The default
	// value is "mongodb://127.0.0.1:27017".
	MongoURI string
	// MongoDB is the database (-mongo-db, TERMFLOW_MONGO_DB). The default
	// value is "termflow".
	MongoDB string
	// BatchSize is the number of documents per batch of an operation
	// (-batch-size, TERMFLOW_BATCH_SIZE). The default value is 150.
	BatchSize int
	// MaxBodyBytes limits a bulk request body (-max-body-bytes,
	// TERMFLOW_MAX_BODY_BYTES). The default value is 64 MiB.
	MaxBodyBytes int
	// MaxDocumentBytes limits one document (-max-document-bytes,
	// TERMFLOW_MAX_DOCUMENT_BYTES). The default value is 1 MiB.
	MaxDocumentBytes int
	// ProduceTimeout bounds the wait for Kafka to acknowledge a request's
	// records (-produce-timeout, TERMFLOW_PRODUCE_TIMEOUT). The default
	// value is 30s.
	ProduceTimeout time.Duration
	// MaxBufferedRecords is the number of documents being produced at once;
	// a request that does not fit is answered 429 (-max-buffered-records,
	// TERMFLOW_MAX_BUFFERED_RECORDS). The default value is 100000.
	MaxBufferedRecords int
	// MaxBufferedBytes is the same limit in bytes of records (key, value
	// and headers) (-max-buffered-bytes, TERMFLOW_MAX_BUFFERED_BYTES). The
	// default value is 256 MiB.
	MaxBufferedBytes int
	// ShutdownTimeout bounds the graceful shutdown on SIGTERM or SIGINT:
	// finishing the write requests in hand (new ones get 503), flushing the
	// producers, publishing the operation states and closing the clients
	// (-shutdown-timeout, TERMFLOW_SHUTDOWN_TIMEOUT). The default value is
	// 30s.
	ShutdownTimeout time.Duration
	// Group is the consumer group of the progress topic (-consumer-group,
	// TERMFLOW_INGEST_GROUP). The default value is "termflow-ingest".
	Group string
	// InstanceID is the static member id of the progress consumer
	// (-instance-id, TERMFLOW_INGEST_INSTANCE_ID): a restart with the same id
	// consumes progress again at once. The default value is "ingest-1".
	InstanceID string
	// SessionTimeout is how long the group waits for a silent ingest process
	// (-session-timeout, TERMFLOW_SESSION_TIMEOUT). The default value is 20s.
	SessionTimeout time.Duration
	// Topics names the topics (-topic-documents TERMFLOW_TOPIC_DOCUMENTS
	// "termflow.documents", -documents-partitions TERMFLOW_DOCUMENTS_PARTITIONS
	// 12, -topic-dirty-terms TERMFLOW_TOPIC_DIRTY_TERMS "termflow.dirty-terms",
	// -topic-bulk-ops TERMFLOW_TOPIC_BULK_OPS "termflow.bulk-ops",
	// -topic-progress TERMFLOW_TOPIC_PROGRESS "termflow.progress",
	// -topic-dead-letter TERMFLOW_TOPIC_DEAD_LETTER "termflow.documents.dlq",
	// -replication-factor TERMFLOW_REPLICATION_FACTOR -1 for the broker's default).
	Topics topic.Config
	// LogLevel is the zerolog level (-log-level, TERMFLOW_LOG_LEVEL). The
	// default value is "info".
	LogLevel zerolog.Level
	// Security is the API's access control and limits (security.go).
	Security Security
	// Webhooks are the completion webhooks (-webhook-*, TERMFLOW_WEBHOOK_*;
	// package webhook states the defaults).
	Webhooks webhook.Config
}

// Parse reads the configuration from args and the environment; usage goes
// to stderr.
func Parse(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var c Config
	t := topic.Defaults()
	fs := flagenv.New("ingest", getenv)
	fs.SetOutput(stderr)
	fs.String(&c.HTTPAddr, "http-addr", "TERMFLOW_HTTP_ADDR", "127.0.0.1:8080", "HTTP listen address (API, /metrics, /healthz, /readyz)")
	kclient.Flags(fs, &c.Kafka, "127.0.0.1:9092") // brokers, SASL, TLS
	fs.String(&c.MongoURI, "mongo-uri", "MONGO_URI", "mongodb://127.0.0.1:27017", "MongoDB URI")
	fs.String(&c.MongoDB, "mongo-db", "TERMFLOW_MONGO_DB", "termflow", "MongoDB database")
	fs.Int(&c.BatchSize, "batch-size", "TERMFLOW_BATCH_SIZE", 150, "documents per batch of a bulk operation")
	fs.Int(&c.MaxBodyBytes, "max-body-bytes", "TERMFLOW_MAX_BODY_BYTES", 64<<20, "largest bulk request body")
	fs.Int(&c.MaxDocumentBytes, "max-document-bytes", "TERMFLOW_MAX_DOCUMENT_BYTES", 1<<20, "largest document")
	fs.Duration(&c.ProduceTimeout, "produce-timeout", "TERMFLOW_PRODUCE_TIMEOUT", 30*time.Second, "wait for Kafka to acknowledge a request's documents")
	fs.Int(&c.MaxBufferedRecords, "max-buffered-records", "TERMFLOW_MAX_BUFFERED_RECORDS", 100000, "documents in flight to Kafka before requests get 429")
	fs.Int(&c.MaxBufferedBytes, "max-buffered-bytes", "TERMFLOW_MAX_BUFFERED_BYTES", 256<<20, "bytes of documents in flight to Kafka before requests get 429")
	fs.Duration(&c.ShutdownTimeout, "shutdown-timeout", "TERMFLOW_SHUTDOWN_TIMEOUT", 30*time.Second, "bound of the graceful shutdown on SIGTERM")
	fs.String(&c.Group, "consumer-group", "TERMFLOW_INGEST_GROUP", "termflow-ingest", "consumer group of the progress topic")
	fs.String(&c.InstanceID, "instance-id", "TERMFLOW_INGEST_INSTANCE_ID", "ingest-1", "static member id of the progress consumer")
	fs.Duration(&c.SessionTimeout, "session-timeout", "TERMFLOW_SESSION_TIMEOUT", 20*time.Second, "how long the group waits for a silent ingest process")
	fs.String(&t.Documents, "topic-documents", "TERMFLOW_TOPIC_DOCUMENTS", t.Documents, "documents topic")
	fs.Int(&t.DocumentsPartitions, "documents-partitions", "TERMFLOW_DOCUMENTS_PARTITIONS", t.DocumentsPartitions, "partitions of the documents topic when created")
	fs.String(&t.DirtyTerms, "topic-dirty-terms", "TERMFLOW_TOPIC_DIRTY_TERMS", t.DirtyTerms, "dirty-terms topic")
	fs.String(&t.BulkOps, "topic-bulk-ops", "TERMFLOW_TOPIC_BULK_OPS", t.BulkOps, "compacted bulk-operation state topic")
	fs.String(&t.Progress, "topic-progress", "TERMFLOW_TOPIC_PROGRESS", t.Progress, "progress topic")
	fs.String(&t.DeadLetter, "topic-dead-letter", "TERMFLOW_TOPIC_DEAD_LETTER", t.DeadLetter, "documents dead-letter topic")
	rf := int(t.ReplicationFactor)
	fs.Int(&rf, "replication-factor", "TERMFLOW_REPLICATION_FACTOR", rf, "replication factor of created topics (-1: broker default)")
	securityFlags(fs, getenv, &c.Security)
	c.Webhooks.AddFlags(fs)
	var level string
	fs.String(&level, "log-level", "TERMFLOW_LOG_LEVEL", "info", "log level (debug, info, warn, error)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	t.ReplicationFactor = int16(rf)
	c.Topics = t
	var err error
	if c.LogLevel, err = zerolog.ParseLevel(level); err != nil || level == "" {
		return c, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	c.Security.load()
	return c, c.Validate()
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.HTTPAddr == "" {
		errs = append(errs, errors.New("empty HTTP address"))
	}
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MongoURI == "" || c.MongoDB == "" {
		errs = append(errs, errors.New("empty MongoDB URI or database"))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("batch size %d: want at least 1", c.BatchSize))
	}
	if c.MaxBodyBytes < 2 || c.MaxDocumentBytes < 2 {
		errs = append(errs, fmt.Errorf("max body bytes %d, max document bytes %d: want at least 2", c.MaxBodyBytes, c.MaxDocumentBytes))
	}
	if c.ProduceTimeout <= 0 {
		errs = append(errs, fmt.Errorf("produce timeout %s: want positive", c.ProduceTimeout))
	}
	if c.MaxBufferedRecords < 1 {
		errs = append(errs, fmt.Errorf("max buffered records %d: want at least 1", c.MaxBufferedRecords))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown timeout %s: want positive", c.ShutdownTimeout))
	}
	if c.MaxBufferedBytes < 2*c.MaxDocumentBytes {
		errs = append(errs, fmt.Errorf("max buffered bytes %d: want at least twice the max document bytes %d", c.MaxBufferedBytes, c.MaxDocumentBytes))
	}
	if c.InstanceID == "" {
		errs = append(errs, errors.New("empty instance id"))
	}
	if c.SessionTimeout <= 0 {
		errs = append(errs, fmt.Errorf("session timeout %s: want positive", c.SessionTimeout))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("empty consumer group"))
	}
	if c.Topics.ReplicationFactor == 0 || c.Topics.ReplicationFactor < -1 {
		errs = append(errs, fmt.Errorf("replication factor %d: want -1 or at least 1", c.Topics.ReplicationFactor))
	}
	if err := c.Topics.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Security.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Webhooks.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
