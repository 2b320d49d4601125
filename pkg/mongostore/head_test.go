package mongostore

import (
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestHeadStoredSlim checks the stored form of term heads: an inline head
// is written without its field, term and chunk list, a chunked one without
// its field and term; both read back as they were; and a full head of an
// earlier version reads as the same head.
func TestHeadStoredSlim(t *testing.T) {
	inline := headDoc{ID: TermKey("books", "a|b", "go"), Index: "books", N: 2,
		Chunks: []chunkMeta{{Lo: 0, Hi: -1, N: 2}}, P: []byte{2, 1, 'x', 1, 3, 1, 'y', 2, 4}}
	chunked := headDoc{ID: TermKey("books", "body", "the"), Index: "books", N: 9000,
		Chunks: []chunkMeta{{Lo: 0, Hi: 1 << 40, N: 4000}, {Lo: 1<<40 + 1, Hi: -1, N: 5000}}}
	for _, tc := range []struct {
		name        string
		h           headDoc
		field, term string // in its key
		keys        []string
	}{
		{"inline", inline, "a|b", "go", []string{"_id", "index", "n", "p"}},
		{"chunked", chunked, "body", "the", []string{"_id", "index", "n", "chunks"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := bson.Marshal(tc.h)
			if err != nil {
				t.Fatal(err)
			}
			elems, err := bson.Raw(raw).Elements()
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, e := range elems {
				keys = append(keys, e.Key())
			}
			if !reflect.DeepEqual(keys, tc.keys) {
				t.Errorf("stored keys %v, want %v", keys, tc.keys)
			}
			var back headDoc
			if err := bson.Unmarshal(raw, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.h) {
				t.Errorf("read back %+v, want %+v", back, tc.h)
			}
			// As an earlier version stored it: every field.
			old := bson.D{{Key: "_id", Value: tc.h.ID}, {Key: "index", Value: tc.h.Index}, {Key: "field", Value: tc.field},
				{Key: "term", Value: tc.term}, {Key: "n", Value: tc.h.N}, {Key: "chunks", Value: tc.h.Chunks}}
			if tc.h.P != nil {
				old = append(old, bson.E{Key: "p", Value: tc.h.P})
			}
			raw, err = bson.Marshal(old)
			if err != nil {
				t.Fatal(err)
			}
			back = headDoc{}
			if err := bson.Unmarshal(raw, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.h) {
				t.Errorf("full head read as %+v, want %+v", back, tc.h)
			}
		})
	}
	raw, err := bson.Marshal(bson.D{{Key: "_id", Value: "nobar"}, {Key: "index", Value: "books"}, {Key: "n", Value: 1}})
	if err != nil {
		t.Fatal(err)
	}
	var h headDoc
	if err := bson.Unmarshal(raw, &h); err == nil {
		t.Errorf("a head whose _id is no term key read as %+v", h)
	}
}

// TestHeadMarshalMatchesWire: the hand-written MarshalBSON writes exactly
// the bytes bson.Marshal writes for the head's stored form.
func TestHeadMarshalMatchesWire(t *testing.T) {
	for _, h := range []headDoc{
		{ID: TermKey("books", "body", "go"), Index: "books", N: 2, Chunks: []chunkMeta{{Lo: 0, Hi: -1, N: 2}}, P: []byte{2, 1, 'x', 1, 3, 1, 'y', 2, 4}},
		{ID: TermKey("books", "body", "the"), Index: "books", N: 9000,
			Chunks: []chunkMeta{{Lo: 0, Hi: 1 << 40, N: 4000}, {Lo: 1<<40 + 1, Hi: -1, N: 5000}}},
		{ID: TermKey("b", "_all", "naïve"), Index: "b", N: -1},
		{ID: TermKey("b", "t", "x"), Index: "", N: 1 << 50, Chunks: []chunkMeta{}, P: []byte{}},
		{ID: TermKey("b", "t", "many"), Index: "b", N: 12, Chunks: make([]chunkMeta, 12)},
	} {
		got, err := h.MarshalBSON()
		if err != nil {
			t.Fatal(err)
		}
		w := headWire{ID: h.ID, Index: h.Index, N: h.N, P: h.P}
		if !h.inline() {
			w.Chunks = h.Chunks
		}
		want, err := bson.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("head %+v:\n got %v\nwant %v", h, bson.Raw(got), bson.Raw(want))
		}
		if via, err := marshal(h); err != nil || !reflect.DeepEqual(via, want) {
			t.Errorf("marshal(head %+v) = %v, %v", h, bson.Raw(via), err)
		}
	}
}

// BenchmarkHeadMarshal: an inline head, by hand and through the
// reflecting encoder (the path before).
func BenchmarkHeadMarshal(b *testing.B) {
	h := headDoc{ID: TermKey("bench", "body", "quantum"), Index: "bench", N: 3, P: make([]byte, 40)}
	w := headWire{ID: h.ID, Index: h.Index, N: h.N, P: h.P}
	b.Run("path=hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := marshal(h); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("path=reflect", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := bson.Marshal(w); err != nil {
				b.Fatal(err)
			}
		}
	})
}
