// Command termflow-persister is the single consumer of the dirty-terms topic:
// it writes posting chunks, documents and statistics to MongoDB in order.
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
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/termflow/termflow/pkg/failpoint"
	"github.com/termflow/termflow/pkg/flagenv"
	"github.com/termflow/termflow/pkg/kclient"
	"github.com/termflow/termflow/pkg/metrics/mongomon"
	"github.com/termflow/termflow/pkg/mongostore"
	"github.com/termflow/termflow/pkg/opsserver"
	"github.com/termflow/termflow/pkg/topic"
	"github.com/termflow/termflow/services/persister/internal/persister"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "termflow-persister:", err)
		os.Exit(1)
	}
}

// defaultMemoryLimit is the persister's soft memory limit unless
// GOMEMLIMIT sets one.
const defaultMemoryLimit = 1 << 30

type config struct {
	persister.Config
	MongoURI string
	MongoDB  string
	OpsAddr  string
	LogLevel string
	// Failpoints is the fault-test spec of TERMFLOW_FAILPOINTS.
	Failpoints string
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	c.Topics = topic.Defaults()
	fs := flagenv.New("termflow-persister", getenv)
	fs.SetOutput(stderr)
	fs.String(&c.OpsAddr, "ops-addr", "TERMFLOW_OPS_ADDR", "127.0.0.1:8082", "address of /metrics, /healthz, /readyz")
	fs.String(&c.LogLevel, "log-level", "TERMFLOW_LOG_LEVEL", "info", "log level")
	fs.String(&c.MongoURI, "mongo-uri", "MONGO_URI", "mongodb://127.0.0.1:27017", "MongoDB connection string")
	fs.String(&c.MongoDB, "mongo-db", "TERMFLOW_MONGO_DB", "termflow", "MongoDB database")
	fs.String(&c.Group, "group", "TERMFLOW_PERSISTER_GROUP", "termflow-persister", "consumer group on the dirty-terms topic")
	fs.String(&c.InstanceID, "instance-id", "TERMFLOW_PERSISTER_INSTANCE_ID", "persister-1", "static group member id: a restart with the same id takes the partition back at once")
	fs.Duration(&c.SessionTimeout, "session-timeout", "TERMFLOW_SESSION_TIMEOUT", 20*time.Second, "how long the group waits for a silent persister")
	fs.Duration(&c.ShutdownTimeout, "shutdown-timeout", "TERMFLOW_SHUTDOWN_TIMEOUT", 30*time.Second, "bound on a graceful stop (finish, report and commit the batch in hand)")
	fs.Duration(&c.MinBackoff, "min-backoff", "TERMFLOW_MIN_BACKOFF", 100*time.Millisecond, "first retry delay while MongoDB fails")
	fs.Duration(&c.MaxBackoff, "max-backoff", "TERMFLOW_MAX_BACKOFF", 10*time.Second, "longest retry delay while MongoDB fails")
	fs.Int(&c.BatchEvents, "batch-events", "TERMFLOW_PERSISTER_BATCH_EVENTS", persister.DefaultBatchEvents, "most dirty-terms events merged into one MongoDB batch")
	fs.Int(&c.BatchBytes, "batch-bytes", "TERMFLOW_PERSISTER_BATCH_BYTES", persister.DefaultBatchBytes, "most bytes of dirty-terms events (decompressed) merged into one MongoDB batch")
	fs.Duration(&c.Linger, "linger", "TERMFLOW_PERSISTER_LINGER", 250*time.Millisecond, "how long to keep collecting events that are still arriving before a batch is applied (at most 4x in all, or 20x while an indexer says events are coming; 0: apply each poll)")
	fs.Duration(&c.ApplyTimeout, "apply-timeout", "TERMFLOW_PERSISTER_APPLY_TIMEOUT", 10*time.Minute, "bound on one attempt of a batch against MongoDB")
	kclient.Flags(fs, &c.Kafka, "127.0.0.1:9092") // brokers, SASL, TLS
	fs.String(&c.Failpoints, "failpoints", "TERMFLOW_FAILPOINTS", "", "fault tests only: kill the process at name=N passes of named points (see pkg/failpoint)")
	topic.Bind(fs, &c.Topics)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	fp, err := failpoint.Parse(c.Failpoints)
	if err != nil {
		return c, err
	}
	c.Config.Failpoints = fp
	if c.InstanceID == "" || c.SessionTimeout <= 0 || c.ShutdownTimeout <= 0 {
		return c, fmt.Errorf("instance id %q, session timeout %v, shutdown timeout %v: want a name and positive timeouts", c.InstanceID, c.SessionTimeout, c.ShutdownTimeout)
	}
	if c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff {
		return c, fmt.Errorf("backoff %v..%v: want 0 < min <= max", c.MinBackoff, c.MaxBackoff)
	}
	if c.BatchEvents <= 0 || c.BatchBytes <= 0 || c.Linger < 0 || c.ApplyTimeout <= 0 {
		return c, fmt.Errorf("batch of %d events, %d bytes, linger %v, apply timeout %v: want positive sizes and timeout, linger >= 0",
			c.BatchEvents, c.BatchBytes, c.Linger, c.ApplyTimeout)
	}
	if err := c.Kafka.Validate(); err != nil {
		return c, err
	}
	return c, c.Topics.Validate()
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
	log := zerolog.New(stderr).Level(level).With().Timestamp().Str("service", "persister").Logger()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if getenv("GOGC") == "" {
		// Collect at three times the live heap rather than twice: a
		// batch's postings are short-lived garbage, and the soft limit
		// below bounds the heap on large loads. Persister ÷ raw MongoDB
		// rate on zipf-10k: 78-80 % at GOGC 100, 84-87 % at 200
		// (docs/benchmarks.md, after the ninth session).
		debug.SetGCPercent(200)
	}
	if getenv("GOMEMLIMIT") == "" {
		// A batch's postings are short-lived garbage: collect sooner than
		// the GC percentage says once the process nears 1 GiB (a soft
		// limit; GOMEMLIMIT overrides it).
		debug.SetMemoryLimit(defaultMemoryLimit)
	}

	if err := topic.EnsureAll(ctx, cfg.Topics, kclient.Options(cfg.Kafka, "persister-admin", log, nil)...); err != nil {
		return err
	}
	store, err := openStore(ctx, cfg, log, options.Client().SetMonitor(mongomon.New(reg, "persister")))
	if err != nil {
		return err
	}
	defer store.Close(context.Background())

	p, err := persister.New(cfg.Config, store, log, reg)
	if err != nil {
		return err
	}
	defer p.Close()

	ln, err := net.Listen("tcp", cfg.OpsAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.OpsAddr, err)
	}
	mux := http.NewServeMux()
	opsserver.Register(mux, reg, p.Ready)
	log.Info().Str("ops", ln.Addr().String()).Msg("persister started")

	// Shutdown order: the consume loop finishes the event in hand and
	// commits; then the Kafka client leaves the group (deferred p.Close),
	// and only then MongoDB disconnects (deferred before it).
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.Run(gctx) })
	g.Go(func() error { return opsserver.Serve(gctx, ln, mux) })
	err = g.Wait()
	log.Info().Msg("persister stopped")
	return err
}

// openStore connects to MongoDB, waiting for it while it is unavailable.
func openStore(ctx context.Context, cfg config, log zerolog.Logger, extra ...*options.ClientOptions) (*mongostore.Store, error) {
	backoff := cfg.MinBackoff
	for {
		store, err := mongostore.Open(ctx, cfg.MongoURI, cfg.MongoDB, log, extra...)
		if err == nil {
			return store, nil
		}
		log.Warn().Err(err).Dur("backoff", backoff).Msg("mongodb unavailable")
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, cfg.MaxBackoff)
	}
}
