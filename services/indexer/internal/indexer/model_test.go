package indexer

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/analysis"
	"github.com/termflow/termflow/pkg/dirtyterms"
	"github.com/termflow/termflow/pkg/pebblestore"
)

// modelDoc is a document as the model holds it: field → term → tf, and
// field → length.
type modelDoc struct {
	terms   map[string]map[string]uint32
	lengths map[string]uint32
}

func modelOf(t *testing.T, src string) *modelDoc {
	t.Helper()
	an, err := analysis.AnalyzeJSON([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	d := &modelDoc{terms: map[string]map[string]uint32{}, lengths: map[string]uint32{}}
	for _, f := range an.Fields {
		terms := make(map[string]uint32, len(f.Terms))
		for _, t := range f.Terms {
			terms[t.Term] = t.TF
		}
		d.terms[f.Name], d.lengths[f.Name] = terms, f.Length
	}
	return d
}

// TestIndexBatchMatchesModel runs random batches of new documents,
// replacements, deletes and repeats of one document, over two indexes,
// through indexBatch, and checks every event, forward entry and posting
// list against a model that diffs term maps record by record, the plainest
// way there is.
func TestIndexBatchMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	words := strings.Fields("red green blue apple pear plum fig kiwi lime date sloe yuzu")
	s, err := pebblestore.Open("db", pebblestore.Options{FS: vfs.NewMem(), MemTableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	state := map[docKey]*modelDoc{}
	offset := int64(0)
	for batch := range 60 {
		var recs []*kgo.Record
		type change struct {
			key       docKey
			old, next *modelDoc
		}
		var changes []change
		overlay := map[docKey]*modelDoc{}
		lookup := func(k docKey) *modelDoc {
			if d, ok := overlay[k]; ok {
				return d
			}
			return state[k]
		}
		for range 1 + rng.IntN(40) {
			k := docKey{[]string{"a", "b"}[rng.IntN(2)], fmt.Sprint(rng.IntN(12))}
			key := k.index + "/" + k.id
			old := lookup(k)
			if rng.IntN(6) == 0 {
				recs = append(recs, rec(offset, key, ""))
				changes = append(changes, change{k, old, nil})
				overlay[k] = nil
			} else {
				doc := map[string]string{}
				for _, f := range []string{"t", "u", "title"} {
					if rng.IntN(3) > 0 {
						var ws []string
						for range 1 + rng.IntN(6) {
							ws = append(ws, words[rng.IntN(len(words))])
						}
						doc[f] = strings.Join(ws, " ")
					}
				}
				src, _ := json.Marshal(doc)
				env, _ := json.Marshal(map[string]any{"v": 1, "index": k.index, "id": k.id, "doc": json.RawMessage(src)})
				recs = append(recs, rec(offset, key, string(env)))
				next := modelOf(t, string(src))
				changes = append(changes, change{k, old, next})
				overlay[k] = next
			}
			offset++
		}
		res := run(t, s, recs...)

		// The model's event: ops by (index, field, term), in record order.
		type tk struct{ index, field, term string }
		ops := map[tk][]dirtyterms.Op{}
		var records []dirtyterms.Record
		for ri, c := range changes {
			r := dirtyterms.Record{Offset: recs[ri].Offset, Index: c.key.index, ID: c.key.id, Deleted: c.next == nil}
			switch {
			case c.old == nil && c.next != nil:
				r.Count = 1
			case c.old != nil && c.next == nil:
				r.Count = -1
			}
			fields := map[string]bool{}
			for _, d := range []*modelDoc{c.old, c.next} {
				if d != nil {
					for f := range d.terms {
						fields[f] = true
					}
				}
			}
			for _, f := range slices.Sorted(maps.Keys(fields)) {
				var fd dirtyterms.FieldDelta
				fd.Field = f
				var ot, nt map[string]uint32
				var ol, nl uint32
				if c.old != nil {
					if ot = c.old.terms[f]; ot != nil {
						fd.Docs--
						ol = c.old.lengths[f]
						fd.Length -= int64(ol)
					}
				}
				if c.next != nil {
					if nt = c.next.terms[f]; nt != nil {
						fd.Docs++
						nl = c.next.lengths[f]
						fd.Length += int64(nl)
					}
				}
				if fd.Docs != 0 || fd.Length != 0 {
					r.Fields = append(r.Fields, fd)
				}
				for term := range ot {
					if _, ok := nt[term]; !ok {
						k := tk{c.key.index, f, term}
						ops[k] = append(ops[k], dirtyterms.Op{Rec: ri})
					}
				}
				for term, tf2 := range nt {
					if tf1, ok := ot[term]; !ok || tf1 != tf2 || ol != nl {
						k := tk{c.key.index, f, term}
						ops[k] = append(ops[k], dirtyterms.Op{Rec: ri, TF: tf2, Length: nl})
					}
				}
			}
			records = append(records, r)
		}
		keys := make([]tk, 0, len(ops))
		for k := range ops {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b tk) int {
			return cmpStrings(a.index, b.index, a.field, b.field, a.term, b.term)
		})
		var terms []dirtyterms.Term
		for _, k := range keys {
			terms = append(terms, dirtyterms.Term{Index: k.index, Field: k.field, Term: k.term, Ops: ops[k]})
		}
		ev := res.event
		for i := range ev.Records {
			ev.Records[i].Source = nil
			if len(ev.Records[i].Fields) == 0 {
				ev.Records[i].Fields = nil // empty or nil: the same event
			}
		}
		if !reflect.DeepEqual(ev.Records, records) {
			t.Fatalf("batch %d: records\n got %+v\nwant %+v", batch, ev.Records, records)
		}
		if len(ev.Terms) != len(terms) {
			t.Fatalf("batch %d: %d terms, want %d", batch, len(ev.Terms), len(terms))
		}
		for i := range terms {
			if !reflect.DeepEqual(ev.Terms[i], terms[i]) {
				t.Fatalf("batch %d: term %d\n got %+v\nwant %+v", batch, i, ev.Terms[i], terms[i])
			}
		}

		// The store: every forward entry sorted and equal to the model,
		// every posting list of the batch's terms the model's.
		for k, d := range overlay {
			state[k] = d
			if d == nil {
				delete(state, k)
			}
			f, err := s.Forward(k.index, k.id)
			if err != nil {
				t.Fatal(err)
			}
			if (f == nil) != (d == nil) {
				t.Fatalf("batch %d: forward of %v is %+v, model %+v", batch, k, f, d)
			}
			if f == nil {
				continue
			}
			if !slices.IsSortedFunc(f.Fields, compareForwardFields) || len(f.Fields) != len(d.terms) {
				t.Fatalf("batch %d: forward fields of %v %+v", batch, k, f.Fields)
			}
			for _, ff := range f.Fields {
				// Terms in any order (analysis order since the thirteenth
				// session), each once.
				seen := map[string]bool{}
				for _, tf := range ff.Terms {
					if seen[tf.Term] {
						t.Fatalf("batch %d: forward field of %v has %q twice: %+v", batch, k, tf.Term, ff)
					}
					seen[tf.Term] = true
				}
				if len(ff.Terms) != len(d.terms[ff.Name]) || ff.Length != d.lengths[ff.Name] {
					t.Fatalf("batch %d: forward field of %v %+v", batch, k, ff)
				}
				for _, tf := range ff.Terms {
					if d.terms[ff.Name][tf.Term] != tf.TF {
						t.Fatalf("batch %d: forward of %v: %s %s tf %d, model %d", batch, k, ff.Name, tf.Term, tf.TF, d.terms[ff.Name][tf.Term])
					}
				}
			}
		}
		for _, k := range keys {
			ps, err := s.Postings(k.index, k.field, k.term)
			if err != nil {
				t.Fatal(err)
			}
			var want []pebblestore.Posting
			for dk, d := range state {
				if tf := d.terms[k.field][k.term]; dk.index == k.index && tf > 0 {
					want = append(want, pebblestore.Posting{ID: dk.id, TF: tf, Length: d.lengths[k.field]})
				}
			}
			slices.SortFunc(want, func(a, b pebblestore.Posting) int { return strings.Compare(a.ID, b.ID) })
			got := slices.Clone(ps)
			slices.SortFunc(got, func(a, b pebblestore.Posting) int { return strings.Compare(a.ID, b.ID) })
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("batch %d: postings of %v\n got %+v\nwant %+v", batch, k, got, want)
			}
		}
	}
}

func cmpStrings(pairs ...string) int {
	for i := 0; i+1 < len(pairs); i += 2 {
		if c := strings.Compare(pairs[i], pairs[i+1]); c != 0 {
			return c
		}
	}
	return 0
}
