// Package stages measures the limit of each stage of the pipeline on the
// same input, so that `make bench` can report "each stage ÷ its limit":
//
//   - Analysis: what an indexer does per document before touching Pebble
//     (envelope decode and analysis.AnalyzeJSON), on one goroutine.
//   - Kafka: the documents-topic records exactly as the ingest service
//     builds them, produced with the ingest producer's settings and consumed
//     back by a fresh consumer with the indexer's fetch settings.
//   - Pebble: the exact keys and values the indexer writes for a bulk load,
//     precomputed, written in synced batches through a store opened by
//     pebblestore.Open.
//   - Mongo: the chunk, term-head and document bodies the persister ends up
//     with for a bulk load, precomputed and pre-encoded, written with
//     unordered insertMany into a database prepared by mongostore.Open.
//
// Every stage builds its input outside the timer and times only the work the
// stage is the limit of. Results are plain structs that marshal to JSON.
// Rates count MB as 10^6 bytes.
package stages

import (
	"fmt"
	"time"

	"github.com/termflow/termflow/bench/corpus"
	"github.com/termflow/termflow/pkg/document"
)

// Index is the index name every stage files the corpus under.
const Index = "bench"

// OperationDocs is the size of the bulk operations the Kafka stage tags its
// records with (the ingest service's default batch size and the request size
// of the latency measurement): record i carries operation i/OperationDocs
// and sequence number i%OperationDocs.
const OperationDocs = 150

// Throughput is an amount of work done in a time.
type Throughput struct {
	Docs       int     `json:"docs"`
	Bytes      int64   `json:"bytes"`
	Seconds    float64 `json:"seconds"`
	DocsPerSec float64 `json:"docs_per_sec"`
	MBPerSec   float64 `json:"mb_per_sec"`
}

func throughput(docs int, bytes int64, d time.Duration) Throughput {
	s := d.Seconds()
	return Throughput{Docs: docs, Bytes: bytes, Seconds: s, DocsPerSec: rate(int64(docs), s), MBPerSec: rate(bytes, s) / 1e6}
}

// rate is n per second, 0 for an empty interval.
func rate(n int64, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(n) / seconds
}

// limit clamps n to the corpus size; n <= 0 means the whole corpus.
func limit(c corpus.Corpus, n int) int {
	if n <= 0 || n > c.Len() {
		return c.Len()
	}
	return n
}

// envelope is the documents-topic record value of a corpus document, as the
// ingest service encodes it (its "doc" is the document exactly as posted).
func envelope(d corpus.Doc) []byte {
	return document.Envelope{V: document.SchemaVersion, Index: Index, ID: d.ID, Doc: d.JSON}.Encode()
}

// checkDoc rejects a corpus document the ingest service would reject for its
// id (the stages must measure documents the pipeline would index).
func checkDoc(i int, d corpus.Doc) error {
	if err := document.ValidateID(d.ID); err != nil {
		return fmt.Errorf("corpus document %d: %w", i, err)
	}
	return nil
}
