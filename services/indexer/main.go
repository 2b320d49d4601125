// Command termflow-indexer consumes the documents topic, indexes documents
// into Pebble and hands every batch to the persister as a dirty-terms event.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/termflow/termflow/pkg/document"
	"github.com/termflow/termflow/pkg/flagenv"
	"github.com/termflow/termflow/pkg/kclient"
	"github.com/termflow/termflow/pkg/opsserver"
	"github.com/termflow/termflow/pkg/pebblestore"
	"github.com/termflow/termflow/pkg/topic"
	"github.com/termflow/termflow/services/indexer/internal/indexer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "termflow-indexer:", err)
		os.Exit(1)
	}
}

type config struct {
	indexer.Config
	DataDir  string
	OpsAddr  string
	LogLevel string
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	c.Topics = topic.Defaults()
	fs := flagenv.New("termflow-indexer", getenv)
	fs.SetOutput(stderr)
	fs.String(&c.DataDir, "data-dir", "TERMFLOW_DATA_DIR", "./data", "data directory; Pebble lives in DIR/<instance-id>/pebble")
	fs.String(&c.OpsAddr, "ops-addr", "TERMFLOW_OPS_ADDR", "127.0.0.1:8081", "address of /metrics, /healthz, /readyz")
	fs.String(&c.LogLevel, "log-level", "TERMFLOW_LOG_LEVEL", "info", "log level")
	fs.String(&c.InstanceID, "instance-id", "TERMFLOW_INSTANCE_ID", "indexer-1", "name of this indexer (its Pebble directory and its events)")
	fs.String(&c.Group, "group", "TERMFLOW_INDEXER_GROUP", "termflow-indexer", "consumer group on the documents topic")
	fs.Int(&c.MaxPollRecords, "max-poll-records", "TERMFLOW_MAX_POLL_RECORDS", 5000, "records taken per poll")
	fs.Int(&c.MaxDocumentBytes, "max-document-bytes", "TERMFLOW_MAX_DOCUMENT_BYTES", document.DefaultMaxBytes, "largest documents-topic record indexed; larger ones are dead-lettered")
	fs.String(&c.Kafka.Brokers, "kafka-brokers", "KAFKA_BROKERS", "127.0.0.1:9092", "Kafka seed brokers, comma separated")
	topic.Bind(fs, &c.Topics)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, c.validate()
}

func (c config) validate() error {
	if c.InstanceID == "" || filepath.Base(c.InstanceID) != c.InstanceID {
		return fmt.Errorf("instance id %q: want a plain name", c.InstanceID)
	}
	if c.MaxPollRecords < 1 {
		return fmt.Errorf("max-poll-records %d: want at least 1", c.MaxPollRecords)
	}
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	return c.Topics.Validate()
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	level, err := zerolog.ParseLevel(cfg.LogLevel)
	if err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	log := zerolog.New(stderr).Level(level).With().Timestamp().Str("service", "indexer").Logger()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if err := topic.EnsureAll(ctx, cfg.Topics, kclient.Options(cfg.Kafka, "indexer-admin", log, nil)...); err != nil {
		return err
	}
	dir := filepath.Join(cfg.DataDir, cfg.InstanceID, "pebble")
	store, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	pebblestore.RegisterMetrics(reg, store)

	ix, err := indexer.New(cfg.Config, store, log, reg)
	if err != nil {
		return err
	}
	defer ix.Close()

	ln, err := net.Listen("tcp", cfg.OpsAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.OpsAddr, err)
	}
	mux := http.NewServeMux()
	opsserver.Register(mux, reg, ix.Ready)
	log.Info().Str("ops", ln.Addr().String()).Str("data", dir).Msg("indexer started")

	// Shutdown order: the poll loop stops first and finishes its batch; then
	// the deferred ix.Close commits marked offsets and leaves the group, and
	// only then Pebble closes (deferred before it), so no batch ever runs on
	// a closed store. The ops server stops with the group context.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return ix.Run(gctx) })
	g.Go(func() error { return opsserver.Serve(gctx, ln, mux) })
	err = g.Wait()
	log.Info().Msg("indexer stopped")
	return err
}
