// Command ingest is Termflow's HTTP front door: it accepts bulk indexing
// requests and produces their documents to Kafka, tracks bulk operations
// (the single writer of the bulk-ops topic), and serves searches from
// MongoDB. See internal/api for the endpoints and internal/tracker for how
// operation state survives restarts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/termflow/termflow/pkg/kclient"
	"github.com/termflow/termflow/pkg/mongostore"
	"github.com/termflow/termflow/pkg/opsserver"
	"github.com/termflow/termflow/pkg/topic"
	"github.com/termflow/termflow/services/ingest/internal/api"
	"github.com/termflow/termflow/services/ingest/internal/config"
	"github.com/termflow/termflow/services/ingest/internal/tracker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := config.Parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := zerolog.New(stderr).Level(cfg.LogLevel).With().Timestamp().Str("service", "ingest").Logger()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	apiCfg := api.Config{DocumentsTopic: cfg.Topics.Documents, BatchSize: cfg.BatchSize, MaxBodyBytes: cfg.MaxBodyBytes,
		MaxDocumentBytes: cfg.MaxDocumentBytes, ProduceTimeout: cfg.ProduceTimeout, MaxBufferedRecords: cfg.MaxBufferedRecords}
	trCfg := tracker.Defaults()
	trCfg.BulkOps, trCfg.Progress, trCfg.Group = cfg.Topics.BulkOps, cfg.Topics.Progress, cfg.Group

	// One producer for documents and operation states; it also serves the
	// admin requests.
	producer, err := kgo.NewClient(append(kclient.Options(cfg.Kafka, "ingest", log, reg), api.ProducerOpts(apiCfg)...)...)
	if err != nil {
		return fmt.Errorf("kafka producer: %w", err)
	}
	defer func() {
		flush, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = producer.Flush(flush)
		producer.Close()
	}()
	adm := kadm.NewClient(producer)
	ensureCtx, cancel := context.WithTimeout(ctx, time.Minute)
	// WithAuthorizedOps makes kadm bypass franz-go's metadata cache: without
	// it, Ensure's second ListTopics sees the cached "unknown topic" from its
	// first and fails on a fresh cluster (to be fixed in pkg/topic).
	err = topic.Ensure(kadm.WithAuthorizedOps(ensureCtx), adm, cfg.Topics.ReplicationFactor, cfg.Topics.All()...)
	cancel()
	if err != nil {
		return fmt.Errorf("ensure topics: %w", err)
	}
	consumer, err := kgo.NewClient(append(kclient.Options(cfg.Kafka, "ingest_progress", log, reg), tracker.ConsumerOpts(trCfg)...)...)
	if err != nil {
		return fmt.Errorf("kafka progress consumer: %w", err)
	}
	defer consumer.Close() // leaves the group; the tracker committed before Run returned

	store, err := mongostore.Open(ctx, cfg.MongoURI, cfg.MongoDB, log)
	if err != nil {
		return fmt.Errorf("open mongodb: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = store.Close(closeCtx)
	}()

	tr := tracker.New(trCfg, producer, consumer, adm, kclient.Options(cfg.Kafka, "ingest", log, nil), log, reg)
	a := api.New(apiCfg, producer, tr, store, log, reg)
	mux := http.NewServeMux()
	a.Register(mux)
	opsserver.Register(mux, reg, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := tr.Ready(); err != nil {
			return err
		}
		if err := producer.Ping(ctx); err != nil {
			return fmt.Errorf("kafka: %w", err)
		}
		if err := store.Ping(ctx); err != nil {
			return fmt.Errorf("mongodb: %w", err)
		}
		return nil
	})
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info().Str("addr", ln.Addr().String()).Msg("listening")

	// Shutdown order. On cancel both goroutines stop together: the HTTP
	// server stops accepting and drains in-flight requests (up to 10s; a
	// bulk request still producing keeps using the tracker and the
	// producer), and the tracker makes a last publish of changed states and
	// commits the progress it covers. Only then do the deferred closes run,
	// in reverse: MongoDB (searches are done), the progress consumer (it
	// leaves the group after the final commit), and the producer last,
	// flushed, because both the API and the tracker write through it.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return opsserver.Serve(gctx, ln, mux) })
	g.Go(func() error { return tr.Run(gctx) })
	err = g.Wait()
	log.Info().Err(err).Msg("stopped")
	return err
}
