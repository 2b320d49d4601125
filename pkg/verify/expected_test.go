package verify

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// rec is a documents-topic record; value "" is a tombstone.
func rec(partition int32, offset int64, key, value string) *kgo.Record {
	r := &kgo.Record{Topic: "docs", Partition: partition, Offset: offset, Key: []byte(key)}
	if value != "" {
		r.Value = []byte(value)
	}
	return r
}

// doc is the envelope of a document of index "b" with field t.
func doc(id, text string) string {
	return fmt.Sprintf(`{"v":1,"index":"b","id":%q,"doc":{"t":%q}}`, id, text)
}

func TestExpected(t *testing.T) {
	for _, tc := range []struct {
		name        string
		recs        []*kgo.Record
		max         int
		indexes     []string
		docs        []string            // live "index/id"
		terms       map[string][]string // term key → "doc:tf:len"
		deadLetters int
	}{
		{
			name:  "latest version wins",
			recs:  []*kgo.Record{rec(0, 0, "b/1", doc("1", "red apple")), rec(0, 1, "b/1", doc("1", "green apple apple"))},
			docs:  []string{"b/1"},
			terms: map[string][]string{"b|green|t": {"1:1:3"}, "b|apple|t": {"1:2:3"}, "b|apple|_all": {"1:2:3"}},
		},
		{
			name: "delete envelope and tombstone",
			recs: []*kgo.Record{rec(0, 0, "b/1", doc("1", "red")), rec(1, 0, "b/2", doc("2", "red")),
				rec(0, 1, "b/1", `{"v":1,"index":"b","id":"1","delete":true}`), rec(1, 1, "b/2", "")},
			terms: map[string][]string{"b|red|t": nil},
		},
		{
			name: "dead letters change nothing",
			recs: []*kgo.Record{rec(0, 0, "b/1", doc("1", "red")), rec(0, 1, "b/1", `not json`),
				rec(0, 2, "b/1", `{"v":2,"index":"b","id":"1","doc":{}}`), rec(0, 3, "b/1", `{"v":1,"index":"b","doc":{}}`),
				rec(0, 4, "bad key", "")},
			docs:        []string{"b/1"},
			terms:       map[string][]string{"b|red|t": {"1:1:1"}},
			deadLetters: 4,
		},
		{
			name:        "records over the size limit are dead letters",
			recs:        []*kgo.Record{rec(0, 0, "b/1", doc("1", "short")), rec(0, 1, "b/1", doc("1", strings.Repeat("long ", 20)))},
			max:         60,
			docs:        []string{"b/1"},
			terms:       map[string][]string{"b|short|t": {"1:1:1"}, "b|long|t": nil},
			deadLetters: 1,
		},
		{
			name: "index filter",
			recs: []*kgo.Record{rec(0, 0, "b/1", doc("1", "red")),
				rec(0, 1, "c/1", `{"v":1,"index":"c","id":"1","doc":{"t":"red"}}`)},
			indexes: []string{"c"},
			docs:    []string{"c/1"},
			terms:   map[string][]string{"c|red|t": {"1:1:1"}, "b|red|t": nil},
		},
		{
			name:  "numeric ids and nested fields",
			recs:  []*kgo.Record{rec(3, 7, "b/42", `{"v":1,"index":"b","id":42,"doc":{"a":{"b":["x y", 3]}}}`)},
			docs:  []string{"b/42"},
			terms: map[string][]string{"b|x|a.b": {"42:1:3"}, "b|3|a.b": {"42:1:3"}, "b|3|_all": {"42:1:3"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ExpectedFrom(tc.recs, tc.max, tc.indexes)
			e.build()
			docs := slices.Sorted(maps.Keys(e.docs))
			if !slices.Equal(docs, tc.docs) {
				t.Errorf("docs %v, want %v", docs, tc.docs)
			}
			for tk, want := range tc.terms {
				parts := strings.Split(tk, "|")
				k := termKey{parts[0], parts[2], parts[1]}
				var got []string
				for _, p := range e.terms[k] {
					got = append(got, fmt.Sprintf("%s:%d:%d", p.Doc, p.TF, p.Length))
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s: %v, want %v", tk, got, want)
				}
			}
			if e.deadLetters != tc.deadLetters {
				t.Errorf("dead letters %d, want %d", e.deadLetters, tc.deadLetters)
			}
			if e.records != len(tc.recs) {
				t.Errorf("records %d, want %d", e.records, len(tc.recs))
			}
		})
	}
}

func TestExpectedStats(t *testing.T) {
	e := ExpectedFrom([]*kgo.Record{
		rec(0, 0, "b/1", `{"v":1,"index":"b","id":"1","doc":{"t":"a b c","u":"x"}}`),
		rec(1, 0, "b/2", `{"v":1,"index":"b","id":"2","doc":{"t":"a"}}`),
		rec(1, 1, "b/3", `{"v":1,"index":"b","id":"3","doc":{"t":""}}`), // no terms: no field
	}, 0, nil)
	e.build()
	if e.counts["b"] != 3 {
		t.Errorf("count %d, want 3", e.counts["b"])
	}
	for k, want := range map[fieldKey]fieldStat{
		{"b", "t"}: {2, 4}, {"b", "u"}: {1, 1}, {"b", "_all"}: {2, 5},
	} {
		if got := e.fields[k]; got != want {
			t.Errorf("%v: %+v, want %+v", k, got, want)
		}
	}
	if len(e.fields) != 3 {
		t.Errorf("fields %v", e.fields)
	}
	if e.postings != 10 { // t: a b c / a; u: x; _all: a b c x / a
		t.Errorf("postings %d, want 10", e.postings)
	}
	if p, ok := e.partitionOf("b", "3"); !ok || p != 1 {
		t.Errorf("partition of b/3: %d %v", p, ok)
	}
	if e.lastOffset[1] != 1 || e.lastOffset[0] != 0 {
		t.Errorf("last offsets %v", e.lastOffset)
	}
}
