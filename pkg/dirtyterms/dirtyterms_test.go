package dirtyterms

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/termflow/termflow/pkg/progress"
)

func sample() *Event {
	return &Event{
		V: Version, Indexer: "indexer-1", Topic: "termflow.documents", Partition: 3, FirstOffset: 10, LastOffset: 12,
		Records: []Record{
			{Offset: 10, Index: "books", ID: "1", Source: json.RawMessage(`{"id":"1","t":"a b"}`), Count: 1,
				Fields: []FieldDelta{{Field: "_all", Docs: 1, Length: 3}}},
			{Offset: 12, Index: "books", ID: "2", Deleted: true, Count: -1},
		},
		Terms:    []Term{{Index: "books", Field: "_all", Term: "a", Ops: []Op{{0, 1, 3}, {1, 0, 0}}}},
		Progress: []progress.Message{{Operation: "op1", Stage: progress.Indexed, Seqs: progress.Ranges{{0, 1}}}},
	}
}

func TestRoundTrip(t *testing.T) {
	e := sample()
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"ops":[[0,1,3],[1,0,0]]`) {
		t.Errorf("ops not in compact form: %s", b)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, e)
	}
}

func TestDecodeRejects(t *testing.T) {
	e := sample()
	e.Terms[0].Ops = append(e.Terms[0].Ops, Op{Rec: 5, TF: 1})
	b, _ := e.Encode()
	if _, err := Decode(b); err == nil || !strings.Contains(err.Error(), "references record 5") {
		t.Errorf("dangling record reference: %v", err)
	}
	e = sample()
	e.V = 9
	b, _ = e.Encode()
	if _, err := Decode(b); err == nil {
		t.Error("wrong version accepted")
	}
	if _, err := Decode([]byte(`{"v":1,"terms":[{"ops":[[0,-1,0]]}]}`)); err == nil {
		t.Error("negative tf accepted")
	}
}

func TestOpJSON(t *testing.T) {
	for in, want := range map[string]Op{
		`[0,0,0]`:                   {},
		"[ 12 , 3 ,\n 40 ]":         {Rec: 12, TF: 3, Length: 40},
		`[7,4294967295,4294967295]`: {Rec: 7, TF: 1<<32 - 1, Length: 1<<32 - 1},
	} {
		var got Op
		if err := got.UnmarshalJSON([]byte(in)); err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", in, got, err, want)
		}
		b, _ := want.MarshalJSON()
		var back Op
		if err := back.UnmarshalJSON(b); err != nil || back != want {
			t.Errorf("round trip of %+v through %s: %+v %v", want, b, back, err)
		}
	}
	for _, in := range []string{`[1,2]`, `[1,2,3,4]`, `[-1,2,3]`, `[1,2.0,3]`, `[1,2,4294967296]`, `{}`, `[1,2,3]x`, `[1e2,2,3]`, `[,1,2]`, ``} {
		var o Op
		if err := o.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("%q accepted as %+v", in, o)
		}
	}
}
