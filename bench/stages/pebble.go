package stages

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/batchrepr"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/wal"

	"github.com/termflow/termflow/bench/corpus"
	"github.com/termflow/termflow/pkg/analysis"
	"github.com/termflow/termflow/pkg/document"
	"github.com/termflow/termflow/pkg/pebblestore"
)

// PebbleTopic is the documents topic the Pebble stage's applied offsets
// name; all documents come from its partition 0, document i at offset i.
const PebbleTopic = "termflow.documents"

// PebbleResult is the Pebble limit: the indexer's writes for a bulk load of
// the corpus, one synced Pebble batch per batch of documents.
type PebbleResult struct {
	Corpus    string `json:"corpus"`
	BatchDocs int    `json:"batch_docs"`
	Batches   int    `json:"batches"`
	// Throughput counts documents and the bytes of the keys and values
	// written.
	Throughput
	// Keys are the batch entries written (sets, merges and deletes).
	Keys       int64   `json:"keys"`
	KeysPerSec float64 `json:"keys_per_sec"`
	// BatchBytes are the bytes of the batches' representations (what goes
	// to the write-ahead log).
	BatchBytes int64 `json:"batch_bytes"`
	// Sync: every batch is committed with pebble.Sync (fsync), as the
	// indexer commits.
	Sync bool `json:"sync"`
	// Options: the store is opened by pebblestore.Open with its defaults
	// (only Pebble's informational log lines are dropped).
	Options string `json:"options"`
}

// pebbleBatch is what the indexer writes for one batch of documents: the
// Pebble batch representation, exactly as committed.
type pebbleBatch struct {
	docs  int
	repr  []byte
	keys  int64 // entries
	bytes int64 // key and value bytes
}

// Pebble writes into a new store in dir (which the caller removes) what the
// indexer writes for the first n documents of c (n <= 0: all), indexed in
// batches of batchDocs documents from one partition: per batch, the
// documents' postings and forward entries and the partition's applied
// offset, committed with pebble.Sync. The batches are built before the timer
// starts; only their commits are timed.
func Pebble(ctx context.Context, dir string, c corpus.Corpus, n int, batchDocs int) (PebbleResult, error) {
	n = limit(c, n)
	res := PebbleResult{Corpus: c.Name(), BatchDocs: batchDocs, Sync: true, Options: "pebblestore.Open defaults"}
	if batchDocs < 1 {
		return res, fmt.Errorf("batch of %d documents: want at least 1", batchDocs)
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return res, fmt.Errorf("pebble directory %q is not empty: the stage writes a new store", dir)
	}
	batches, err := pebbleWrites(c, n, batchDocs)
	if err != nil {
		return res, err
	}
	var keys, size, reprBytes int64
	for _, b := range batches {
		keys += b.keys
		size += b.bytes
		reprBytes += int64(len(b.repr))
	}
	s, err := pebblestore.Open(dir, pebblestore.Options{Logger: quietPebble{}})
	if err != nil {
		return res, err
	}
	defer s.Close()
	db := s.DB()
	start := time.Now()
	for i, b := range batches {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		// The batch takes the representation over: it is not used again.
		if err := commitRepr(db, b.repr); err != nil {
			return res, fmt.Errorf("batch %d: %w", i, err)
		}
		batches[i].repr = nil
	}
	elapsed := time.Since(start)
	res.Batches = len(batches)
	res.Throughput = throughput(n, size, elapsed)
	res.Keys = keys
	res.KeysPerSec = rate(keys, res.Seconds)
	res.BatchBytes = reprBytes

	// What was written reads back through pebblestore: the partition's
	// applied offset and every document's forward entry.
	if n > 0 {
		off, err := s.Applied(PebbleTopic, 0)
		if err != nil {
			return res, err
		}
		if off != int64(n-1) {
			return res, fmt.Errorf("applied offset %d after writing offsets 0..%d", off, n-1)
		}
		for i := range n {
			id := c.Doc(i).ID
			if f, err := s.Forward(Index, id); err != nil || f == nil {
				return res, fmt.Errorf("forward entry of %q after writing it: %v, %w", id, f, err)
			}
		}
	}
	return res, nil
}

// commitRepr commits a batch representation to db with pebble.Sync.
func commitRepr(db *pebble.DB, repr []byte) error {
	b := db.NewBatch()
	defer b.Close()
	if err := b.SetRepr(repr); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

// pebbleWrites computes the Pebble batches of indexing the first n documents
// of c in batches of batchDocs, through pebblestore's own Batch, so the key
// layout, encodings and operations (set, merge) are pebblestore's, whatever
// they become: each batch is committed to a scratch in-memory store of its
// own, and read back from that store's write-ahead log, whose last record
// is exactly the committed batch.
func pebbleWrites(c corpus.Corpus, n, batchDocs int) ([]pebbleBatch, error) {
	seen := make(map[string]struct{}, n)
	var out []pebbleBatch
	for lo := 0; lo < n; lo += batchDocs {
		hi := min(lo+batchDocs, n)
		fs := vfs.NewMem()
		s, err := pebblestore.Open("scratch", pebblestore.Options{FS: fs, CacheBytes: 1 << 20,
			MemTableBytes: 4 << 20, Logger: quietPebble{}})
		if err != nil {
			return nil, err
		}
		b := s.NewBatch()
		if err = indexDocs(b, c, lo, hi, seen); err == nil {
			err = b.Commit()
		}
		b.Close()
		if cerr := s.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		pb, err := lastWALBatch(fs, "scratch")
		if err != nil {
			return nil, fmt.Errorf("documents %d..%d: %w", lo, hi-1, err)
		}
		pb.docs = hi - lo
		out = append(out, pb)
	}
	return out, nil
}

// indexDocs adds to b the writes of indexing documents lo..hi-1 of c, new
// documents at offsets lo..hi-1 of partition 0 of PebbleTopic, as
// indexBatch (services/indexer/internal/indexer/batch.go) does: each
// document's forward entry in record order, then per (field, term), in
// that order, one MergePostings of the term's postings in record order,
// then the applied offset.
func indexDocs(b *pebblestore.Batch, c corpus.Corpus, lo, hi int, seen map[string]struct{}) error {
	type fieldTerm struct{ field, term string }
	terms := map[fieldTerm][]pebblestore.Posting{}
	for i := lo; i < hi; i++ {
		d := c.Doc(i)
		_, an, err := analyzeDoc(i, d, seen)
		if err != nil {
			return err
		}
		for _, f := range an.Fields {
			for _, t := range f.Terms {
				k := fieldTerm{f.Name, t.Term}
				terms[k] = append(terms[k], pebblestore.Posting{ID: d.ID, TF: t.TF, Length: f.Length})
			}
		}
		b.SetForward(Index, d.ID, forwardOf(an))
	}
	keys := slices.SortedFunc(maps.Keys(terms), func(a, b fieldTerm) int {
		if c := strings.Compare(a.field, b.field); c != 0 {
			return c
		}
		return strings.Compare(a.term, b.term)
	})
	for _, k := range keys {
		b.MergePostings(Index, k.field, k.term, terms[k])
	}
	b.SetApplied(PebbleTopic, 0, int64(hi-1))
	return nil
}

// lastWALBatch returns the last batch written to the write-ahead log of the
// closed store in dir.
func lastWALBatch(fs vfs.FS, dir string) (pebbleBatch, error) {
	logs, err := wal.Scan(wal.Dir{FS: fs, Dirname: dir})
	if err != nil {
		return pebbleBatch{}, fmt.Errorf("scan write-ahead logs: %w", err)
	}
	var last []byte
	for _, l := range logs {
		r := l.OpenForRead()
		for {
			rec, _, err := r.NextRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				r.Close()
				return pebbleBatch{}, fmt.Errorf("read write-ahead log: %w", err)
			}
			if last, err = io.ReadAll(rec); err != nil {
				r.Close()
				return pebbleBatch{}, fmt.Errorf("read write-ahead log: %w", err)
			}
		}
		if err := r.Close(); err != nil {
			return pebbleBatch{}, err
		}
	}
	if last == nil {
		return pebbleBatch{}, errors.New("no batch in the write-ahead log")
	}
	// The log holds the batch with the sequence number the scratch store
	// gave it; a batch to commit carries none (Pebble assigns it, and
	// refuses a large batch that has one).
	batchrepr.SetSeqNum(last, 0)
	pb := pebbleBatch{repr: last}
	err = eachEntry(last, func(_ pebble.InternalKeyKind, k, v []byte) error {
		pb.keys++
		pb.bytes += int64(len(k) + len(v))
		return nil
	})
	return pb, err
}

// eachEntry calls fn with every entry of a batch representation.
func eachEntry(repr []byte, fn func(kind pebble.InternalKeyKind, k, v []byte) error) error {
	var b pebble.Batch
	if err := b.SetRepr(repr); err != nil {
		return err
	}
	r := b.Reader()
	for {
		kind, k, v, ok, err := r.Next()
		if err != nil {
			return fmt.Errorf("read batch: %w", err)
		}
		if !ok {
			return nil
		}
		if err := fn(kind, k, v); err != nil {
			return err
		}
	}
}

// analyzeDoc decodes document i of a corpus from its envelope and analyzes
// it, as the indexer does, and returns the document's stored source (the
// envelope's "doc", which the persister stores) with its analysis. It
// rejects an id seen before: the stages measure a bulk load of new
// documents.
func analyzeDoc(i int, d corpus.Doc, seen map[string]struct{}) ([]byte, analysis.Document, error) {
	if err := checkDoc(i, d); err != nil {
		return nil, analysis.Document{}, err
	}
	if _, dup := seen[d.ID]; dup {
		return nil, analysis.Document{}, fmt.Errorf("corpus document %d: id %q used twice", i, d.ID)
	}
	seen[d.ID] = struct{}{}
	env, err := document.Decode(document.Key(Index, d.ID), envelope(d), 0)
	if err != nil {
		return nil, analysis.Document{}, fmt.Errorf("corpus document %d: %w", i, err)
	}
	an, err := analysis.AnalyzeJSON(env.Doc)
	if err != nil {
		return nil, analysis.Document{}, fmt.Errorf("corpus document %d: %w", i, err)
	}
	return env.Doc, an, nil
}

// forwardOf is the indexer's forward entry of an analyzed document
// (services/indexer/internal/indexer/batch.go): fields in analysis order,
// terms sorted. The indexer leaves the terms in analysis order since the
// thirteenth session; they are sorted here so that the stage's stores are
// the same byte for byte (TestPebbleWritesReadBack), and the batches are
// built before the timed writes, so the sort is not measured.
func forwardOf(d analysis.Document) *pebblestore.Forward {
	f := &pebblestore.Forward{Fields: make([]pebblestore.ForwardField, 0, len(d.Fields))}
	for _, fl := range d.Fields {
		ff := pebblestore.ForwardField{Name: fl.Name, Length: fl.Length, Terms: slices.Clone(fl.Terms)}
		sort.Slice(ff.Terms, func(i, j int) bool { return ff.Terms[i].Term < ff.Terms[j].Term })
		f.Fields = append(f.Fields, ff)
	}
	return f
}

// quietPebble drops Pebble's informational log lines; errors still reach
// Pebble's default logger.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)           {}
func (quietPebble) Errorf(format string, a ...any) { pebble.DefaultLogger.Errorf(format, a...) }
func (quietPebble) Fatalf(format string, a ...any) { pebble.DefaultLogger.Fatalf(format, a...) }
