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
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/termflow/termflow/pkg/kclient"
	"github.com/termflow/termflow/pkg/metrics/mongomon"
	"github.com/termflow/termflow/pkg/mongostore"
	"github.com/termflow/termflow/pkg/opsserver"
	"github.com/termflow/termflow/pkg/topic"
	"github.com/termflow/termflow/services/ingest/internal/api"
	"github.com/termflow/termflow/services/ingest/internal/auth"
	"github.com/termflow/termflow/services/ingest/internal/config"
	"github.com/termflow/termflow/services/ingest/internal/tracker"
	"github.com/termflow/termflow/services/ingest/internal/webhook"
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
		MaxDocumentBytes: cfg.MaxDocumentBytes, ProduceTimeout: cfg.ProduceTimeout,
		MaxBufferedRecords: cfg.MaxBufferedRecords, MaxBufferedBytes: cfg.MaxBufferedBytes, Limits: cfg.Security.Limits}
	trCfg := tracker.Defaults()
	trCfg.BulkOps, trCfg.Progress, trCfg.Group = cfg.Topics.BulkOps, cfg.Topics.Progress, cfg.Group
	trCfg.InstanceID, trCfg.SessionTimeout = cfg.InstanceID, cfg.SessionTimeout

	// Two producers, both idempotent with acks=all. The documents producer's
	// buffer is the API's in-flight limit, so that a full buffer means 429;
	// operation states go through the other one, which also serves the admin
	// requests, so they never wait behind documents.
	producer, err := kgo.NewClient(append(kclient.Options(cfg.Kafka, "ingest", log, reg), kgo.RequiredAcks(kgo.AllISRAcks()))...)
	if err != nil {
		return fmt.Errorf("kafka producer: %w", err)
	}
	defer producer.Close()
	docProducer, err := kgo.NewClient(append(kclient.Options(cfg.Kafka, "ingest_documents", log, reg), api.ProducerOpts(apiCfg)...)...)
	if err != nil {
		return fmt.Errorf("kafka documents producer: %w", err)
	}
	defer docProducer.Close()
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
	defer consumer.Close() // the tracker committed before Run returned; a static member stays in the group for its restart

	store, err := mongostore.Open(ctx, cfg.MongoURI, cfg.MongoDB, log, options.Client().SetMonitor(mongomon.New(reg, "ingest")))
	if err != nil {
		return fmt.Errorf("open mongodb: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = store.Close(closeCtx)
	}()

	tr := tracker.New(trCfg, producer, consumer, adm, kclient.Options(cfg.Kafka, "ingest", log, nil), log, reg)
	a := api.New(apiCfg, docProducer, tr, store, log, reg)
	hooks := webhook.New(cfg.Webhooks, log, reg) // completion webhooks, recorded by the tracker
	hooks.SetMarker(tr)
	tr.SetNotifier(hooks)
	a.SetWebhooks(hooks)
	mux := http.NewServeMux()
	a.Register(mux)
	opsserver.Register(mux, reg, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := a.Accepting(); err != nil {
			return err
		}
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
	if cfg.Security.Guard.Disabled {
		log.Warn().Msg("api keys off: every request is served (TERMFLOW_AUTH=off, local development only)")
	}

	// Long polls (GET /bulk-operations/{id}?wait=) end with this context,
	// answering the state they have; write requests do not depend on it.
	reqCtx, endRequests := context.WithCancel(context.Background())
	defer endRequests()
	// API keys and the per-key rate are checked before any route (auth).
	srv := &http.Server{Handler: auth.New(cfg.Security.Guard, reg).Wrap(mux), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return reqCtx }}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		return nil
	})
	g.Go(func() error { return tr.Run(context.Background()) }) // ended by tr.Stop below
	g.Go(func() error { return hooks.Run(gctx) })              // cut deliveries are retried by the next start
	g.Go(func() error {
		<-gctx.Done() // a signal, or the server or the tracker failed
		log.Info().Dur("timeout", cfg.ShutdownTimeout).Msg("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		// Shutdown order, all within the shutdown timeout:
		//  1. New write requests get 503 (and /readyz fails); the ones in
		//     hand finish: each is answered 202 once Kafka acknowledged its
		//     documents and its accepted state, or 503 with its operation
		//     aborted. Reads are still served meanwhile.
		//  2. Long polls return, the listener closes, remaining reads finish.
		//  3. The documents producer is flushed (normally already empty).
		//  4. The tracker publishes the states that changed last (aborts of
		//     step 1 among them) and commits the progress they cover; it
		//     writes through the state producer, so that is flushed after.
		// Then the deferred closes run, in reverse: MongoDB, the progress
		// consumer (leaving the group after the final commit), the documents
		// producer and the state producer. A request still in hand when the
		// timeout passes is cut; its operation was never accepted, so the
		// next start fails it.
		var errs []error
		if err := a.Drain(sctx); err != nil {
			errs = append(errs, err)
		}
		endRequests()
		if err := srv.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down http server: %w", err))
			srv.Close()
		}
		if err := docProducer.Flush(sctx); err != nil {
			errs = append(errs, fmt.Errorf("flush documents producer: %w", err))
		}
		if err := tr.Stop(sctx); err != nil {
			errs = append(errs, err)
		}
		if err := producer.Flush(sctx); err != nil {
			errs = append(errs, fmt.Errorf("flush state producer: %w", err))
		}
		return errors.Join(errs...)
	})
	err = g.Wait()
	log.Info().Err(err).Msg("stopped")
	return err
}
