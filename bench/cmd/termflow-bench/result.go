package main

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/termflow/termflow/bench/e2e"
	"github.com/termflow/termflow/bench/peer"
	"github.com/termflow/termflow/bench/report"
	"github.com/termflow/termflow/bench/stages"
)

// Result is one `make bench` run; it is written as JSON to bench/results/.
type Result struct {
	Command  string    `json:"command"`
	Commit   string    `json:"commit"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Partial marks the file of a run still going (or stopped): the
	// harness writes it after every phase, so a stopped run leaves what it
	// measured.
	Partial bool    `json:"partial,omitempty"`
	Machine Machine `json:"machine"`
	Seed    uint64  `json:"seed"`
	// Repeats is how many times each load of up to RepeatMax documents
	// ran (with its Bleve pass); its row is the median.
	Repeats   int          `json:"repeats,omitempty"`
	RepeatMax int          `json:"repeat_max,omitempty"`
	Corpora   []CorpusInfo `json:"corpora"`
	// Stages are the limits of each stage on the same input.
	Stages []StageSet `json:"stages"`
	// Bleve is the in-process peer.
	Bleve []peer.Result `json:"bleve"`
	// Termflow are the end-to-end loads, one fresh pipeline each; a load
	// that was repeated is its median repetition (see TermflowRun.Runs).
	Termflow []TermflowRun `json:"termflow"`
	Latency  *e2e.Latency  `json:"latency"`
	Op5000   []OpTiming    `json:"op5000"`
	Ratios   []Ratio       `json:"ratios"`
	Targets  []Target      `json:"targets"`
}

// Machine is where the run happened.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPU      string `json:"cpu"`
	MemBytes int64  `json:"mem_bytes"`
	OS       string `json:"os"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	Kafka    string `json:"kafka"`
	MongoDB  string `json:"mongodb"`
}

// CorpusInfo describes a corpus.
type CorpusInfo struct {
	Name     string  `json:"name"`
	Source   string  `json:"source"`
	Docs     int     `json:"docs"`
	Bytes    int64   `json:"bytes"`
	AvgBytes float64 `json:"avg_bytes"`
}

// StageSet is the limit of each stage on one corpus.
type StageSet struct {
	Corpus   string                `json:"corpus"`
	Docs     int                   `json:"docs"`
	Analysis stages.AnalysisResult `json:"analysis"`
	Kafka    stages.KafkaResult    `json:"kafka"`
	Pebble   stages.PebbleResult   `json:"pebble"`
	Mongo    stages.MongoResult    `json:"mongo"`
}

// TermflowRun is one end-to-end load.
type TermflowRun struct {
	Corpus    string         `json:"corpus"`
	Docs      int            `json:"docs"`
	Completed bool           `json:"awaited_completed"`
	Load      e2e.Throughput `json:"load"`
	// PeakRSS is each service's resident-memory high-water mark, bytes.
	PeakRSS map[string]int64 `json:"peak_rss"`
	// Metrics are the changes of each service's termflow_* series over
	// the load.
	Metrics map[string]e2e.Sample `json:"metrics"`
	// CPU is the CPU time each process (the services, and the broker and
	// MongoDB server when the bench started them) used during the load.
	CPU        map[string]CPUUse `json:"cpu_seconds,omitempty"`
	Profiles   map[string]string `json:"profiles,omitempty"`
	ProfileTop []ProfileTop      `json:"profile_top,omitempty"`
	// Runs are every repetition of a repeated load, in the order they ran
	// (each a Bleve pass, then a fresh pipeline); the rest of the row is
	// the median one.
	Runs []Repetition `json:"runs,omitempty"`
}

// Repetition is one pass of a repeated load: Bleve's rate (0 without the
// peer) and Termflow's, to indexed and to completed (0 if not awaited).
type Repetition struct {
	BleveDPS     float64 `json:"bleve_docs_per_sec"`
	IndexedDPS   float64 `json:"indexed_docs_per_sec"`
	CompletedDPS float64 `json:"completed_docs_per_sec"`
	// PersisterDPS is the run's documents per second of the persister's
	// apply time (0 when completion was not awaited).
	PersisterDPS float64 `json:"persister_apply_docs_per_sec,omitempty"`
}

// medianRuns folds the repetitions of one load into its row: the Termflow
// run of median rate to indexed and the Bleve pass of median rate, chosen
// separately, with every repetition kept in Runs. A load of under a second
// is one sample of a machine whose speed moves from minute to minute; the
// median of a few, each Bleve pass beside its Termflow run, is the stable
// number. For an even count the slower middle Termflow run and the faster
// middle Bleve pass are taken, so the count never flatters Termflow.
func medianRuns(tfs []TermflowRun, bls []peer.Result) (TermflowRun, *peer.Result) {
	ti := slices.Clone(tfs)
	slices.SortStableFunc(ti, func(a, b TermflowRun) int { return cmp.Compare(a.Load.IndexedDPS, b.Load.IndexedDPS) })
	row := ti[(len(ti)-1)/2]
	if len(tfs) > 1 {
		row.Runs = make([]Repetition, len(tfs))
		for i, t := range tfs {
			row.Runs[i] = Repetition{IndexedDPS: t.Load.IndexedDPS, CompletedDPS: t.Load.CompletedDS, PersisterDPS: t.applyDPS()}
			if i < len(bls) {
				row.Runs[i].BleveDPS = bls[i].DocsPerSec
			}
		}
	}
	if len(bls) == 0 {
		return row, nil
	}
	bi := slices.Clone(bls)
	slices.SortStableFunc(bi, func(a, b peer.Result) int { return cmp.Compare(a.DocsPerSec, b.DocsPerSec) })
	return row, &bi[len(bi)/2]
}

// applyDPS is the run's documents per second of the persister's apply
// time, 0 if completion was not awaited.
func (t TermflowRun) applyDPS() float64 {
	apply := t.Metrics["persister"].Sum(metricApplySum)
	if !t.Completed || apply <= 0 {
		return 0
	}
	return float64(t.Docs) / apply
}

// persisterDPS is the row's rate of the persister's apply time: for a
// repeated load the median of its runs' (the slower middle for an even
// count), as the rate to indexed is, since one run's apply time moves with
// the machine as much as its rate to indexed does; otherwise the run's own.
func (t TermflowRun) persisterDPS() float64 {
	var rates []float64
	for _, r := range t.Runs {
		if r.PersisterDPS > 0 {
			rates = append(rates, r.PersisterDPS)
		}
	}
	if len(rates) == 0 {
		return t.applyDPS()
	}
	slices.Sort(rates)
	return rates[(len(rates)-1)/2]
}

// medianOf says, for a repeated load, that its persister rate is a median.
func (t TermflowRun) medianOf() string {
	if len(t.Runs) < 2 {
		return ""
	}
	return fmt.Sprintf("median of %d runs: ", len(t.Runs))
}

// spread is a repeated load's Termflow rates to indexed, lowest to
// highest, for the results table; "1" for a load run once.
func (t TermflowRun) spread() string {
	if len(t.Runs) < 2 {
		return "1"
	}
	lo, hi := t.Runs[0].IndexedDPS, t.Runs[0].IndexedDPS
	for _, r := range t.Runs[1:] {
		lo, hi = min(lo, r.IndexedDPS), max(hi, r.IndexedDPS)
	}
	return fmt.Sprintf("%d (%s–%s)", len(t.Runs), report.Num(lo), report.Num(hi))
}

// CPUUse is a process's CPU time, in seconds, from the load's first
// request until the load was indexed, and until it ended (completed, when
// awaited).
type CPUUse struct {
	ToIndexed float64 `json:"to_indexed"`
	Total     float64 `json:"total"`
}

// ProfileTop is the head of `go tool pprof -top` for a service.
type ProfileTop struct {
	Service string `json:"service"`
	Top     string `json:"top"`
}

// OpTiming is one 5000-document operation.
type OpTiming struct {
	AcceptedS  float64 `json:"accepted_seconds"`
	CompletedS float64 `json:"completed_seconds"`
}

// Ratio is a named quotient.
type Ratio struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// Target is one goal of issue 4 and whether this run met it.
type Target struct {
	Name     string `json:"name"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// Persister metric names (services/persister): the MongoDB documents a
// batch writes, the (term, chunk) pairs whose content it changes, and the
// time spent applying.
const (
	metricDocsWritten = "termflow_persister_mongo_documents_written_total"
	metricTermChunks  = "termflow_persister_term_chunks_persisted_total"
	metricApplySum    = "termflow_persister_apply_duration_seconds_sum"
)

// writesPerTermChunk is MongoDB documents written per persisted (term,
// chunk) over a run, counting the posting collections (term heads and
// chunks) and, separately, everything (documents, statistics, journal,
// checkpoint).
func writesPerTermChunk(m e2e.Sample) (postings, all float64) {
	tc := m.Sum(metricTermChunks)
	if tc == 0 {
		return 0, 0
	}
	p := m.SumWhere(metricDocsWritten, "collection=chunks") + m.SumWhere(metricDocsWritten, "collection=terms")
	return p / tc, m.Sum(metricDocsWritten) / tc
}

func (r *Result) termflow(label string) *TermflowRun {
	for i := range r.Termflow {
		if r.Termflow[i].Corpus == label {
			return &r.Termflow[i]
		}
	}
	return nil
}

func (r *Result) bleve(label string) *peer.Result {
	for i := range r.Bleve {
		if r.Bleve[i].Corpus == label {
			return &r.Bleve[i]
		}
	}
	return nil
}

// evaluate computes the ratios and checks the targets.
func (r *Result) evaluate() {
	add := func(name string, a, b float64) {
		if b != 0 {
			r.Ratios = append(r.Ratios, Ratio{name, a / b})
		}
	}
	// Termflow ÷ Bleve, per corpus.
	minRatio, minOn := 0.0, ""
	for _, t := range r.Termflow {
		if b := r.bleve(t.Corpus); b != nil && b.DocsPerSec > 0 {
			q := t.Load.IndexedDPS / b.DocsPerSec
			add("termflow indexed ÷ bleve, "+t.Corpus, t.Load.IndexedDPS, b.DocsPerSec)
			if t.Docs >= 5000 && (minOn == "" || q < minRatio) {
				minRatio, minOn = q, t.Corpus
			}
		}
	}
	if minOn != "" {
		r.Targets = append(r.Targets, Target{"indexed throughput vs Bleve", "≥ 1.5× on every corpus of ≥ 5000 documents",
			fmt.Sprintf("lowest %.2f× (%s)", minRatio, minOn), minRatio >= 1.5})
	}
	// Each stage ÷ its limit, and the persister ÷ raw bulk writes.
	for _, s := range r.Stages {
		t := r.termflow(s.Corpus)
		if t == nil {
			continue
		}
		add("indexed ÷ analysis limit (1 core), "+s.Corpus, t.Load.IndexedDPS, s.Analysis.DocsPerSec)
		add("indexed ÷ Kafka produce+consume limit, "+s.Corpus, t.Load.IndexedDPS, s.Kafka.Together.DocsPerSec)
		add("indexed ÷ Pebble write limit, "+s.Corpus, t.Load.IndexedDPS, s.Pebble.DocsPerSec)
		raw := s.Mongo.Best.Combined.Seconds
		persDPS := t.persisterDPS()
		if !t.Completed || raw <= 0 || persDPS <= 0 {
			continue
		}
		rawDPS := float64(s.Docs) / raw
		add("persister (docs/s of apply time) ÷ raw MongoDB bulk write, "+s.Corpus, persDPS, rawDPS)
		add("completed (end to end) ÷ raw MongoDB bulk write, "+s.Corpus, t.Load.CompletedDS, rawDPS)
		if s.Corpus == r.Stages[len(r.Stages)-1].Corpus {
			r.Targets = append(r.Targets, Target{"persister vs raw MongoDB bulk write (" + s.Corpus + ")", "≥ 80 %",
				fmt.Sprintf("%.0f %% (%s%s docs/s of apply time vs %s docs/s raw)", 100*persDPS/rawDPS, t.medianOf(), report.Num(persDPS), report.Num(rawDPS)),
				persDPS >= 0.8*rawDPS})
			wp, wall := writesPerTermChunk(t.Metrics["persister"])
			r.Targets = append(r.Targets, Target{"MongoDB writes per persisted (term, chunk), bulk load (" + s.Corpus + ")", "≤ 1.2",
				fmt.Sprintf("%.2f (term heads + chunks); %.2f counting every document written", wp, wall), wp > 0 && wp <= 1.2})
		}
	}
	if len(r.Op5000) > 0 {
		ts := make([]float64, len(r.Op5000))
		for i, o := range r.Op5000 {
			ts[i] = o.CompletedS
		}
		slices.Sort(ts)
		med := ts[len(ts)/2]
		r.Targets = append(r.Targets, Target{"5000-document operation, request to completed", "≤ 5 s",
			fmt.Sprintf("median %.2f s of %d (%.2f–%.2f s)", med, len(ts), ts[0], ts[len(ts)-1]), med <= 5})
	}
	t10, t100 := r.termflow("zipf-10k"), r.termflow("zipf-100k")
	if t10 != nil && t100 != nil && t10.Load.IndexedDPS > 0 {
		q := t100.Load.IndexedDPS / t10.Load.IndexedDPS
		m := fmt.Sprintf("indexed %.0f %%", 100*q)
		met := q >= 0.9
		if t10.Load.CompletedDS > 0 && t100.Load.CompletedDS > 0 {
			qc := t100.Load.CompletedDS / t10.Load.CompletedDS
			m += fmt.Sprintf(", completed %.0f %%", 100*qc)
			met = met && qc >= 0.9
		}
		r.Targets = append(r.Targets, Target{"throughput at 100k ÷ at 10k", "≥ 90 %", m, met})
	}
	if t := r.termflow("zipf-1M"); t != nil {
		rss := t.PeakRSS["indexer"]
		r.Targets = append(r.Targets, Target{"indexer peak RSS at 1M documents", "≤ 1 GiB", report.Bytes(rss), rss > 0 && rss <= 1<<30})
	}
}

// plot is throughput against corpus size, Termflow and Bleve, on the
// synthetic corpus.
func (r *Result) plot() []byte {
	var ix, done, bl report.Series
	ix.Name, done.Name, bl.Name = "Termflow, to indexed", "Termflow, to completed", "Bleve (in-process)"
	for _, t := range r.Termflow {
		if !strings.HasPrefix(t.Corpus, "zipf-") {
			continue
		}
		ix.Points = append(ix.Points, report.Point{X: float64(t.Docs), Y: t.Load.IndexedDPS})
		if t.Load.CompletedDS > 0 {
			done.Points = append(done.Points, report.Point{X: float64(t.Docs), Y: t.Load.CompletedDS})
		}
	}
	for _, b := range r.Bleve {
		if strings.HasPrefix(b.Corpus, "zipf-") {
			bl.Points = append(bl.Points, report.Point{X: float64(b.Docs), Y: b.DocsPerSec})
		}
	}
	return report.LogXPlot(fmt.Sprintf("Throughput by corpus size (synthetic Zipf corpus, %s, %d CPUs)", r.Started.Format("2006-01-02"), r.Machine.CPUs),
		"documents in the load (log scale)", "documents per second", []report.Series{ix, done, bl})
}

// markdown is the section appended to docs/benchmarks.md.
func (r *Result) markdown(jsonPath, plotPath, profDir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### `%s`, %s (commit %s)\n\n", r.Command, r.Started.Format("2006-01-02 15:04 UTC"), r.Commit)
	m := r.Machine
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %s RAM, %s, kernel %s, %s; Kafka %s (one KRaft node), MongoDB wire protocol: %s. "+
		"Everything co-located. Took %s. Raw results: [%s](%s).\n\n",
		m.CPUs, m.CPU, report.Bytes(m.MemBytes), m.OS, m.Kernel, m.Go, orUnknown(m.Kafka), orUnknown(m.MongoDB),
		r.Finished.Sub(r.Started).Round(time.Second), jsonPath, jsonPath)

	b.WriteString("**Targets**\n\n")
	tt := report.Table{Header: []string{"target", "goal", "measured", "met"}}
	for _, t := range r.Targets {
		met := "**no**"
		if t.Met {
			met = "yes"
		}
		tt.Add(t.Name, t.Goal, t.Measured, met)
	}
	b.WriteString(tt.Markdown() + "\n")

	b.WriteString("**Corpora**\n\n")
	ct := report.Table{Header: []string{"corpus", "source", " documents", " average bytes"}}
	for _, c := range r.Corpora {
		ct.Add(c.Name, c.Source, report.Num(float64(c.Docs)), report.Num(c.AvgBytes))
	}
	b.WriteString(ct.Markdown() + "\n")

	b.WriteString("**Stage limits** (docs/s of the same documents; analysis on one goroutine; Kafka produce and consume at once; Pebble synced batches of 1000 documents; MongoDB unordered insert commands of the final chunks, term heads and documents, sent as the persister sends them, best batch size × commands in flight)\n\n")
	st := report.Table{Header: []string{"corpus", " analysis", " Kafka produce", " Kafka consume", " Kafka both", " Pebble", " MongoDB (all)", " MongoDB chunks/s", "Mongo batch"}}
	for _, s := range r.Stages {
		mongoDPS := 0.0
		if s.Mongo.Best.Combined.Seconds > 0 {
			mongoDPS = float64(s.Docs) / s.Mongo.Best.Combined.Seconds
		}
		st.Add(s.Corpus, report.Num(s.Analysis.DocsPerSec), report.Num(s.Kafka.Produce.DocsPerSec), report.Num(s.Kafka.Consume.DocsPerSec),
			report.Num(s.Kafka.Together.DocsPerSec), report.Num(s.Pebble.DocsPerSec), report.Num(mongoDPS),
			report.Num(s.Mongo.Best.Chunks.DocsPerSec), mongoShape(s.Mongo.Best))
	}
	b.WriteString(st.Markdown() + "\n")

	b.WriteString(fmt.Sprintf("**Termflow end to end vs Bleve** (Termflow: bulk requests of %d documents, %d in flight, through ingest, the broker, the indexer (%s), the persister and MongoDB; a fresh pipeline per run. Bleve: in-process, batches of 1000, until closed. %s)\n\n",
		loadPerRequest, loadConcurrency, "one process", r.repeatNote()))
	et := report.Table{Header: []string{"corpus", " documents", " Bleve docs/s", " Termflow to indexed, docs/s", " ÷ Bleve", " runs (to indexed, lowest–highest)", " to completed, docs/s", " ingest RSS", " indexer RSS", " persister RSS", " writes per (term, chunk)"}}
	for _, t := range r.Termflow {
		bl := r.bleve(t.Corpus)
		bdps := 0.0
		if bl != nil {
			bdps = bl.DocsPerSec
		}
		comp := "not awaited"
		if t.Completed {
			comp = report.Num(t.Load.CompletedDS)
		}
		wp, _ := writesPerTermChunk(t.Metrics["persister"])
		wps := "—"
		if wp > 0 {
			wps = fmt.Sprintf("%.2f", wp)
		}
		et.Add(t.Corpus, report.Num(float64(t.Docs)), report.Num(bdps), report.Num(t.Load.IndexedDPS), report.Ratio(t.Load.IndexedDPS, bdps),
			t.spread(), comp, report.Bytes(t.PeakRSS["ingest"]), report.Bytes(t.PeakRSS["indexer"]), report.Bytes(t.PeakRSS["persister"]), wps)
	}
	b.WriteString(et.Markdown() + "\n")
	fmt.Fprintf(&b, "![throughput by corpus size](%s)\n\n", plotPath)
	b.WriteString(r.cpuMarkdown())

	if l := r.Latency; l != nil {
		fmt.Fprintf(&b, "**Latency** of %d requests of %d documents sent open-loop at %s docs/s (half the highest rate to completed above): "+
			"to 202 (durable in Kafka) p50 %s ms, p99 %s ms; to `completed` (durable in MongoDB) p50 %s ms, p99 %s ms, max %s ms.\n\n",
			l.Requests, l.PerRequest, report.Num(l.RateDocsPerSec), report.Num(l.AcceptP50Ms), report.Num(l.AcceptP99Ms),
			report.Num(l.CompleteP50Ms), report.Num(l.CompleteP99Ms), report.Num(l.CompleteMaxMs))
	}
	if len(r.Op5000) > 0 {
		var parts []string
		for _, o := range r.Op5000 {
			parts = append(parts, fmt.Sprintf("%.2f s (202 after %.2f s)", o.CompletedS, o.AcceptedS))
		}
		fmt.Fprintf(&b, "**5000-document operations**, request to `completed`, one at a time on an idle pipeline: %s.\n\n", strings.Join(parts, ", "))
	}
	b.WriteString("**Ratios**\n\n")
	rt := report.Table{Header: []string{"ratio", " value"}}
	for _, q := range r.Ratios {
		rt.Add(q.Name, fmt.Sprintf("%.2f", q.Value))
	}
	b.WriteString(rt.Markdown() + "\n")
	for _, t := range r.Termflow {
		if len(t.ProfileTop) == 0 {
			continue
		}
		fmt.Fprintf(&b, "CPU profiles of the three services during the %s load are in `%s`; the heads of `go tool pprof -top` are in the JSON.\n", t.Corpus, profDir)
	}
	return b.String()
}

// repeatNote says which rows are medians of repetitions.
func (r *Result) repeatNote() string {
	if r.Repeats < 2 {
		return "Each load ran once"
	}
	return fmt.Sprintf("Each load of up to %s documents ran %d times, each time a Bleve pass and then a fresh pipeline; its row is the median Termflow run "+
		"(RSS, writes and CPU are that run's; the persister's rate is the median of the runs') and the median Bleve pass, and the runs column has the range. Larger loads ran once",
		report.Num(float64(r.RepeatMax)), r.Repeats)
}

func orUnknown(s string) string {
	if s == "" {
		return "(not recorded)"
	}
	return s
}

// appendDoc appends the run's section under docs/benchmarks.md's
// end-to-end heading.
func appendDoc(path, section string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("docs: %w", err)
	}
	return report.AppendSection(path, section)
}

// mongoShape is a MongoDB limit trial's batch size and calls in flight.
func mongoShape(t stages.MongoTrial) string {
	return fmt.Sprintf("%d × %d", t.BatchSize, max(t.InFlight, 1))
}

// cpuProcs are the processes of the CPU table, in its order.
var cpuProcs = []struct{ name, label string }{
	{"indexer", "indexer"}, {"persister", "persister"}, {"ferretdb", "MongoDB server"}, {"kafka", "broker"}, {"ingest", "ingest"},
}

// cpuMarkdown tables the CPU time of each process while each load was
// indexed and after: on a machine of a few cores it shows who the indexer
// shared them with.
func (r *Result) cpuMarkdown() string {
	var rows [][]string
	for _, t := range r.Termflow {
		if len(t.CPU) == 0 || t.Load.IndexedS <= 0 {
			continue
		}
		row := []string{t.Corpus, fmt.Sprintf("%.1f", t.Load.IndexedS)}
		sum := 0.0
		for _, p := range cpuProcs {
			u, ok := t.CPU[p.name]
			if !ok {
				row = append(row, "—")
				continue
			}
			sum += u.ToIndexed
			row = append(row, fmt.Sprintf("%.1f", u.ToIndexed))
		}
		row = append(row, fmt.Sprintf("%.2f", sum/t.Load.IndexedS))
		after := "—"
		if t.Completed && t.Load.CompletedS > t.Load.IndexedS {
			p, f := t.CPU["persister"], t.CPU["ferretdb"]
			after = fmt.Sprintf("%.1f s: persister %.1f, MongoDB server %.1f", t.Load.CompletedS-t.Load.IndexedS, p.Total-p.ToIndexed, f.Total-f.ToIndexed)
		}
		rows = append(rows, append(row, after))
	}
	if len(rows) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**CPU** (core-seconds each process used from the first request until the load was indexed; the machine has %d cores; the bench's own client is not counted)\n\n", r.Machine.CPUs)
	header := []string{"corpus", " seconds to indexed"}
	for _, p := range cpuProcs {
		header = append(header, " "+p.label)
	}
	tt := report.Table{Header: append(header, " cores busy (listed)", "then, until completed")}
	for _, row := range rows {
		tt.Add(row...)
	}
	b.WriteString(tt.Markdown() + "\n")
	return b.String()
}
