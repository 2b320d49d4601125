package dirtyterms

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzDecode: any input either fails to decode or decodes to an event
// whose encoding is a fixed point: decode(encode(e)) == e, encoded alike.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"indexer":"ix","topic":"docs","partition":3,"firstOffset":1,"lastOffset":2,"records":[{"o":1,"i":"b","id":"1","src":{"t":"x"},"n":1,"f":[{"f":"t","d":1,"l":1}]}],"terms":[{"i":"b","f":"t","t":"x","ops":[[0,1,1]]}]}`,
		`{"v":1,"records":null,"terms":[]}`,
		`{"v":1,"records":[{"o":5,"i":"b","id":"\u00e9\ud83c\udf89","del":true,"n":-1}],"terms":[{"i":"b","f":"_all","t":"x","ops":[[0,0,0]]}]}`,
		`{"v":2}`, `{"v":1,"terms":[{"ops":[[3,1,1]]}]}`, `[]`, ``, `{"v":1,"records":[{"src":"\ud800"}]}`,
	} {
		f.Add([]byte(s))
	}
	for i := range 8 {
		b, err := randomEventOf(rand.New(rand.NewPCG(uint64(i), 6)), trickyStrings).Encode()
		if err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e1, err := Decode(b)
		if err != nil {
			return
		}
		b1, err := e1.Encode()
		if err != nil {
			t.Fatalf("decoded event does not encode: %v\n%s", err, b)
		}
		e2, err := Decode(b1)
		if err != nil {
			t.Fatalf("encoded event does not decode: %v\n%s", err, b1)
		}
		b2, err := e2.Encode()
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("encoding is no fixed point: %v\n%s\n%s", err, b1, b2)
		}
		e3, _ := Decode(b2)
		if !reflect.DeepEqual(e2, e3) {
			t.Fatalf("decode(encode(e)) != e:\n%+v\n%+v", e2, e3)
		}
	})
}

// FuzzRoundTrip: an event built from arbitrary values survives
// encode/decode unchanged (strings must be valid UTF-8, which JSON cannot
// carry otherwise; a source must be a JSON object, which Encode checks).
func FuzzRoundTrip(f *testing.F) {
	f.Add("ix-1", "books", "42", "title", "hello", int64(7), uint32(2), uint32(5), []byte(`{"title":"hello hello"}`), false)
	f.Add("", "", "a/../b", "_all", "日本", int64(-1), uint32(0), uint32(0), []byte(nil), true)
	f.Add("x\"y", "b", "\x00", "f\u2028", "<&>", int64(1)<<62, ^uint32(0), ^uint32(0), []byte(" {\"a\" : [1, 2]} "), false)
	f.Fuzz(func(t *testing.T, indexer, index, id, field, term string, off int64, tf, length uint32, src []byte, del bool) {
		for _, s := range []string{indexer, index, id, field, term} {
			if !utf8.ValidString(s) {
				return
			}
		}
		rec := Record{Offset: off, Index: index, ID: id, Deleted: del, Count: 1,
			Fields: []FieldDelta{{Field: field, Docs: 1, Length: int64(length)}}}
		if len(src) > 0 {
			rec.Source = json.RawMessage(src)
		}
		e := &Event{V: Version, Indexer: indexer, Topic: "docs", Partition: 1, FirstOffset: off, LastOffset: off,
			Records: []Record{rec}, Terms: []Term{{Index: index, Field: field, Term: term, Ops: []Op{{Rec: 0, TF: tf, Length: length}}}}}
		b, err := e.Encode()
		var obj map[string]json.RawMessage
		validSrc := len(src) == 0 || json.Unmarshal(src, &obj) == nil && utf8.Valid(src)
		if err != nil {
			if validSrc {
				t.Fatalf("encode: %v", err)
			}
			return
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("decode: %v\n%s", err, b)
		}
		if len(src) > 0 {
			var c bytes.Buffer
			if err := json.Compact(&c, src); err != nil {
				t.Fatalf("encode took a source that does not compact: %v", err)
			}
			if !bytes.Equal(got.Records[0].Source, c.Bytes()) {
				// json.Marshal also escapes <, >, & and U+2028/9; compare by meaning.
				var x, y any
				_ = json.Unmarshal(got.Records[0].Source, &x)
				_ = json.Unmarshal(c.Bytes(), &y)
				if !reflect.DeepEqual(x, y) {
					t.Fatalf("source %s came back as %s", src, got.Records[0].Source)
				}
			}
			got.Records[0].Source, e.Records[0].Source = nil, nil
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("decode(encode(e)) != e:\n%+v\n%+v", got, e)
		}
	})
}
