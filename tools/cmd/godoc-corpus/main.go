// Command godoc-corpus writes the documentation of the Go standard library
// as NDJSON, one document per package and per exported func, type, method
// and const/var group (see package godoccorpus).
//
// Usage:
//
//	godoc-corpus [-o FILE] [-limit N] [-packages prefix,prefix] [-goroot DIR]
//
// A count summary is printed to stderr.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/termflow/termflow/tools/godoccorpus"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "godoc-corpus:", err)
		os.Exit(1)
	}
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func run(args []string, stdout, stderr io.Writer) (err error) {
	fl := flag.NewFlagSet("godoc-corpus", flag.ContinueOnError)
	fl.SetOutput(stderr)
	out := fl.String("o", "", "write NDJSON to `FILE` instead of stdout")
	limit := fl.Int("limit", 0, "stop after `N` documents (0 = no limit)")
	pkgs := fl.String("packages", "", "comma-separated import path `prefixes` to include (e.g. net,strings); a -prefix excludes (e.g. -simd); empty = all")
	goroot := fl.String("goroot", "", "Go installation to read (default: `go env GOROOT`)")
	workers := fl.Int("workers", 0, "packages parsed concurrently (0 = GOMAXPROCS)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fl.Args())
	}
	if *limit < 0 {
		return errors.New("-limit must be >= 0")
	}
	root := *goroot
	if root == "" {
		root = godoccorpus.DefaultGOROOT()
	}
	if root == "" {
		return errors.New("cannot determine GOROOT; pass -goroot")
	}

	var dst io.Writer = stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}()
		dst = f
	}
	cw := &countingWriter{w: dst}
	bw := bufio.NewWriterSize(cw, 1<<16)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)

	start := time.Now()
	var total int
	kinds := map[string]int{}
	packages := map[string]bool{}
	opts := godoccorpus.Options{
		Include: godoccorpus.PrefixFilter(strings.Split(*pkgs, ",")),
		Workers: *workers,
	}
	err = godoccorpus.ExtractWith(root, opts, func(d godoccorpus.Doc) error {
		if *limit > 0 && total >= *limit {
			return godoccorpus.ErrStop
		}
		if err := enc.Encode(d); err != nil {
			return err
		}
		total++
		kinds[d.Kind]++
		packages[d.Package] = true
		return nil
	})
	if err != nil && !errors.Is(err, godoccorpus.ErrStop) {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}

	var parts []string
	for k, n := range kinds {
		parts = append(parts, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(parts)
	fmt.Fprintf(stderr, "godoc-corpus: %d documents from %d packages (%s), %d bytes, %s (GOROOT %s)\n",
		total, len(packages), strings.Join(parts, " "), cw.n, time.Since(start).Round(time.Millisecond), root)
	return nil
}
