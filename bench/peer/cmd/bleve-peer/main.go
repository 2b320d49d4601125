// Command bleve-peer indexes a benchmark corpus with Bleve (package peer)
// and prints the result as one JSON line: the fields of peer.Result plus
// cpu_seconds (user + system CPU time of the indexing) and
// docs_per_cpu_sec.
//
// Usage:
//
//	bleve-peer -corpus godoc|debian|zipf [-n N] [-seed S] [-batch 1000] [-dir DIR] [-gen-only]
//
// -n takes the first N documents (for zipf, the corpus size; 0 = all).
// The index is built in a new directory below -dir (default: the system
// temporary directory) and removed afterwards. -gen-only reads every
// document without indexing and reports the time and mean size instead.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/termflow/termflow/bench/corpus"
	"github.com/termflow/termflow/bench/peer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bleve-peer:", err)
		os.Exit(1)
	}
}

// cpuSeconds is the user plus system CPU time of this process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("bleve-peer", flag.ContinueOnError)
	fl.SetOutput(stderr)
	name := fl.String("corpus", "zipf", "corpus: godoc, debian or zipf")
	n := fl.Int("n", 0, "documents: the first `N` (zipf: the corpus size, default 10000); 0 = all")
	seed := fl.Uint64("seed", 1, "zipf seed")
	batch := fl.Int("batch", peer.DefaultBatchSize, "Bleve batch size")
	dir := fl.String("dir", "", "parent `directory` of the temporary index (default: system temp)")
	genOnly := fl.Bool("gen-only", false, "only read the documents: report generation time and mean size")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fl.Args())
	}
	if *n < 0 {
		return errors.New("-n must be >= 0")
	}
	start := time.Now()
	var c corpus.Corpus
	var err error
	switch *name {
	case "godoc":
		c, err = corpus.Godoc("")
	case "debian":
		c, err = corpus.Debian()
	case "zipf":
		size := *n
		if size == 0 {
			size = 10000
		}
		c = corpus.Zipf(*seed, size)
	default:
		return fmt.Errorf("unknown corpus %q", *name)
	}
	if err != nil {
		return err
	}
	if *n > 0 && *n < c.Len() {
		c = corpus.Take(c, *n)
	} else if *n > c.Len() {
		return fmt.Errorf("-n %d: %s has %d documents", *n, c.Name(), c.Len())
	}
	load := time.Since(start)

	if *genOnly {
		start := time.Now()
		var bytes int64
		for i := range c.Len() {
			bytes += int64(len(c.Doc(i).JSON))
		}
		secs := time.Since(start).Seconds()
		return json.NewEncoder(stdout).Encode(map[string]any{
			"corpus": c.Name(), "docs": c.Len(), "load_seconds": load.Seconds(),
			"read_seconds": secs, "mean_doc_bytes": float64(bytes) / float64(c.Len()),
		})
	}
	tmp, err := os.MkdirTemp(*dir, "bleve-peer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cpu0 := cpuSeconds()
	res, err := peer.Bleve(ctx, filepath.Join(tmp, "index"), c, *batch)
	if err != nil {
		return err
	}
	// CPU time of the indexing (all threads), a figure that a busy shared
	// machine disturbs less than the wall-clock rate.
	cpu := cpuSeconds() - cpu0
	return json.NewEncoder(stdout).Encode(struct {
		peer.Result
		CPUSeconds    float64 `json:"cpu_seconds"`
		DocsPerCPUSec float64 `json:"docs_per_cpu_sec"`
	}{res, cpu, float64(res.Docs) / cpu})
}
