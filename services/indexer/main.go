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
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/termflow/termflow/pkg/failpoint"
	"github.com/termflow/termflow/pkg/flagenv"
	"github.com/termflow/termflow/pkg/kclient"
	"github.com/termflow/termflow/pkg/opsserver"
	"github.com/termflow/termflow/pkg/pebblestore"
	"github.com/termflow/termflow/pkg/topic"
	"github.com/termflow/termflow/services/indexer/internal/indexer"
)

func main() {
	// The live heap is a few batches in hand; nothing on it grows with the
	// index. Collecting at 5x it instead of 2x cuts the collector's share
	// of the CPU (about a tenth of the indexer's at the default) for a few
	// hundred MiB more; the soft limit keeps the heap, and with Pebble's
	// cache and two memtables (about 200 MiB) the process, inside the
	// 1 GiB it may use: on large loads the limit, not the percentage,
	// decides when to collect. 400 rather than 200: debian indexed 11 %
	// faster and zipf-100k 7 %, for an RSS of 660-730 MiB instead of
	// 430-580 (partial runs, docs/benchmarks.md, eleventh session).
	// GOGC and GOMEMLIMIT still win when set.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(640 << 20)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "termflow-indexer:", err)
		os.Exit(1)
	}
}

type config struct {
	indexer.Config
	Failpoints string
	DataDir    string
	OpsAddr    string
	LogLevel   string
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	c := config{Config: indexer.Defaults()}
	d := c.Config
	fs := flagenv.New("termflow-indexer", getenv)
	fs.SetOutput(stderr)
	fs.String(&c.DataDir, "data-dir", "TERMFLOW_DATA_DIR", "./data", "data directory; Pebble lives in DIR/<instance-id>/pebble")
	fs.String(&c.OpsAddr, "ops-addr", "TERMFLOW_OPS_ADDR", "127.0.0.1:8081", "address of /metrics, /healthz, /readyz")
	fs.String(&c.LogLevel, "log-level", "TERMFLOW_LOG_LEVEL", "info", "log level")
	fs.String(&c.InstanceID, "instance-id", "TERMFLOW_INSTANCE_ID", d.InstanceID, "name of this indexer (its Pebble directory, its events and its static group membership); unique per running indexer")
	fs.String(&c.Group, "group", "TERMFLOW_INDEXER_GROUP", d.Group, "consumer group on the documents topic")
	fs.Int(&c.MaxPollRecords, "max-poll-records", "TERMFLOW_MAX_POLL_RECORDS", d.MaxPollRecords, "records taken per poll")
	fs.Int(&c.Parallelism, "parallelism", "TERMFLOW_INDEX_PARALLELISM", d.Parallelism, "batches indexed at once (0: one per core); hand-overs and commits do not count")
	fs.Int(&c.MaxDocumentBytes, "max-document-bytes", "TERMFLOW_MAX_DOCUMENT_BYTES", d.MaxDocumentBytes, "largest documents-topic record indexed; larger ones are dead-lettered")
	fs.Duration(&c.SessionTimeout, "session-timeout", "TERMFLOW_SESSION_TIMEOUT", d.SessionTimeout, "how long the group keeps a silent indexer's partitions for its restart")
	fs.Duration(&c.ShutdownTimeout, "shutdown-timeout", "TERMFLOW_SHUTDOWN_TIMEOUT", d.ShutdownTimeout, "bound on a graceful stop (finish the batch, commit, leave the group)")
	fs.Bool(&c.LeaveGroupOnShutdown, "leave-group-on-shutdown", "TERMFLOW_LEAVE_GROUP_ON_SHUTDOWN", d.LeaveGroupOnShutdown, "leave the group on a graceful stop so the partitions move at once (false keeps them for a restart)")
	kclient.Flags(fs, &c.Kafka, d.Kafka.Brokers) // brokers, SASL, TLS
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
	return c, c.Validate()
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
	store, err := pebblestore.Open(dir, pebblestore.Options{Logger: pebbleLog{log}})
	if err != nil {
		return err
	}
	skipClose := false
	defer func() {
		if !skipClose {
			store.Close()
		}
	}()
	pebblestore.RegisterMetrics(reg, store)

	ix, err := indexer.New(cfg.Config, store, log, reg)
	if err != nil {
		return err
	}
	defer func() {
		if !skipClose {
			ix.Close() // after Run, a no-op
		}
	}()

	ln, err := net.Listen("tcp", cfg.OpsAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.OpsAddr, err)
	}
	mux := http.NewServeMux()
	opsserver.Register(mux, reg, ix.Ready)
	log.Info().Str("ops", ln.Addr().String()).Str("data", dir).Msg("indexer started")

	// Shutdown order, on SIGTERM (ctx cancelled): the ops server stops and
	// /readyz fails; Run finishes the batch in hand, commits the marked
	// offsets, leaves the group and closes the Kafka client, all within
	// ShutdownTimeout; only then does the deferred store.Close run, so no
	// batch ever runs on a closed Pebble. If Run does not return in time (a
	// Pebble write stuck), run returns without closing Pebble, which is
	// crash-safe: the process exits as if killed.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return ix.Run(gctx) })
	g.Go(func() error { return opsserver.Serve(gctx, ln, mux) })
	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	select {
	case err = <-done:
	case <-afterDone(gctx, cfg.ShutdownTimeout+5*time.Second):
		skipClose = true
		return fmt.Errorf("shutdown did not finish within %s", cfg.ShutdownTimeout)
	}
	log.Info().Msg("indexer stopped")
	return err
}

// afterDone fires d after ctx is done.
func afterDone(ctx context.Context, d time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	context.AfterFunc(ctx, func() { time.AfterFunc(d, func() { c <- time.Now() }) })
	return c
}
