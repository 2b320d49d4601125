package document

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecode: the documents-topic envelope decoder never panics, and what
// it accepts is valid: an index name and an id that pass validation, a
// document that is one JSON object of valid UTF-8, and an envelope that
// encodes and decodes to itself.
func FuzzDecode(f *testing.F) {
	for _, s := range []struct{ key, value string }{
		{"books/42", `{"v":1,"index":"books","id":"42","doc":{"title":"Written with kcat"}}`},
		{"books/42", `{"v":1,"index":"books","id":42,"delete":true}`},
		{"books/a/../b", `{"v":1,"index":"books","id":"a/../b","doc":{}}`},
		{"../x/1", `{"v":1,"index":"../x","id":"1","doc":{}}`},
		{"b/1", `{"v":1,"index":"b|x","id":"1","doc":{}}`},
		{"b/1", `{"v":1,"index":"b","id":"\u0000","doc":{}}`},
		{"b/1", "{\"v\":1,\"index\":\"b\",\"id\":\"1\",\"doc\":{\"t\":\"\xff\"}}"},
		{"b/1", `{"v":1,"index":"b","id":"1","doc":{"a":1,"a":2}}`},
		{"b/1", `{"v":1,"index":"b","id":1e999,"doc":{"n":1e999}}`},
		{"b/1", `{"v":2,"index":"b","id":"1","doc":{}}`},
		{"b/1", `{"v":1,"index":"b","id":"1","doc":[1]}`},
		{"b/1", `{"v":1,"v":1,"index":"b","id":"1","doc":{}} `},
		{"b/1", `null`},
		{"b/1", ""},
	} {
		f.Add([]byte(s.key), []byte(s.value), s.value == "")
	}
	f.Fuzz(func(t *testing.T, key, value []byte, tombstone bool) {
		if tombstone {
			value = nil
		}
		e, err := Decode(key, value, 1<<16)
		if err != nil {
			if e.Index != "" || e.ID != "" || e.Doc != nil {
				t.Fatalf("error %v with a partial envelope %+v", err, e)
			}
			return
		}
		if ValidateIndex(e.Index) != nil || ValidateID(e.ID) != nil {
			t.Fatalf("accepted index %q id %q", e.Index, e.ID)
		}
		if strings.Contains(e.Index, "/") || strings.Contains(e.Index, ".") || strings.Contains(e.Index, "|") {
			t.Fatalf("index %q can escape its key range", e.Index)
		}
		if e.Delete {
			if e.Doc != nil {
				t.Fatalf("delete with a document %s", e.Doc)
			}
		} else {
			if !utf8.Valid(e.Doc) || !json.Valid(e.Doc) || len(e.Doc) == 0 || e.Doc[0] != '{' {
				t.Fatalf("document %q is not one JSON object", e.Doc)
			}
		}
		again, err := Decode(Key(e.Index, e.ID), e.Encode(), 1<<20)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", e.Encode(), err)
		}
		if again.Index != e.Index || again.ID != e.ID || again.Delete != e.Delete || !sameJSON(again.Doc, e.Doc) {
			t.Fatalf("round trip %+v -> %+v", e, again)
		}
	})
}

func sameJSON(a, b []byte) bool {
	var x, y bytes.Buffer
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	return json.Compact(&x, a) == nil && json.Compact(&y, b) == nil && bytes.Equal(x.Bytes(), y.Bytes())
}

// FuzzDecodeScanAgrees: the envelope scanner (Decode's fast path) and
// encoding/json read every record alike: the same envelope or the same
// error.
func FuzzDecodeScanAgrees(f *testing.F) {
	for _, s := range []struct{ key, value string }{
		{"books/42", `{"v":1,"index":"books","id":"42","doc":{"title":"Written with kcat","n":[1,2.5,{"x":null}]}}`},
		{"books/42", ` { "v" : 1 , "index" : "books" , "id" : 42 , "delete" : true } `},
		{"", `{"doc":{"a":"é"},"id":"ü/1","index":"b","v":1}`},
		{"b/1", `{"v":1,"index":"b","id":"1","doc":{},"doc":{"a":1}}`},
		{"b/1", `{"v":1,"index":"b","id":"1","Doc":{"a":1}}`},
		{"b/1", `{"v":1,"index":"b","id":"1","doc":{"a":1},"extra":true}`},
		{"b/1", `{"v":01,"index":"b","id":"1","doc":{}}`},
		{"b/1", `{"v":1.0,"index":"b","id":"1","doc":{}}`},
		{"b/1", `{"v":1,"index":"b","id":"\u0031","doc":{}}`},
		{"b/1", `{"v":1,"index":"b","id":-1.5e3,"doc":{}}`},
		{"b/1", `{"v":1,"index":"b","id":"1","delete":false,"doc":{"a":[}}`},
		{"b/1", `{"v":1,"index":"b","id":"1","delete":null,"doc":{}}`},
		{"b/1", `{"v":1,"index":"b","id":"1","doc":{}} x`},
		{"b/2", `{"v":1,"index":"b","id":"1","doc":{}}`},
		{"b/1", `{"v":1,"index":"b","id":"1"}`},
		{"b/1", `{"v":1,"id":"1","doc":{}}`},
	} {
		f.Add([]byte(s.key), []byte(s.value))
	}
	f.Fuzz(func(t *testing.T, key, value []byte) {
		if value == nil {
			value = []byte{}
		}
		fast, ferr := decode(key, value, 1<<16, true)
		slow, serr := decode(key, value, 1<<16, false)
		if (ferr == nil) != (serr == nil) || ferr != nil && ferr.Error() != serr.Error() {
			t.Fatalf("%q: scanned %v, unmarshaled %v", value, ferr, serr)
		}
		if fast.V != slow.V || fast.Index != slow.Index || fast.ID != slow.ID || fast.Delete != slow.Delete || !bytes.Equal(fast.Doc, slow.Doc) {
			t.Fatalf("%q: scanned %+v, unmarshaled %+v", value, fast, slow)
		}
	})
}
