package main

import (
	"encoding/xml"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/termflow/termflow/bench/e2e"
	"github.com/termflow/termflow/bench/peer"
)

func sampleResult() *Result {
	r := &Result{Command: "make bench", Commit: "abc", Started: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC),
		Machine: Machine{CPUs: 2, MemBytes: 24 << 30}}
	r.Finished = r.Started.Add(10 * time.Minute)
	r.Bleve = []peer.Result{{Corpus: "zipf-10k", Docs: 10000, DocsPerSec: 7000}, {Corpus: "zipf-100k", Docs: 100000, DocsPerSec: 6000}}
	persister := e2e.Sample{
		metricApplySum:   10,
		metricTermChunks: 1000,
		metricDocsWritten + "{collection=chunks}":  900,
		metricDocsWritten + "{collection=terms}":   200,
		metricDocsWritten + "{collection=journal}": 50,
	}
	r.Termflow = []TermflowRun{
		{Corpus: "zipf-10k", Docs: 10000, Completed: true, Load: e2e.Throughput{IndexedDPS: 12000, CompletedDS: 5000}},
		{Corpus: "zipf-100k", Docs: 100000, Completed: true, Load: e2e.Throughput{IndexedDPS: 10000, CompletedDS: 4000, IndexedS: 10, CompletedS: 25},
			Metrics: map[string]e2e.Sample{"persister": persister},
			CPU:     map[string]CPUUse{"indexer": {8, 8.5}, "persister": {5, 20}, "ferretdb": {4, 16}, "ingest": {1, 1}}},
		{Corpus: "zipf-1M", Docs: 1000000, Load: e2e.Throughput{IndexedDPS: 9000}, PeakRSS: map[string]int64{"indexer": 700 << 20}},
	}
	r.Stages = []StageSet{{Corpus: "zipf-100k", Docs: 100000}}
	r.Stages[0].Analysis.DocsPerSec = 40000
	r.Stages[0].Mongo.Best.Combined.Seconds = 8 // 12,500 docs/s raw
	r.Op5000 = []OpTiming{{0.2, 3.1}, {0.2, 6.0}, {0.3, 2.9}}
	return r
}

func target(t *testing.T, r *Result, prefix string) Target {
	t.Helper()
	for _, x := range r.Targets {
		if strings.HasPrefix(x.Name, prefix) {
			return x
		}
	}
	t.Fatalf("no target %q in %+v", prefix, r.Targets)
	return Target{}
}

// TestPersisterRateIsMedianOfRuns: a repeated load's persister rate is the
// median of its runs' apply rates (the slower middle for an even count),
// not the rate of the run that was median to indexed; a load run once
// gives its own.
func TestPersisterRateIsMedianOfRuns(t *testing.T) {
	run := func(indexed, applySeconds float64) TermflowRun {
		return TermflowRun{Corpus: "zipf-10k", Docs: 10000, Completed: true, Load: e2e.Throughput{IndexedDPS: indexed},
			Metrics: map[string]e2e.Sample{"persister": {metricApplySum: applySeconds}}}
	}
	// Apply rates 8,000, 4,000 and 5,000 docs/s; the median to indexed is
	// the first run (15,000, applying at 8,000), the median apply rate 5,000.
	row, _ := medianRuns([]TermflowRun{run(15000, 1.25), run(11000, 2.5), run(16000, 2)}, nil)
	if got := row.persisterDPS(); got != 5000 {
		t.Fatalf("median of three: %.0f, want 5000", got)
	}
	row, _ = medianRuns([]TermflowRun{run(11000, 2.5), run(16000, 1.25), run(15000, 1), run(12000, 2)}, nil)
	if got := row.persisterDPS(); got != 5000 {
		t.Fatalf("median of four: %.0f, want the slower middle, 5000", got)
	}
	if got := run(9000, 4).persisterDPS(); got != 2500 {
		t.Fatalf("one run: %.0f, want 2500", got)
	}
	r := sampleResult()
	r.Termflow[1].Runs = []Repetition{{IndexedDPS: 10000, PersisterDPS: 12000}, {IndexedDPS: 9000, PersisterDPS: 7000}, {IndexedDPS: 11000, PersisterDPS: 11000}}
	r.evaluate()
	if x := target(t, r, "persister vs raw"); !x.Met || x.Measured != "88 % (median of 3 runs: 11,000 docs/s of apply time vs 12,500 docs/s raw)" {
		t.Fatalf("persister target: %+v", x)
	}
}

func TestEvaluate(t *testing.T) {
	r := sampleResult()
	r.evaluate()
	// 12000/7000 = 1.71, 10000/6000 = 1.67: the lowest is 1.67, so met.
	if x := target(t, r, "indexed throughput vs Bleve"); !x.Met || !strings.Contains(x.Measured, "1.67× (zipf-100k)") {
		t.Fatalf("bleve target: %+v", x)
	}
	// 100000 docs / 10 s of apply = 10,000 docs/s vs 12,500 raw = 80 %.
	if x := target(t, r, "persister vs raw"); !x.Met || !strings.HasPrefix(x.Measured, "80 %") {
		t.Fatalf("persister target: %+v", x)
	}
	// (900 + 200) / 1000 = 1.10; with the journal 1.15.
	if x := target(t, r, "MongoDB writes per"); !x.Met || !strings.HasPrefix(x.Measured, "1.10 ") || !strings.Contains(x.Measured, "1.15 counting") {
		t.Fatalf("write amplification: %+v", x)
	}
	if x := target(t, r, "5000-document"); !x.Met || !strings.HasPrefix(x.Measured, "median 3.10 s of 3 (2.90–6.00 s)") {
		t.Fatalf("op5000: %+v", x)
	}
	// indexed 10000/12000 = 83 %: missed.
	if x := target(t, r, "throughput at 100k"); x.Met || x.Measured != "indexed 83 %, completed 80 %" {
		t.Fatalf("scaling: %+v", x)
	}
	if x := target(t, r, "indexer peak RSS"); !x.Met || x.Measured != "700 MiB" {
		t.Fatalf("rss: %+v", x)
	}
	md := r.markdown("../bench/results/x.json", "../bench/results/x.svg", "p")
	for _, want := range []string{"| indexed throughput vs Bleve |", "| throughput at 100k ÷ at 10k | ≥ 90 % | indexed 83 %, completed 80 % | **no** |",
		"![throughput by corpus size](../bench/results/x.svg)", "| zipf-1M | 1,000,000 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if err := xml.Unmarshal(r.plot(), new(struct{})); err != nil {
		t.Fatal(err)
	}
}

func TestShort(t *testing.T) {
	for n, want := range map[int]string{1000: "1k", 1000000: "1M", 1500: "1500", 5000: "5k"} {
		if got := short(n); got != want {
			t.Errorf("short(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCPUTable(t *testing.T) {
	r := sampleResult()
	md := r.cpuMarkdown()
	// Only the load with CPU times has a row; the broker was not measured.
	want := "| zipf-100k | 10.0 | 8.0 | 5.0 | 4.0 | — | 1.0 | 1.80 | 15.0 s: persister 15.0, MongoDB server 12.0 |"
	if !strings.Contains(md, want) || strings.Contains(md, "zipf-10k |") {
		t.Fatalf("CPU table:\n%s\nwant the row\n%s", md, want)
	}
	if !strings.Contains(r.markdown("r.json", "r.svg", ""), md) {
		t.Error("the results do not show the CPU table")
	}
}

func TestMedianRuns(t *testing.T) {
	run := func(indexed, completed float64) TermflowRun {
		return TermflowRun{Corpus: "zipf-5k", Docs: 5000, Load: e2e.Throughput{IndexedDPS: indexed, CompletedDS: completed}}
	}
	bl := func(dps float64) peer.Result { return peer.Result{Corpus: "zipf-5k", Docs: 5000, DocsPerSec: dps} }

	// Three runs: the median by rate to indexed, Bleve's median chosen on
	// its own; every repetition kept, in order.
	row, b := medianRuns([]TermflowRun{run(16000, 4000), run(11000, 4500), run(15000, 3000)}, []peer.Result{bl(8000), bl(7000), bl(7500)})
	if row.Load.IndexedDPS != 15000 || row.Load.CompletedDS != 3000 || b == nil || b.DocsPerSec != 7500 {
		t.Fatalf("median of three: termflow %+v, bleve %+v", row.Load, b)
	}
	want := []Repetition{{BleveDPS: 8000, IndexedDPS: 16000, CompletedDPS: 4000}, {BleveDPS: 7000, IndexedDPS: 11000, CompletedDPS: 4500},
		{BleveDPS: 7500, IndexedDPS: 15000, CompletedDPS: 3000}}
	if !slices.Equal(row.Runs, want) {
		t.Fatalf("runs %+v, want %+v", row.Runs, want)
	}
	if got := row.spread(); got != "3 (11,000–16,000)" {
		t.Errorf("spread %q", got)
	}

	// An even count takes Termflow's slower middle and Bleve's faster one.
	row, b = medianRuns([]TermflowRun{run(12000, 0), run(16000, 0), run(10000, 0), run(14000, 0)}, []peer.Result{bl(7000), bl(6000), bl(8000), bl(9000)})
	if row.Load.IndexedDPS != 12000 || b.DocsPerSec != 8000 {
		t.Fatalf("median of four: termflow %.0f, bleve %.0f; want 12000 and 8000", row.Load.IndexedDPS, b.DocsPerSec)
	}

	// One run is itself, without a runs list; without Bleve, no peer row.
	row, b = medianRuns([]TermflowRun{run(9000, 0)}, nil)
	if row.Load.IndexedDPS != 9000 || row.Runs != nil || b != nil || row.spread() != "1" {
		t.Fatalf("one run: %+v, bleve %+v", row, b)
	}
	row, b = medianRuns([]TermflowRun{run(9000, 0), run(8000, 0), run(7000, 0)}, nil)
	if row.Load.IndexedDPS != 8000 || b != nil || row.Runs[0].BleveDPS != 0 {
		t.Fatalf("three runs without Bleve: %+v, bleve %+v", row, b)
	}

	// The results say which rows are medians.
	r := sampleResult()
	r.Repeats, r.RepeatMax = 3, 10000
	r.Termflow[0].Runs = want
	r.evaluate()
	md := r.markdown("r.json", "r.svg", "")
	for _, s := range []string{"ran 3 times", "| zipf-10k | 10,000 | 7,000 | 12,000 | 1.71× | 3 (11,000–16,000) |", "| zipf-100k | 100,000 | 6,000 | 10,000 | 1.67× | 1 |"} {
		if !strings.Contains(md, s) {
			t.Errorf("markdown lacks %q:\n%s", s, md)
		}
	}
}
