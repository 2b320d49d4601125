package pebblestore

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
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
	f := &Forward{Fields: []ForwardField{{Name: "_all", Length: 3, Terms: []TermFreq{{Term: "a", TF: 2}, {Term: "b", TF: 1}}}}}
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
	if string(TermKey("i", "a", "bc")) == string(TermKey("i", "ab", "c")) {
		t.Fatal("keys collide")
	}
	if string(forwardKey("a", "b/c")) == string(forwardKey("a/b", "c")) {
		t.Fatal("forward keys collide")
	}
}

func TestDecodeForwardCorrupt(t *testing.T) {
	f := &Forward{Fields: []ForwardField{{Name: "x", Length: 1, Terms: []TermFreq{{Term: "y", TF: 1}}}}}
	b := f.encode(nil)
	for i := 0; i < len(b); i++ {
		if _, err := decodeForward(b[:i]); err == nil {
			t.Errorf("truncated at %d: no error", i)
		}
	}
}

// TestPostingLog: a term's postings are a log of merge operands; the last
// entry of a document wins across and within batches, and removals drop it.
func TestPostingLog(t *testing.T) {
	s, err := Open("db", Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := s.NewBatch()
	b.MergePostings("i", "f", "t", []Posting{{"b", 1, 4}, {"a", 2, 5}, {"c", 1, 1}})
	b.MergePostings("i", "f", "t", []Posting{{"b", 0, 0}, {"a", 3, 6}})
	b.MergePostings("i", "f", "u", nil) // nothing to write
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	b = s.NewBatch()
	b.MergePostings("i", "f", "t", []Posting{{"c", 0, 0}, {"b", 5, 9}})
	b.SetPosting("i", "g", "t", "z", 1, 1)
	b.SetPosting("i", "g", "t", "z", 0, 0) // emptied: the term reads as absent
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	ps, err := s.Postings("i", "f", "t")
	if want := []Posting{{"a", 3, 6}, {"b", 5, 9}}; err != nil || !reflect.DeepEqual(ps, want) {
		t.Fatalf("Postings = %+v, %v; want %+v", ps, err, want)
	}
	for _, term := range [][2]string{{"f", "u"}, {"g", "t"}} {
		if ps, err := s.Postings("i", term[0], term[1]); err != nil || ps != nil {
			t.Fatalf("Postings %v = %+v, %v", term, ps, err)
		}
	}
	var all []string
	err = s.EachPosting(func(index, field, term string, p Posting) error {
		all = append(all, index+"|"+field+"|"+term+"|"+p.ID)
		return nil
	})
	if want := []string{"i|f|t|a", "i|f|t|b"}; err != nil || !reflect.DeepEqual(all, want) {
		t.Fatalf("EachPosting = %v, %v", all, err)
	}
	// A truncated log is an error, not a silently shorter list.
	if err := s.DB().Merge(TermKey("i", "f", "t"), []byte{5, 'x'}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Postings("i", "f", "t"); err == nil {
		t.Fatal("corrupt log read without error")
	}
}

// TestLayoutVersion: a store of the layout with a key per posting is
// refused, read-write and read-only; a store of this layout reopens.
func TestLayoutVersion(t *testing.T) {
	fs := vfs.NewMem()
	db, err := pebble.Open("old", &pebble.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("p\x01i\x01f\x01t\x01x"), []byte{1, 1}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open("old", Options{FS: fs}); err == nil || !strings.Contains(err.Error(), "layout 1") {
		t.Fatalf("Open of a layout-1 store: %v", err)
	}
	if _, err := OpenReadOnly("old", Options{FS: fs}); err == nil {
		t.Fatal("OpenReadOnly of a layout-1 store: no error")
	}
	s, err := Open("new", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = OpenReadOnly("new", Options{FS: fs}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open("new", Options{FS: fs}); err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// TestForwards: the batched lookup returns what Forward returns, in the
// caller's order, missing and repeated documents included, from the
// memtable and from sstables alike.
func TestForwards(t *testing.T) {
	s, err := Open("db", Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fwd := func(n uint32) *Forward {
		return &Forward{Fields: []ForwardField{{Name: "f", Length: n, Terms: []TermFreq{{Term: "t", TF: n}}}}}
	}
	b := s.NewBatch()
	for i := range uint32(50) {
		b.SetForward("i", "d"+strconv.Itoa(int(i)), fwd(i+1))
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().Flush(); err != nil {
		t.Fatal(err)
	}
	b = s.NewBatch()
	b.SetForward("j", "d7", fwd(99)) // memtable only
	b.SetForward("i", "d3", nil)     // deleted over the sstable
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	refs := []DocRef{{"i", "d9"}, {"j", "d7"}, {"i", "nope"}, {"i", "d3"}, {"i", "d49"}, {"i", "d9"}, {"i", "d0"}, {"", ""}}
	got, err := s.Forwards(refs)
	if err != nil {
		t.Fatal(err)
	}
	for k, r := range refs {
		want, err := s.Forward(r.Index, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got[k], want) {
			t.Errorf("%v: %+v, want %+v", r, got[k], want)
		}
	}
	if got[0] == nil || got[1] == nil || got[2] != nil || got[3] != nil {
		t.Fatalf("unexpected presence: %v", got)
	}
}
