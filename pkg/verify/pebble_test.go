package verify

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/analysis"
	"github.com/termflow/termflow/pkg/pebblestore"
)

// forwardOf is the indexer's forward entry of an analyzed document.
func forwardOf(d analysis.Document) *pebblestore.Forward {
	f := &pebblestore.Forward{}
	for _, fl := range d.Fields {
		ff := pebblestore.ForwardField{Name: fl.Name, Length: fl.Length, Terms: slices.Clone(fl.Terms)}
		sort.Slice(ff.Terms, func(i, j int) bool { return ff.Terms[i].Term < ff.Terms[j].Term })
		f.Fields = append(f.Fields, ff)
	}
	return f
}

// memStore writes the state of recs into an in-memory store, as the indexer
// that applied them would, then lets edit change it.
func memStore(t *testing.T, name string, recs []*kgo.Record, edit func(b *pebblestore.Batch)) *PebbleStore {
	t.Helper()
	s, err := pebblestore.Open("db", pebblestore.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e := ExpectedFrom(recs, 0, nil)
	e.build()
	b := s.NewBatch()
	for k, ps := range e.terms {
		for _, p := range ps {
			b.SetPosting(k.index, k.field, k.term, p.Doc, p.TF, p.Length)
		}
	}
	for _, d := range e.docs {
		b.SetForward(d.index, d.id, forwardOf(d.an))
	}
	for p, off := range e.lastOffset {
		b.SetApplied("docs", p, off)
	}
	b.SetApplied("other-topic", 7, 99)
	if edit != nil {
		edit(b)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	ps, err := ReadPebble(s, name, "docs")
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func partitions(recs []*kgo.Record, ps ...int32) []*kgo.Record {
	var out []*kgo.Record
	for _, r := range recs {
		if slices.Contains(ps, r.Partition) {
			out = append(out, r)
		}
	}
	return out
}

func TestComparePebble(t *testing.T) {
	recs := corpus() // partitions 0, 1 and 2
	stale := partitions(recs, 1)[:1]
	e := ExpectedFrom(recs, 0, nil)
	act := actualOf(t, e, false)
	for _, tc := range []struct {
		name   string
		stores func(t *testing.T) []*PebbleStore
		kinds  []string
		diff   string
	}{
		{
			name: "one store holds everything",
			stores: func(t *testing.T) []*PebbleStore {
				return []*PebbleStore{memStore(t, "a", recs, nil)}
			},
		},
		{
			name: "partitions spread over stores, a stale copy is ignored",
			stores: func(t *testing.T) []*PebbleStore {
				return []*PebbleStore{
					memStore(t, "a", append(partitions(recs, 0), stale...), nil),
					memStore(t, "b", partitions(recs, 1, 2), nil),
				}
			},
		},
		{
			name: "a partition in no store",
			stores: func(t *testing.T) []*PebbleStore {
				return []*PebbleStore{memStore(t, "a", partitions(recs, 0, 1), nil)}
			},
			kinds: []string{KindPebblePartition}, diff: "pebble partition: partition 2 (last offset 5999) is in no store",
		},
		{
			name: "a store behind the topic",
			stores: func(t *testing.T) []*PebbleStore {
				return []*PebbleStore{memStore(t, "a", append(partitions(recs, 0, 2), stale...), nil)}
			},
			kinds: []string{KindPebblePartition}, // its first record is all that is left of the partition
			diff:  "pebble partition: partition 1: a applied offset 0, the topic's last is 2",
		},
		{
			name: "posting missing, extra and different",
			stores: func(t *testing.T) []*PebbleStore {
				return []*PebbleStore{memStore(t, "a", recs, func(b *pebblestore.Batch) {
					b.SetPosting("b", "t", "red", "2", 0, 0)
					b.SetPosting("b", "t", "red", "1", 1, 2)
					b.SetPosting("b", "t", "common", "c7", 3, 1)
				})}
			},
			kinds: []string{KindPebblePostingMissing, KindPebblePostingExtra, KindPebblePostingValue},
			diff:  `pebble posting value: b|common|t: doc "c7" tf 3 length 1, want tf 1 length 1`,
		},
		{
			name: "forward entries",
			stores: func(t *testing.T) []*PebbleStore {
				return []*PebbleStore{memStore(t, "a", recs, func(b *pebblestore.Batch) {
					b.SetForward("b", "2", nil)
					b.SetForward("b", "4", &pebblestore.Forward{})
					b.SetForward("b", "1", &pebblestore.Forward{Fields: []pebblestore.ForwardField{{Name: "t", Length: 2,
						Terms: []pebblestore.TermFreq{{Term: "green", TF: 1}, {Term: "apple", TF: 2}}}}})
				})}
			},
			kinds: []string{KindPebbleForwardMissing, KindPebbleForwardExtra, KindPebbleForwardValue},
			diff:  `pebble forward value: b/1: field "_all" missing`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Compare(e, act, tc.stores(t), 0)
			if got := slices.Sorted(maps.Keys(r.Kinds)); !slices.Equal(got, slices.Sorted(slices.Values(tc.kinds))) {
				t.Fatalf("kinds %v, want %v; diffs:\n%s", got, tc.kinds, strings.Join(r.Diffs, "\n"))
			}
			if tc.diff != "" && !slices.ContainsFunc(r.Diffs, func(d string) bool { return strings.Contains(d, tc.diff) }) {
				t.Errorf("no difference contains %q:\n%s", tc.diff, strings.Join(r.Diffs, "\n"))
			}
		})
	}
}

func TestReadPebbleAppliedOffsets(t *testing.T) {
	ps := memStore(t, "a", corpus(), nil)
	if want := map[int32]int64{0: 3, 1: 2, 2: 5999}; !maps.Equal(ps.Applied, want) {
		t.Fatalf("applied %v, want %v", ps.Applied, want)
	}
}
