// Command termflow-ferretdb runs FerretDB (v1, SQLite backend) embedded in a
// small launcher, as the MongoDB-compatible store for Termflow's local and CI
// test infrastructure (started by scripts/ferretdb.sh).
//
// Modes:
//
//	termflow-ferretdb [-listen ADDR] [-data-dir DIR] [-log-level LEVEL] [-cpuprofile FILE]
//	    serve until SIGINT/SIGTERM; prints "ferretdb listening on ADDR" once
//	    the listener is bound.
//	termflow-ferretdb -ping ADDR [-timeout D]
//	    connect with the MongoDB Go driver (v2), run "ping", exit 0 on success.
//	termflow-ferretdb -selftest ADDR [-timeout D]
//	    ping, then insert/find/drop a document in a scratch database.
//
// This module is deliberately outside go.work: FerretDB's dependency graph
// (modernc sqlite, pgx, otel, mongo-driver v1, ...) must not leak into the
// services' build lists. Build it with GOWORK=off.
//
// Do not replace it with `go install github.com/FerretDB/FerretDB/cmd/ferretdb`:
// such a binary panics at start because build/version/version.txt is
// generated and not part of the module zip. The embedded package skips that
// check because the main module is not FerretDB.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		listen   = flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
		dataDir  = flag.String("data-dir", "./data/ferretdb", "directory for the SQLite backend files (created if missing)")
		logLevel = flag.String("log-level", "warn", "FerretDB log level: debug, info, warn or error")
		ping     = flag.String("ping", "", "ping the MongoDB-compatible server at ADDR (host:port or mongodb:// URI) and exit")
		selftest = flag.String("selftest", "", "ping, insert, find and drop a scratch document at ADDR and exit")
		timeout  = flag.Duration("timeout", 5*time.Second, "timeout for -ping / -selftest")
		cpuProf  = flag.String("cpuprofile", "", "write a CPU profile (pprof) of the server to FILE when it stops")
	)
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [flags]\n", filepath.Base(os.Args[0]))
		flag.PrintDefaults()
	}
	flag.Parse()

	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %v\n", flag.Args())
		flag.Usage()
		return 2
	}

	switch {
	case *ping != "":
		if err := doPing(*ping, *timeout); err != nil {
			fmt.Fprintf(os.Stderr, "ping %s: %v\n", *ping, err)
			return 1
		}
		fmt.Printf("ping %s: ok\n", *ping)
		return 0

	case *selftest != "":
		if err := doSelftest(*selftest, *timeout); err != nil {
			fmt.Fprintf(os.Stderr, "selftest %s: %v\n", *selftest, err)
			return 1
		}
		fmt.Printf("selftest %s: ok\n", *selftest)
		return 0
	}

	if os.Getenv("GOGC") == "" {
		// Collect at five times the live heap rather than twice: FerretDB
		// turns every document into short-lived Go values on its way to
		// SQLite, and garbage collection took a seventh of its CPU. On
		// zipf-100k the server used 23 core-seconds instead of 28 and the
		// load completed 9 % sooner; its peak RSS went from 250 to 480 MiB
		// (docs/benchmarks.md, the tenth session). The soft limit below
		// bounds it.
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(1 << 30)
	}
	if *cpuProf != "" {
		stop, err := startCPUProfile(*cpuProf)
		if err != nil {
			fmt.Fprintf(os.Stderr, "termflow-ferretdb: %v\n", err)
			return 1
		}
		defer stop()
	}
	if err := serve(*listen, *dataDir, *logLevel); err != nil {
		fmt.Fprintf(os.Stderr, "termflow-ferretdb: %v\n", err)
		return 1
	}
	return 0
}

// startCPUProfile profiles the process's CPU into path until the returned
// stop is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "termflow-ferretdb: cpuprofile: %v\n", err)
		}
	}, nil
}

func serve(listen, dataDir, logLevel string) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("invalid -log-level %q: %w", logLevel, err)
	}
	logger := slog.New(demoteHandler{base: slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})})

	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if err = os.MkdirAll(abs, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}

	// FerretDB wants a "file:" URI whose path ends with "/" and is an
	// existing directory; url.URL takes care of escaping odd characters.
	sqliteURL := (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs) + "/"}).String()

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// New has already bound the TCP listener, so MongoDBURI does not block;
	// connections queue in the backlog until Run's accept loop picks them up.
	u, err := url.Parse(f.MongoDBURI())
	addr := listen
	if err == nil && u.Host != "" {
		addr = u.Host
	}
	fmt.Printf("ferretdb listening on %s\n", addr)

	err = <-done
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// demoteHandler logs two kinds of FerretDB warnings at info instead, so that
// the default warn level stays quiet in tests:
//   - per-request dumps of failed commands: every client disconnect (the
//     driver's endSessions, which FerretDB v1 does not implement) and every
//     expected error such as a duplicate key would otherwise print a
//     multi-line wire dump;
//   - "Failed to set deadline: ... use of closed network connection", a benign
//     race when a client (e.g. a port probe) connects and closes at once.
//
// They are still visible with -log-level=info or debug.
//
// It also defers WithAttrs and WithGroup until a record is logged. FerretDB
// calls Logger.With with every SQL statement's arguments (whole documents)
// before its debug calls, and slog's TextHandler formats attributes as soon
// as they are added: at the default level that formatting, never printed,
// was 9 % of the server's CPU in BenchmarkPersist.
type demoteHandler struct {
	base slog.Handler
	with []func(slog.Handler) slog.Handler // WithAttrs and WithGroup, in order
}

func (h demoteHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.base.Enabled(ctx, l) // demoting only ever lowers a level
}

func (h demoteHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && demote(r.Message) {
		r.Level = slog.LevelInfo
	}
	if !h.base.Enabled(ctx, r.Level) {
		return nil
	}
	out := h.base
	for _, w := range h.with {
		out = w(out)
	}
	return out.Handle(ctx, r)
}

func (h demoteHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.and(func(x slog.Handler) slog.Handler { return x.WithAttrs(attrs) })
}

func (h demoteHandler) WithGroup(name string) slog.Handler {
	return h.and(func(x slog.Handler) slog.Handler { return x.WithGroup(name) })
}

func (h demoteHandler) and(w func(slog.Handler) slog.Handler) demoteHandler {
	return demoteHandler{base: h.base, with: append(h.with[:len(h.with):len(h.with)], w)}
}

func demote(msg string) bool {
	for _, p := range []string{"Response header:", "Response message:", "Proxy Response header:", "Proxy Response message:"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return strings.HasPrefix(msg, "Failed to set deadline:") && strings.Contains(msg, "use of closed network connection")
}

func mongoURI(addr string) string {
	if strings.HasPrefix(addr, "mongodb://") || strings.HasPrefix(addr, "mongodb+srv://") {
		return addr
	}
	return "mongodb://" + addr + "/"
}

func connect(ctx context.Context, addr string, timeout time.Duration) (*mongo.Client, error) {
	opts := options.Client().
		ApplyURI(mongoURI(addr)).
		SetServerSelectionTimeout(timeout).
		SetConnectTimeout(timeout).
		SetRetryWrites(false)
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, err
	}
	if err = client.Ping(ctx, readpref.Primary()); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	return client, nil
}

func doPing(addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	client, err := connect(ctx, addr, timeout)
	if err != nil {
		return err
	}
	return client.Disconnect(ctx)
}

func doSelftest(addr string, timeout time.Duration) (err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	client, err := connect(ctx, addr, timeout)
	if err != nil {
		return err
	}
	defer func() {
		if derr := client.Disconnect(context.Background()); err == nil {
			err = derr
		}
	}()

	db := client.Database(fmt.Sprintf("termflow_selftest_%d", os.Getpid()))
	defer func() {
		if derr := db.Drop(context.Background()); err == nil && derr != nil {
			err = fmt.Errorf("drop: %w", derr)
		}
	}()

	coll := db.Collection("docs")
	want := bson.D{{Key: "_id", Value: "selftest"}, {Key: "n", Value: int32(42)}, {Key: "tags", Value: bson.A{"a", "b"}}}
	if _, err = coll.InsertOne(ctx, want); err != nil {
		return fmt.Errorf("insert: %w", err)
	}

	var got struct {
		ID   string   `bson:"_id"`
		N    int32    `bson:"n"`
		Tags []string `bson:"tags"`
	}
	if err = coll.FindOne(ctx, bson.D{{Key: "n", Value: int32(42)}}).Decode(&got); err != nil {
		return fmt.Errorf("find: %w", err)
	}
	if got.ID != "selftest" || got.N != 42 || len(got.Tags) != 2 || got.Tags[0] != "a" || got.Tags[1] != "b" {
		return fmt.Errorf("find: unexpected document %+v", got)
	}
	return nil
}
