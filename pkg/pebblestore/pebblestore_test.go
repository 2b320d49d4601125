package pebblestore

import (
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func TestBatchAndReads(t *testing.T) {
	s, err := Open("db", Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if off, err := s.Applied("docs", 3); err != nil || off != -1 {
		t.Fatalf("Applied on empty store = %d, %v", off, err)
	}
	f := &Forward{Fields: []ForwardField{{Name: "_all", Length: 3, Terms: []TermFreq{{"a", 2}, {"b", 1}}}}}
	b := s.NewBatch()
	b.SetForward("idx", "d/1", f)
	b.SetPosting("idx", "_all", "a", "d/1", 2, 3)
	b.SetPosting("idx", "_all", "a", "d/2", 1, 7)
	b.SetPosting("idx", "_all", "ab", "d/3", 1, 1) // must not show under "a"
	b.SetApplied("docs", 3, 41)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Forward("idx", "d/1")
	if err != nil || !reflect.DeepEqual(got, f) {
		t.Fatalf("Forward = %+v, %v", got, err)
	}
	if got, _ := s.Forward("idx", "nope"); got != nil {
		t.Fatal("missing forward entry found")
	}
	ps, err := s.Postings("idx", "_all", "a")
	want := []Posting{{"d/1", 2, 3}, {"d/2", 1, 7}}
	if err != nil || !reflect.DeepEqual(ps, want) {
		t.Fatalf("Postings = %+v, %v", ps, err)
	}
	if off, _ := s.Applied("docs", 3); off != 41 {
		t.Fatalf("Applied = %d", off)
	}
	b = s.NewBatch()
	b.SetPosting("idx", "_all", "a", "d/1", 0, 0)
	b.SetForward("idx", "d/1", nil)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if ps, _ := s.Postings("idx", "_all", "a"); len(ps) != 1 {
		t.Fatalf("after delete: %+v", ps)
	}
}

func TestKeysCannotCollide(t *testing.T) {
	// Without length prefixes ("a","bc") and ("ab","c") would share a key.
	if string(PostingKey("i", "a", "bc", "x")) == string(PostingKey("i", "ab", "c", "x")) {
		t.Fatal("keys collide")
	}
	if string(forwardKey("a", "b/c")) == string(forwardKey("a/b", "c")) {
		t.Fatal("forward keys collide")
	}
}

func TestDecodeForwardCorrupt(t *testing.T) {
	f := &Forward{Fields: []ForwardField{{Name: "x", Length: 1, Terms: []TermFreq{{"y", 1}}}}}
	b := f.encode(nil)
	for i := 0; i < len(b); i++ {
		if _, err := decodeForward(b[:i]); err == nil {
			t.Errorf("truncated at %d: no error", i)
		}
	}
}
