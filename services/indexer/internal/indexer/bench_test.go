package indexer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/document"
	"github.com/termflow/termflow/pkg/pebblestore"
)

// benchRecords returns n documents-topic records of short documents ({"title"
// of 5 words, "body" of 15}) with words from a Zipf-distributed vocabulary,
// all of one operation, deterministic for a seed. The ids are doc-0..doc-n-1
// whatever the seed, so a second seed replaces the documents of the first.
func benchRecords(seed uint64, n int) []*kgo.Record { return benchRecordsFrom(seed, 0, n) }

// benchRecordsFrom is benchRecords with ids doc-first..doc-(first+n-1) at
// offsets first.. .
func benchRecordsFrom(seed uint64, first, n int) []*kgo.Record {
	r := rand.New(rand.NewPCG(seed, 0x7465726d666c6f77))
	vocab := strings.Fields("the a is of to and in it returns if for be that value an or not by with this")
	for len(vocab) < 20000 {
		var sb strings.Builder
		for range 2 + r.IntN(9) {
			sb.WriteByte(byte('a' + r.IntN(26)))
		}
		vocab = append(vocab, sb.String()) // a rare duplicate does not matter
	}
	zipf := rand.NewZipf(r, 1.07, 2, uint64(len(vocab)-1))
	words := func(k int) string {
		ws := make([]string, k)
		for i := range ws {
			ws[i] = vocab[zipf.Uint64()]
		}
		return strings.Join(ws, " ")
	}
	recs := make([]*kgo.Record, n)
	for k := range recs {
		i := first + k
		id := fmt.Sprintf("doc-%d", i)
		doc, err := json.Marshal(map[string]string{"id": id, "title": words(5), "body": words(15)})
		if err != nil {
			panic(err)
		}
		env := document.Envelope{V: document.SchemaVersion, Index: "godoc", ID: id, Doc: doc}
		recs[k] = &kgo.Record{Topic: "docs", Partition: 0, Offset: int64(i), Key: document.Key("godoc", id), Value: env.Encode(),
			Headers: []kgo.RecordHeader{
				{Key: document.HeaderOperation, Value: []byte("op_bench")},
				{Key: document.HeaderSeq, Value: document.Seq(i)},
			}}
	}
	return recs
}

// BenchmarkIndexBatch: one operation indexes a batch of records into a new
// Pebble batch, which is discarded, not committed, so every operation sees
// the same store: empty (state=new: every document is new) or holding an
// earlier version of every document (state=replace: forward-index reads and
// per-document diffs).
func BenchmarkIndexBatch(b *testing.B) {
	const n = 1000
	for _, state := range []string{"new", "replace"} {
		b.Run(fmt.Sprintf("records=%d/state=%s", n, state), func(b *testing.B) {
			s, err := pebblestore.Open("db", pebblestore.Options{FS: vfs.NewMem(), Logger: quietPebble{}})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if state == "replace" {
				pb := s.NewBatch()
				if _, err := indexBatch(s, pb, "ix", "docs", 0, benchRecords(2, n), 0); err != nil {
					b.Fatal(err)
				}
				if err := pb.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			recs := benchRecords(1, n)
			bytes := 0
			for _, r := range recs {
				bytes += len(r.Value)
			}
			b.ReportAllocs()
			b.SetBytes(int64(bytes))
			for b.Loop() {
				pb := s.NewBatch()
				res, err := indexBatch(s, pb, "ix", "docs", 0, recs, 0)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.event.Records) != n || len(res.failures) != 0 {
					b.Fatalf("%d records indexed, %d failures", len(res.event.Records), len(res.failures))
				}
				pb.Close()
			}
		})
	}
}

// BenchmarkIndexCommit: one operation indexes a batch of 1000 new documents
// (a bulk load: every id is new) and commits it to an in-memory store that
// keeps growing, so the cost includes Pebble's memtable inserts and, over
// the run, its flushes and compactions (which run on background goroutines
// and compete for the same cores). Run it with a fixed count (-benchtime
// 40x): the store grows with every operation.
func BenchmarkIndexCommit(b *testing.B) {
	const n = 1000
	b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
		s, err := pebblestore.Open("db", pebblestore.Options{FS: vfs.NewMem(), Logger: quietPebble{}})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		b.ReportAllocs()
		first := 0
		for b.Loop() {
			b.StopTimer()
			recs := benchRecordsFrom(uint64(first), first, n)
			b.StartTimer()
			pb := s.NewBatch()
			if _, err := indexBatch(s, pb, "ix", "docs", 0, recs, 0); err != nil {
				b.Fatal(err)
			}
			if err := pb.Commit(); err != nil {
				b.Fatal(err)
			}
			first += n
		}
	})
}

// BenchmarkIndexBatchCorpus: one operation indexes every document of a real
// corpus (the NDJSON file TERMFLOW_BENCH_CORPUS names; bin/godoc-corpus -o
// writes the godoc corpus), in batches of 1000 new documents, each into a
// Pebble batch sized as the indexer sizes it and then discarded.
func BenchmarkIndexBatchCorpus(b *testing.B) {
	path := os.Getenv("TERMFLOW_BENCH_CORPUS")
	if path == "" {
		b.Skip("TERMFLOW_BENCH_CORPUS names no NDJSON corpus (make build && bin/godoc-corpus -o godoc.ndjson)")
	}
	src, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var recs []*kgo.Record
	for i, doc := range bytes.Split(bytes.TrimSpace(src), []byte("\n")) {
		var v struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(doc, &v); err != nil || v.ID == "" {
			b.Fatalf("corpus line %d: no id (%v)", i+1, err)
		}
		env := document.Envelope{V: document.SchemaVersion, Index: "corpus", ID: v.ID, Doc: doc}
		recs = append(recs, &kgo.Record{Topic: "docs", Offset: int64(i), Key: document.Key("corpus", v.ID), Value: env.Encode(),
			Headers: []kgo.RecordHeader{{Key: document.HeaderOperation, Value: []byte("op_bench")}, {Key: document.HeaderSeq, Value: document.Seq(i)}}})
	}
	s, err := pebblestore.Open("db", pebblestore.Options{FS: vfs.NewMem(), Logger: quietPebble{}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		for from := 0; from < len(recs); from += 1000 {
			batch := recs[from:min(from+1000, len(recs))]
			pb := s.NewBatchSized(batchSizeHint(batch))
			if _, err := indexBatch(s, pb, "ix", "docs", 0, batch, 0); err != nil {
				b.Fatal(err)
			}
			pb.Close()
		}
	}
}
