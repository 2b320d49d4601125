package indexer

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/dirtyterms"
	"github.com/termflow/termflow/pkg/document"
	"github.com/termflow/termflow/pkg/pebblestore"
)

func rec(off int64, key, value string, headers ...string) *kgo.Record {
	r := &kgo.Record{Topic: "docs", Partition: 0, Offset: off, Key: []byte(key)}
	if value != "" {
		r.Value = []byte(value)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: headers[i], Value: []byte(headers[i+1])})
	}
	return r
}

func run(t *testing.T, s *pebblestore.Store, recs ...*kgo.Record) *batchResult {
	t.Helper()
	pb := s.NewBatch()
	res, err := indexBatch(s, pb, "ix", "docs", 0, recs, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := pb.Commit(); err != nil {
		t.Fatal(err)
	}
	return res
}

func opsOf(ev *dirtyterms.Event, field, term string) []dirtyterms.Op {
	for _, t := range ev.Terms {
		if t.Field == field && t.Term == term {
			return t.Ops
		}
	}
	return nil
}

func TestIndexBatchUpdatesAndDeletes(t *testing.T) {
	s, err := pebblestore.Open("db", pebblestore.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res := run(t, s,
		rec(0, "b/1", `{"v":1,"index":"b","id":"1","doc":{"t":"red apple"}}`, document.HeaderOperation, "op1", document.HeaderSeq, "0"),
		rec(1, "b/2", `{"v":1,"index":"b","id":"2","doc":{"t":"red red pear"}}`, document.HeaderOperation, "op1", document.HeaderSeq, "1"),
		// The same document twice in one batch: the second is computed
		// against the first.
		rec(2, "b/1", `{"v":1,"index":"b","id":"1","doc":{"t":"green apple"}}`),
		rec(3, "b/x", `not json`, document.HeaderOperation, "op1", document.HeaderSeq, "2"),
	)
	ev := res.event
	if len(ev.Records) != 3 || ev.Records[0].Count != 1 || ev.Records[1].Count != 1 || ev.Records[2].Count != 0 {
		t.Fatalf("records %+v", ev.Records)
	}
	// "red" in field t: set by records 0 and 1, removed by record 2 for doc 1.
	got := opsOf(ev, "t", "red")
	want := []dirtyterms.Op{{Rec: 0, TF: 1, Length: 2}, {Rec: 1, TF: 2, Length: 3}, {Rec: 2}}
	if len(got) != len(want) {
		t.Fatalf("red ops %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("red ops %+v, want %+v", got, want)
		}
	}
	// "apple": unchanged tf and length between records 0 and 2 → no op for record 2.
	if got := opsOf(ev, "t", "apple"); len(got) != 1 || got[0].Rec != 0 {
		t.Fatalf("apple ops %+v", got)
	}
	if len(res.failures) != 1 || len(res.failed["op1"]) != 1 || res.failed["op1"][0].Seq != 2 {
		t.Fatalf("failures %+v %+v", res.failures, res.failed)
	}
	if len(ev.Progress) != 1 || ev.Progress[0].Seqs.Len() != 2 {
		t.Fatalf("progress %+v", ev.Progress)
	}
	if ps, _ := s.Postings("b", "t", "red"); len(ps) != 1 || ps[0].ID != "2" || ps[0].TF != 2 {
		t.Fatalf("pebble red %+v", ps)
	}
	if off, _ := s.Applied("docs", 0); off != 3 {
		t.Fatalf("applied %d", off)
	}

	// Next batch: delete doc 2 by tombstone.
	res = run(t, s, rec(4, "b/2", ""))
	ev = res.event
	if len(ev.Records) != 1 || !ev.Records[0].Deleted || ev.Records[0].Count != -1 {
		t.Fatalf("delete record %+v", ev.Records)
	}
	if got := opsOf(ev, "t", "red"); len(got) != 1 || got[0].TF != 0 {
		t.Fatalf("red removal %+v", got)
	}
	for _, f := range ev.Records[0].Fields {
		if f.Docs != -1 {
			t.Errorf("field delta %+v", f)
		}
	}
	if ps, _ := s.Postings("b", "_all", "pear"); len(ps) != 0 {
		t.Fatalf("pear still in pebble: %+v", ps)
	}
}

// TestBatchSizeHintFitsBatch: a batch of new documents fits in the room
// batchSizeHint gives it, without leaving most of it empty.
func TestBatchSizeHintFitsBatch(t *testing.T) {
	s, err := pebblestore.Open("db", pebblestore.Options{FS: vfs.NewMem(), Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs := benchRecords(1, 1000)
	pb := s.NewBatchSized(batchSizeHint(recs))
	defer pb.Close()
	if _, err := indexBatch(s, pb, "ix", "docs", 0, recs, 0); err != nil {
		t.Fatal(err)
	}
	if hint := batchSizeHint(recs); pb.Len() > hint || pb.Len() < hint/2 {
		t.Fatalf("batch of %d bytes for a hint of %d", pb.Len(), hint)
	}
}
