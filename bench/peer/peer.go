// Package peer measures what Termflow is compared with: an in-process
// full-text library indexing the same corpus on the same machine.
//
// The peer is Bleve (github.com/blevesearch/bleve/v2), used the way its
// documentation shows: bleve.New with the default index mapping (dynamic
// fields, the "standard" analyzer: Unicode word segmentation, lower case,
// English stop words; every field also goes to "_all"), the default
// scorch index on disk, each document unmarshalled from its JSON into a
// map[string]any and added with Batch.Index, one Index.Batch call per
// batch. The clock runs from before bleve.New to after Index.Close, so
// everything is flushed to disk; it includes reading documents from the
// corpus (nothing for in-memory corpora, about 4 µs per document for the
// Zipf generator) and the JSON unmarshalling.
package peer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/blevesearch/bleve/v2"

	"github.com/termflow/termflow/bench/corpus"
)

// DefaultBatchSize is the batch size of the comparison in issue 4.
const DefaultBatchSize = 1000

// Result is one indexing run.
type Result struct {
	Corpus     string  `json:"corpus"`
	Docs       int     `json:"docs"`
	Seconds    float64 `json:"seconds"`
	DocsPerSec float64 `json:"docs_per_sec"`
	BatchSize  int     `json:"batch_size"`
	DiskBytes  int64   `json:"disk_bytes"`
}

// Bleve indexes every document of c into a new Bleve index in dir, which
// must not exist yet (bleve.New creates it), in batches of batchSize, and
// reports the time until the index is closed and its size on disk. The
// caller removes dir.
func Bleve(ctx context.Context, dir string, c corpus.Corpus, batchSize int) (Result, error) {
	return BleveProgress(ctx, dir, c, batchSize, nil)
}

// BleveProgress is Bleve calling progress, if not nil, with the number of
// documents indexed after each batch.
func BleveProgress(ctx context.Context, dir string, c corpus.Corpus, batchSize int, progress func(done int)) (res Result, err error) {
	if batchSize < 1 {
		return Result{}, fmt.Errorf("peer: batch size %d: want at least 1", batchSize)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		return Result{}, fmt.Errorf("peer: index directory %q must not exist", dir)
	}
	res = Result{Corpus: c.Name(), Docs: c.Len(), BatchSize: batchSize}
	start := time.Now()
	index, err := bleve.New(dir, bleve.NewIndexMapping())
	if err != nil {
		return Result{}, fmt.Errorf("peer: create bleve index %q: %w", dir, err)
	}
	defer func() {
		if index != nil {
			index.Close() // an earlier error is the one reported
		}
	}()
	batch := index.NewBatch()
	for i := range c.Len() {
		d := c.Doc(i)
		var doc map[string]any
		if err := json.Unmarshal(d.JSON, &doc); err != nil {
			return Result{}, fmt.Errorf("peer: %s: document %q: %w", c.Name(), d.ID, err)
		}
		if err := batch.Index(d.ID, doc); err != nil {
			return Result{}, fmt.Errorf("peer: %s: document %q: %w", c.Name(), d.ID, err)
		}
		if batch.Size() >= batchSize || i == c.Len()-1 {
			if err := ctx.Err(); err != nil {
				return Result{}, err
			}
			if err := index.Batch(batch); err != nil {
				return Result{}, fmt.Errorf("peer: %s: index batch ending at document %d: %w", c.Name(), i, err)
			}
			batch.Reset()
			if progress != nil {
				progress(i + 1)
			}
		}
	}
	err = index.Close()
	index = nil
	if err != nil {
		return Result{}, fmt.Errorf("peer: close bleve index %q: %w", dir, err)
	}
	res.Seconds = time.Since(start).Seconds()
	if res.Seconds > 0 {
		res.DocsPerSec = float64(res.Docs) / res.Seconds
	}
	res.DiskBytes, err = diskBytes(dir)
	return res, err
}

// diskBytes is the total size of the regular files below dir.
func diskBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("peer: size of %q: %w", dir, err)
	}
	return n, nil
}
