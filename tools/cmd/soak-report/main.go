// Command soak-report summarizes fault-test results (the JSON lines the
// fault tests append to TERMFLOW_FAULT_RESULTS) as a Markdown table per
// scenario, and writes it into a document between the markers
// <!-- soak:begin --> and <!-- soak:end -->.
//
//	soak-report -results bench/results/soak.jsonl -doc docs/reliability.md -command "make soak"
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"
)

type result struct {
	Scenario  string         `json:"scenario"`
	Seed      uint64         `json:"seed"`
	Fault     string         `json:"fault"`
	Documents int            `json:"documents"`
	Lost      int            `json:"lost"`
	Doubled   int            `json:"doubled"`
	Diffs     int            `json:"diffs"`
	Recovery  float64        `json:"recoverySeconds"`
	Drain     float64        `json:"drainSeconds"`
	Extra     map[string]any `json:"extra"`
	Failed    bool           `json:"failed"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "soak-report:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("soak-report", flag.ContinueOnError)
	results := fs.String("results", "", "JSON lines written by the fault tests")
	doc := fs.String("doc", "", "document to update between <!-- soak:begin --> and <!-- soak:end --> (empty: print)")
	command := fs.String("command", "make soak", "command that produced the results")
	machine := fs.String("machine", machineInfo(), "machine description")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *results == "" {
		return errors.New("-results is required")
	}
	rs, err := read(*results)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		return fmt.Errorf("%s holds no results", *results)
	}
	table := render(rs, *command, *machine, time.Now())
	if *doc == "" {
		_, err := io.WriteString(stdout, table)
		return err
	}
	return replaceSection(*doc, table)
}

func read(path string) ([]result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

func render(rs []result, command, machine string, now time.Time) string {
	by := map[string][]result{}
	for _, r := range rs {
		by[r.Scenario] = append(by[r.Scenario], r)
	}
	names := make([]string, 0, len(by))
	for n := range by {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "Command: `%s` · %s · %s\n\n", command, now.UTC().Format("2006-01-02"), machine)
	b.WriteString("| scenario | runs | documents | lost | doubled | verify diffs | recovery p50 / max (s) | drain p50 / max (s) | also measured (max over runs) |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	total, lost, doubled := 0, 0, 0
	for _, n := range names {
		g := by[n]
		docs, l, d, diffs := 0, 0, 0, 0
		var rec, drain []float64
		for _, r := range g {
			docs += r.Documents
			l += r.Lost
			d += r.Doubled
			diffs += r.Diffs
			rec = append(rec, r.Recovery)
			drain = append(drain, r.Drain)
		}
		total += len(g)
		lost += l
		doubled += d
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %.1f / %.1f | %.0f / %.0f | %s |\n",
			n, len(g), docs, l, d, diffs, pct(rec, 50), slices.Max(rec), pct(drain, 50), slices.Max(drain), extras(g))
	}
	fmt.Fprintf(&b, "\n%d runs in total; %d documents lost, %d doubled.\n", total, lost, doubled)
	return b.String()
}

// extras lists the numeric extra measurements of a scenario's runs, each
// with its maximum.
func extras(g []result) string {
	most := map[string]float64{}
	for _, r := range g {
		for k, v := range r.Extra {
			if f, ok := v.(float64); ok {
				if m, seen := most[k]; !seen || f > m {
					most[k] = f
				}
			}
		}
	}
	keys := make([]string, 0, len(most))
	for k := range most {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %g", k, most[k])
	}
	return strings.Join(parts, ", ")
}

func pct(v []float64, p int) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

func replaceSection(path, table string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	const begin, end = "<!-- soak:begin -->", "<!-- soak:end -->"
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s … %s section", path, begin, end)
	}
	s = s[:i+len(begin)] + "\n" + table + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}

func machineInfo() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s/%s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH)
}
