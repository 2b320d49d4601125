package stages

import (
	"fmt"
	"runtime"
	"time"

	"github.com/termflow/termflow/bench/corpus"
	"github.com/termflow/termflow/pkg/analysis"
	"github.com/termflow/termflow/pkg/document"
)

// AnalysisResult is the analysis limit: documents decoded from their
// documents-topic envelope and analyzed per second on one goroutine.
type AnalysisResult struct {
	Corpus     string `json:"corpus"`
	Goroutines int    `json:"goroutines"`
	// GOMAXPROCS during the measurement: 1, so that the garbage
	// collector's work is on the same core too.
	GOMAXPROCS int `json:"gomaxprocs"`
	// Throughput counts documents and the bytes of their record values
	// (the envelopes the indexer decodes).
	Throughput
	// Tokens are the words analysis kept, counted once (not again for the
	// catch-all field).
	Tokens       int64   `json:"tokens"`
	TokensPerSec float64 `json:"tokens_per_sec"`
	// Postings are the distinct (field, term) pairs of each document, the
	// catch-all field included: one posting each in Pebble and MongoDB.
	Postings       int64   `json:"postings"`
	PostingsPerSec float64 `json:"postings_per_sec"`
}

// Analysis decodes and analyzes the first n documents of c (n <= 0: all) on
// the calling goroutine, as the indexer does per record: document.Decode of
// the record, then analysis.AnalyzeJSON of its document. The records are
// built before the timer starts. It runs with GOMAXPROCS 1 (restored after),
// so the rate is that of one core, garbage collection included; nothing
// else of the process should run meanwhile.
func Analysis(c corpus.Corpus, n int) (AnalysisResult, error) {
	n = limit(c, n)
	keys := make([][]byte, n)
	values := make([][]byte, n)
	var bytes int64
	for i := range n {
		d := c.Doc(i)
		if err := checkDoc(i, d); err != nil {
			return AnalysisResult{}, err
		}
		keys[i], values[i] = document.Key(Index, d.ID), envelope(d)
		bytes += int64(len(values[i]))
	}
	var tokens, postings int64
	procs := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(procs)
	start := time.Now()
	for i := range n {
		env, err := document.Decode(keys[i], values[i], 0)
		if err != nil {
			return AnalysisResult{}, fmt.Errorf("document %d: %w", i, err)
		}
		an, err := analysis.AnalyzeJSON(env.Doc)
		if err != nil {
			return AnalysisResult{}, fmt.Errorf("document %d: %w", i, err)
		}
		t, p := counts(an)
		tokens += t
		postings += p
	}
	elapsed := time.Since(start)
	r := AnalysisResult{Corpus: c.Name(), Goroutines: 1, GOMAXPROCS: runtime.GOMAXPROCS(0), Throughput: throughput(n, bytes, elapsed),
		Tokens: tokens, Postings: postings}
	r.TokensPerSec = rate(tokens, r.Seconds)
	r.PostingsPerSec = rate(postings, r.Seconds)
	return r, nil
}

// counts returns a document's tokens (words kept, not counted again for the
// catch-all field) and postings (distinct field/term pairs).
func counts(an analysis.Document) (tokens, postings int64) {
	for _, f := range an.Fields {
		if f.Name != analysis.AllField {
			tokens += int64(f.Length)
		}
		postings += int64(len(f.Terms))
	}
	return tokens, postings
}
