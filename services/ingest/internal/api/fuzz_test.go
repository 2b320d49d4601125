package api

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/termflow/termflow/pkg/document"
)

// FuzzParseBulk: the bulk body parser (JSON array and NDJSON) never panics;
// every document it takes is one valid JSON object of valid UTF-8 within
// the document size, with a valid id, in the order of the body; every
// document it refuses is listed (up to maxItems) with its line.
func FuzzParseBulk(f *testing.F) {
	for _, s := range []string{
		`[{"id":1,"t":"a"},{"id":"b"},{"id":3,"_delete":true}]`,
		"{\"id\":1}\n\n{\"id\":2}\r\n{\"id\":\"x\",\"_delete\":true}\n",
		`[{"id":1},{"id":1,"id":2},{"a":1},{"id":"\u0000"},{"id":"a/../b","x":{"y":[1,{"z":null}]}}]`,
		"{\"id\":\"\xff\"}\n{\"id\":1,\"t\":\"NUL\\u0000\"}\n",
		`[{"id":1e999,"n":-0.0e-0}] trailing`, `[`, `]`, `[{"id":1},]`, `{"id":1}`, "",
		`[{"id":"` + strings.Repeat("i", 513) + `"}]`, "[" + strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40) + "]",
	} {
		f.Add([]byte(s), strings.HasPrefix(s, "{") || s == "")
	}
	const maxBytes = 4096
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		var p parsed
		if ndjson {
			p = parseNDJSON(body, maxBytes)
		} else {
			var err error
			if p, err = parseArray(body, maxBytes); err != nil {
				if len(p.items) > 0 || p.invalid > 0 {
					t.Fatalf("error %v with a partial parse", err)
				}
				return
			}
		}
		if len(p.errs) != min(p.invalid, maxItems) {
			t.Fatalf("%d invalid, %d listed", p.invalid, len(p.errs))
		}
		deletes, last := 0, 0
		for _, it := range p.items {
			if it.line <= last {
				t.Fatalf("line %d after line %d", it.line, last)
			}
			last = it.line
			if document.ValidateID(it.id) != nil {
				t.Fatalf("accepted id %q", it.id)
			}
			if it.src == nil {
				deletes++
				continue
			}
			if len(it.src) > maxBytes || !utf8.Valid(it.src) || !json.Valid(it.src) || it.src[0] != '{' {
				t.Fatalf("accepted document %q", it.src)
			}
			var m map[string]any
			dec := json.NewDecoder(bytes.NewReader(it.src))
			dec.UseNumber() // huge numbers are valid JSON, kept as written
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("accepted document %q: %v", it.src, err)
			}
			if _, del := m[deleteKey]; del {
				t.Fatalf("accepted document with %q: %q", deleteKey, it.src)
			}
		}
		if deletes != p.deletes {
			t.Fatalf("%d deletes counted, %d found", p.deletes, deletes)
		}
		for _, e := range p.errs {
			if e.Line < 1 || e.Error == "" {
				t.Fatalf("item error %+v", e)
			}
		}
		// The limits never take back what they were not given, and keep
		// the order.
		a := &API{cfg: Config{Limits: Limits{MaxDocuments: 10, MaxFields: 5, MaxDepth: 3, MaxStringBytes: 16, MaxQueryBytes: 1, MaxQueryTerms: 1}}}
		n := len(p.items) + p.invalid
		a.applyLimits(&p)
		if len(p.items)+p.invalid != n {
			t.Fatalf("limits changed the count %d -> %d", n, len(p.items)+p.invalid)
		}
		for i := 1; i < len(p.errs); i++ {
			if p.errs[i].Line < p.errs[i-1].Line {
				t.Fatalf("errors out of order: %+v", p.errs)
			}
		}
	})
}
