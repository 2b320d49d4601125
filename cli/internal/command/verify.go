package command

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/termflow/termflow/pkg/document"
	"github.com/termflow/termflow/pkg/flagenv"
	"github.com/termflow/termflow/pkg/kclient"
	"github.com/termflow/termflow/pkg/topic"
	"github.com/termflow/termflow/pkg/verify"
)

func verifyCommand() Command {
	return Command{
		Name:    "verify",
		Summary: "recompute the index from the documents topic and compare it with MongoDB (and Pebble)",
		Run:     runVerify,
	}
}

// verifyFlags is verify's command line.
type verifyFlags struct {
	cfg      verify.Config
	brokers  string
	json     bool
	listNone bool // -max-diffs 0: counts only
	logLevel string
	timeout  time.Duration
}

// listFlag is a repeatable flag whose values may also be comma separated.
type listFlag struct{ p *[]string }

func (l listFlag) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l.p = append(*l.p, s)
		}
	}
	return nil
}

func parseVerify(args []string, env Env) (verifyFlags, error) {
	var f verifyFlags
	fs := flagenv.New("termflowctl verify", env.Getenv)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: termflowctl verify [flags]

Recomputes the expected index from the documents topic (every partition,
from its start to the end offsets at start time, decoded like the indexer)
and compares it with MongoDB: documents, term heads, posting chunks and
statistics; with -pebble also with stopped indexers' Pebble stores. Run it on
a quiet pipeline: documents not persisted yet are differences.

Exit status: 0 equal, 1 differences found (printed), 2 error.

flags:
`)
		fs.PrintDefaults()
	}
	fs.String(&f.brokers, "brokers", "KAFKA_BROKERS", verify.DefaultBrokers, "Kafka seed brokers, comma separated")
	kclient.SecurityFlags(fs, &f.cfg.Kafka)
	fs.String(&f.cfg.DocumentsTopic, "documents-topic", "TERMFLOW_TOPIC_DOCUMENTS", topic.Defaults().Documents, "documents topic")
	fs.String(&f.cfg.MongoURI, "mongo-uri", "MONGO_URI", verify.DefaultMongoURI, "MongoDB connection string")
	fs.String(&f.cfg.Database, "db", "TERMFLOW_MONGO_DB", verify.DefaultDatabase, "MongoDB database of the persister")
	fs.Var(listFlag{&f.cfg.Indexes}, "index", "verify only this index (repeatable, or comma separated); default all")
	fs.Var(listFlag{&f.cfg.PebbleDirs}, "pebble", "also compare this indexer Pebble directory, DATA_DIR/<instance>/pebble (repeatable; the indexer must be stopped)")
	fs.Int(&f.cfg.MaxDiffs, "max-diffs", "", verify.DefaultMaxDiffs, "differences listed per kind (all are counted); 0 lists none, negative all")
	fs.Int(&f.cfg.MaxDocumentBytes, "max-document-bytes", "TERMFLOW_MAX_DOCUMENT_BYTES", document.DefaultMaxBytes, "the indexer's record size limit: larger records are dead letters")
	fs.BoolVar(&f.json, "json", false, "print the report as JSON")
	fs.String(&f.logLevel, "log-level", "TERMFLOW_LOG_LEVEL", "warn", "log level (logs go to stderr)")
	fs.Duration(&f.timeout, "timeout", "", 10*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := (listFlag{&f.cfg.Brokers}).Set(f.brokers); err != nil {
		return f, err
	}
	if len(f.cfg.Brokers) == 0 {
		return f, fmt.Errorf("no Kafka brokers configured (KAFKA_BROKERS)")
	}
	kc := f.cfg.Kafka
	kc.Brokers = f.brokers
	if err := kc.Validate(); err != nil {
		return f, err
	}
	if f.cfg.MaxDiffs == 0 {
		// The flag's 0 lists none; Config's 0 would mean the default.
		f.listNone, f.cfg.MaxDiffs = true, 1
	}
	if f.timeout <= 0 {
		return f, fmt.Errorf("timeout %v: want > 0", f.timeout)
	}
	return f, f.cfg.Validate()
}

func runVerify(ctx context.Context, args []string, env Env) error {
	f, err := parseVerify(args, env)
	if err != nil {
		return err
	}
	level, err := zerolog.ParseLevel(f.logLevel)
	if err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	log := zerolog.New(env.Stderr).Level(level).With().Timestamp().Str("service", "termflowctl").Logger()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	rep, err := verify.Run(ctx, f.cfg, log)
	if err != nil {
		return err
	}
	if f.listNone {
		rep.Diffs = nil
	}
	if f.json {
		err = printJSON(env.Stdout, rep)
	} else {
		err = printText(env.Stdout, rep)
	}
	if err != nil {
		return fmt.Errorf("print report: %w", err)
	}
	if !rep.OK() {
		return &ExitStatus{Code: ExitFound}
	}
	return nil
}

func printJSON(w io.Writer, rep *verify.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		OK bool `json:"ok"`
		*verify.Report
	}{rep.OK(), rep})
}

func printText(w io.Writer, rep *verify.Report) error {
	var b strings.Builder
	listed := map[string]int{}
	for _, d := range rep.Diffs {
		b.WriteString(d)
		b.WriteByte('\n')
		kind, _, _ := strings.Cut(d, ":")
		listed[kind]++
	}
	var counts []string
	for _, k := range slices.Sorted(maps.Keys(rep.Kinds)) {
		n := rep.Kinds[k]
		if more := n - listed[k]; more > 0 {
			fmt.Fprintf(&b, "… and %d more %s\n", more, k)
		}
		counts = append(counts, fmt.Sprintf("%s %d", k, n))
	}
	for _, wn := range rep.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", wn)
	}
	fmt.Fprintf(&b, "verify: %d records (%d dead letters), %d documents, %d terms, %d postings, %d chunks: ",
		rep.Records, rep.DeadLetters, rep.Documents, rep.Terms, rep.Postings, rep.Chunks)
	if rep.OK() {
		b.WriteString("OK")
	} else {
		fmt.Fprintf(&b, "%d differences (%s)", rep.DiffCount, strings.Join(counts, ", "))
	}
	fmt.Fprintf(&b, " in %v\n", rep.Elapsed.Round(time.Millisecond))
	_, err := io.WriteString(w, b.String())
	return err
}
