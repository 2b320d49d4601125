// Command termflow-bench is `make bench`: in one run, on one machine, it
// measures the limit of each stage of Termflow on the same input (analysis
// on one core, Kafka produce and consume, Pebble writes, MongoDB bulk
// writes), the in-process peer (Bleve, batches of 1000), and Termflow end to
// end through its three real services, the real Kafka broker and the MongoDB
// server (FerretDB here): throughput to indexed and to completed by corpus
// size, request latency at half the maximum rate, the time of a
// 5000-document operation, peak RSS per service and MongoDB writes per
// persisted (term, chunk). It writes the results as JSON under
// bench/results/, a plot of throughput against corpus size, and appends a
// Markdown section to docs/benchmarks.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	mongoopts "go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termflow/termflow/bench/corpus"
	"github.com/termflow/termflow/bench/e2e"
	"github.com/termflow/termflow/bench/peer"
	"github.com/termflow/termflow/bench/stages"
)

type options struct {
	repo        string
	brokers     string
	mongoURI    string
	sizes       []int
	real        []string
	seed        uint64
	completeMax int
	bleveMax    int
	stageDocs   int
	latencySecs int
	ops5000     int
	partitions  int
	profileSecs int
	profileDocs int
	// profileCorpus: a real corpus to profile too (-profile-corpus)
	profileCorpus string
	command       string
	noDoc         bool
	noStages      bool
	noBleve       bool
	// repeats: times each load of up to repeatMax documents runs
	repeats   int
	repeatMax int
}

func main() {
	var o options
	var sizes, real string
	flag.StringVar(&o.repo, "repo", "..", "the repository root (bin/, docs/, bench/results/)")
	flag.StringVar(&o.brokers, "brokers", os.Getenv("KAFKA_BROKERS"), "Kafka bootstrap brokers (the real broker of scripts/kafka.sh)")
	flag.StringVar(&o.mongoURI, "mongo-uri", os.Getenv("MONGO_URI"), "MongoDB URI (FerretDB of scripts/ferretdb.sh)")
	flag.StringVar(&sizes, "sizes", "1000,5000,10000,100000,1000000", "synthetic (Zipf) corpus sizes, comma-separated")
	flag.StringVar(&real, "real", "godoc,debian", "real corpora: godoc (Go standard library docs), debian (package descriptions)")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the synthetic corpus")
	flag.IntVar(&o.completeMax, "complete-max", 100000, "wait for completion (durable in MongoDB) of loads up to this many documents; larger loads are measured to indexed")
	flag.IntVar(&o.bleveMax, "bleve-max", 100000, "largest synthetic corpus Bleve indexes")
	flag.IntVar(&o.stageDocs, "stage-docs", 10000, "synthetic documents for the stage limits (and the persister comparison; one of -sizes)")
	flag.IntVar(&o.latencySecs, "latency-seconds", 30, "duration of the latency run at half the maximum rate")
	flag.IntVar(&o.ops5000, "op5000-runs", 3, "5000-document operations timed to completed")
	flag.IntVar(&o.partitions, "partitions", 4, "partitions of the documents topic")
	flag.IntVar(&o.profileSecs, "profile-seconds", 10, "CPU profile length of each service during the -profile-docs load (0: none)")
	flag.IntVar(&o.profileDocs, "profile-docs", 100000, "the synthetic load (one of -sizes) during which the services are profiled")
	flag.StringVar(&o.profileCorpus, "profile-corpus", "", "a real corpus (one of -real) whose load is profiled too; its profiles go to the same directory, so profile one load per run")
	flag.StringVar(&o.command, "command", "make bench", "the command line to record in the results")
	flag.BoolVar(&o.noDoc, "no-doc", false, "do not append to docs/benchmarks.md")
	flag.BoolVar(&o.noStages, "no-stages", false, "skip the stage limits (a partial run, for trying out changes)")
	flag.IntVar(&o.repeats, "repeats", 3, "times each load of up to -repeat-max documents runs (a Bleve pass, then a fresh pipeline); its row is the median")
	flag.IntVar(&o.repeatMax, "repeat-max", 10000, "largest load that is repeated (a larger one runs for seconds, and once)")
	flag.BoolVar(&o.noBleve, "no-bleve", false, "skip the Bleve peer (a partial run, for trying out changes)")
	flag.Parse()
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fatalf("-sizes: %q is not a positive number", s)
		}
		o.sizes = append(o.sizes, n)
	}
	for _, r := range strings.Split(real, ",") {
		if r = strings.TrimSpace(r); r != "" {
			o.real = append(o.real, r)
		}
	}
	if o.brokers == "" || o.mongoURI == "" {
		fatalf("KAFKA_BROKERS and MONGO_URI (or -brokers, -mongo-uri) must name the broker and MongoDB server; `make bench` starts them with scripts/infra-up.sh")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "termflow-bench: "+format+"\n", a...)
	os.Exit(1)
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

// bar is a progress bar on standard error for long steps.
func bar(n int, what string, opts ...progressbar.Option) *progressbar.ProgressBar {
	return progressbar.NewOptions(n, append([]progressbar.Option{progressbar.OptionSetDescription(what), progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(200 * time.Millisecond), progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30)}, opts...)...)
}

// named is a corpus under the name the report uses.
type named struct {
	corpus.Corpus
	label string
	zipf  bool
}

func run(ctx context.Context, o options) error {
	start := time.Now().UTC()
	stamp := start.Format("20060102T150405Z")
	repo, err := filepath.Abs(o.repo)
	if err != nil {
		return err
	}
	resDir := filepath.Join(repo, "bench", "results")
	work, err := os.MkdirTemp("", "termflow-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	profDir := filepath.Join(resDir, "bench-"+stamp+"-profiles")

	r := &Result{Command: o.command, Started: start, Machine: machine(o), Seed: o.seed, Repeats: o.repeats, RepeatMax: o.repeatMax}
	r.Commit = gitCommit(repo)
	jsonPath := filepath.Join(resDir, "bench-"+stamp+".json")
	// save writes what the run measured so far (Partial until the end).
	save := func() error {
		if err := os.MkdirAll(resDir, 0o755); err != nil {
			return err
		}
		b, _ := json.MarshalIndent(r, "", "  ")
		return os.WriteFile(jsonPath, b, 0o644)
	}
	r.Partial = true

	// Corpora.
	var reals []named
	for _, name := range o.real {
		logf("loading the %s corpus", name)
		var c corpus.Corpus
		switch name {
		case "godoc":
			c, err = corpus.Godoc("")
		case "debian":
			c, err = corpus.Debian()
		default:
			err = fmt.Errorf("unknown real corpus %q (godoc, debian)", name)
		}
		if err != nil {
			return fmt.Errorf("corpus %s: %w", name, err)
		}
		reals = append(reals, named{c, name, false})
	}
	maxSize := 0
	for _, n := range append(append([]int(nil), o.sizes...), o.stageDocs) {
		maxSize = max(maxSize, n)
	}
	zipfAll := corpus.Zipf(o.seed, maxSize)
	zipfOf := func(n int) named {
		return named{corpus.Take(zipfAll, n), fmt.Sprintf("zipf-%s", short(n)), true}
	}
	for _, c := range append(reals, zipfOf(o.stageDocs)) {
		r.Corpora = append(r.Corpora, describe(c))
	}

	// 1. Stage limits on the same input as the end-to-end runs.
	brokers := strings.Split(o.brokers, ",")
	for _, c := range append(reals, zipfOf(o.stageDocs)) {
		if o.noStages {
			break
		}
		sr := StageSet{Corpus: c.label, Docs: c.Len()}
		logf("stage limits on %s (%d documents): analysis", c.label, c.Len())
		if sr.Analysis, err = stages.Analysis(c, c.Len()); err != nil {
			return fmt.Errorf("analysis limit: %w", err)
		}
		logf("stage limits on %s: Kafka produce + consume", c.label)
		topic := fmt.Sprintf("bench-%s-%s-limit", stamp, c.label)
		if sr.Kafka, err = stages.Kafka(ctx, brokers, topic, o.partitions, c, c.Len()); err != nil {
			return fmt.Errorf("kafka limit: %w", err)
		}
		logf("stage limits on %s: Pebble writes", c.label)
		pdir := filepath.Join(work, "pebble-limit")
		if sr.Pebble, err = stages.Pebble(ctx, pdir, c, c.Len(), 1000); err != nil {
			return fmt.Errorf("pebble limit: %w", err)
		}
		os.RemoveAll(pdir)
		logf("stage limits on %s: MongoDB bulk writes", c.label)
		if sr.Mongo, err = stages.MongoBatches(ctx, o.mongoURI, fmt.Sprintf("benchlimit%s%d", stamp[9:15], len(r.Stages)), c, c.Len(), mongoShapes); err != nil {
			return fmt.Errorf("mongodb limit: %w", err)
		}
		r.Stages = append(r.Stages, sr)
		if err := save(); err != nil {
			return err
		}
	}

	// 2 and 3. Each corpus: the peer, Bleve in-process with batches of
	// 1000, then Termflow end to end on it, right after. Running every
	// Bleve pass first had put minutes between a corpus's two numbers,
	// and the machine's drift in between went into their ratio. Each
	// measurement starts once the broker and MongoDB are idle. A load of
	// up to -repeat-max documents (under a second) runs -repeats times,
	// Bleve and Termflow in turn, and its row is the median: on a shared
	// machine one such sample had landed in either of two modes ~40 %
	// apart.
	cfg := e2e.Config{BinDir: filepath.Join(repo, "bin"), Brokers: o.brokers, MongoURI: o.mongoURI,
		WorkDir: work, Partitions: o.partitions, Shared: e2e.SharedPIDs(filepath.Join(repo, ".infra"))}
	loads := append([]named(nil), reals...)
	for _, n := range o.sizes {
		loads = append(loads, zipfOf(n))
	}
	for i, c := range loads {
		n := 1
		if c.Len() <= o.repeatMax {
			n = max(o.repeats, 1)
		}
		var (
			bls []peer.Result
			tfs []TermflowRun
		)
		for rep := range n {
			if !o.noBleve && (!c.zipf || c.Len() <= o.bleveMax) {
				settle(ctx, cfg.Shared)
				logf("Bleve indexing %s (%d documents)%s", c.label, c.Len(), repLabel(rep, n))
				dir := filepath.Join(work, "bleve-"+c.label)
				b := bar(c.Len(), "bleve "+c.label)
				pr, err := peer.BleveProgress(ctx, dir, c, 1000, func(done int) { _ = b.Set(done) })
				_ = b.Finish()
				os.RemoveAll(dir)
				if err != nil {
					return fmt.Errorf("bleve %s: %w", c.label, err)
				}
				pr.Corpus = c.label
				bls = append(bls, pr)
				logf("  bleve %s: %.0f docs/s", c.label, pr.DocsPerSec)
				// Bleve's heap goes back to the system before the
				// services start.
				debug.FreeOSMemory()
			}
			settle(ctx, cfg.Shared)
			id := fmt.Sprintf("bench%s%02d%c", stamp[9:15], i, 'a'+rep)
			profile := ""
			if rep == 0 && o.profileSecs > 0 && (c.zipf && c.Len() == o.profileDocs || c.label == o.profileCorpus) {
				profile = profDir
			}
			run, err := termflowRun(ctx, cfg, id, c, c.Len() <= o.completeMax, profile, o.profileSecs)
			if err != nil {
				return fmt.Errorf("termflow %s: %w", c.label, err)
			}
			tfs = append(tfs, run)
		}
		row, bl := medianRuns(tfs, bls)
		if bl != nil {
			r.Bleve = append(r.Bleve, *bl)
		}
		r.Termflow = append(r.Termflow, row)
		if n > 1 {
			logf("  %s, median of %d: Bleve %.0f docs/s, Termflow indexed %.0f docs/s (runs %s)", c.label, n, bleveDPS(bl), row.Load.IndexedDPS, row.spread())
		}
		if err := save(); err != nil {
			return err
		}
	}

	// 4. Latency at half the maximum rate, then 5000-document operations,
	// on a fresh pipeline.
	// The maximum rate is the highest sustained end-to-end rate (to
	// completed): at half of it the pipeline keeps up, so the latencies
	// are those of a pipeline in its stride, not of a growing backlog.
	maxRate := 0.0
	for _, t := range r.Termflow {
		maxRate = max(maxRate, t.Load.CompletedDS)
	}
	if err := latencyRuns(ctx, cfg, fmt.Sprintf("bench%slat", stamp[9:15]), zipfAll, maxRate, o, r); err != nil {
		return err
	}

	r.Finished = time.Now().UTC()
	r.Partial = false
	r.evaluate()
	if err := save(); err != nil {
		return err
	}
	plotPath := filepath.Join(resDir, "bench-"+stamp+"-throughput.svg")
	if err := os.WriteFile(plotPath, r.plot(), 0o644); err != nil {
		return err
	}
	rel := func(p string) string { q, _ := filepath.Rel(filepath.Join(repo, "docs"), p); return q }
	md := r.markdown(rel(jsonPath), rel(plotPath), rel(profDir))
	if !o.noDoc {
		if err := appendDoc(filepath.Join(repo, "docs", "benchmarks.md"), md); err != nil {
			return err
		}
	}
	fmt.Println(md)
	logf("results: %s, plot: %s", jsonPath, plotPath)
	return nil
}

// repLabel names a repetition in the log: " (run 2 of 3)".
func repLabel(rep, n int) string {
	if n < 2 {
		return ""
	}
	return fmt.Sprintf(" (run %d of %d)", rep+1, n)
}

func bleveDPS(b *peer.Result) float64 {
	if b == nil {
		return 0
	}
	return b.DocsPerSec
}

// mongoShapes are the insertMany batch sizes and calls in flight of the
// MongoDB limit; the best counts (the persister writes commands of up to
// 10,000 documents, two in flight).
var mongoShapes = []stages.MongoShape{{BatchSize: 1000, InFlight: 1}, {BatchSize: 10000, InFlight: 1}, {BatchSize: 10000, InFlight: 2}}

// settle waits, up to 20 s, until the broker and MongoDB server are idle
// (under a tenth of a core) before a measurement.
func settle(ctx context.Context, shared map[string]int) {
	waited, ok := e2e.Settle(ctx, shared, 0.1, 20*time.Second)
	switch {
	case !ok:
		logf("the broker and MongoDB server were still busy after %.0f s; measuring anyway", waited.Seconds())
	case waited > 2*time.Second:
		logf("waited %.1f s for the broker and MongoDB server to go idle", waited.Seconds())
	}
}

func short(n int) string {
	switch {
	case n >= 1000000 && n%1000000 == 0:
		return fmt.Sprintf("%dM", n/1000000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}

func describe(c named) CorpusInfo {
	ci := CorpusInfo{Name: c.label, Source: c.Name(), Docs: c.Len()}
	for i := 0; i < c.Len(); i++ {
		ci.Bytes += int64(len(c.Doc(i).JSON))
	}
	if ci.Docs > 0 {
		ci.AvgBytes = float64(ci.Bytes) / float64(ci.Docs)
	}
	return ci
}

func gitCommit(repo string) string {
	out, err := exec.Command("git", "-C", repo, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, _ := exec.Command("git", "-C", repo, "status", "--porcelain", "--untracked-files=no").Output(); len(st) > 0 {
		c += "+dirty"
	}
	return c
}

func machine(o options) Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(string(b), "MemTotal: %d kB", &kb)
		m.MemBytes = kb << 10
	}
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	m.Kafka = os.Getenv("KAFKA_VERSION")
	m.MongoDB = mongoServer(o.mongoURI, o.repo)
	return m
}

// mongoServer asks the server what it is: FerretDB answers buildInfo with
// its own version and backend beside the MongoDB version it speaks.
func mongoServer(uri, repo string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := mongo.Connect(mongoopts.Client().ApplyURI(uri))
	if err != nil {
		return ""
	}
	defer cl.Disconnect(ctx)
	var info bson.M
	if err := cl.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return ""
	}
	s := fmt.Sprintf("MongoDB %v", info["version"])
	if fv, ok := info["ferretdbVersion"]; ok {
		if fv == "unknown" {
			// An embedded FerretDB has no version file: the launcher's
			// go.mod names the module version.
			fv = launcherFerretDB(repo)
		}
		s = fmt.Sprintf("FerretDB %v (speaks %s)", fv, s)
	}
	return s
}

// launcherFerretDB is the FerretDB module version tools/ferretdb builds.
func launcherFerretDB(repo string) string {
	b, err := os.ReadFile(filepath.Join(repo, "tools", "ferretdb", "go.mod"))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "github.com/FerretDB/FerretDB" {
			return f[1] + " (embedded, tools/ferretdb)"
		}
	}
	return "unknown"
}
