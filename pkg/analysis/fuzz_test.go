package analysis

import (
	"strings"
	"testing"
	"unicode/utf8"
)

var fuzzTexts = []string{"", "Hello, World", "don't stop 3.14 net/http", "日本語のテキスト", "bad \xff\xfe utf8 \xe2\x80",
	"NUL\x00byte", "ǅungla İstanbul ΣΊΣΥΦΟΣ", strings.Repeat("a", MaxTermBytes+1) + " ok", "🎉 emoji 👩‍👩‍👧",
	"a\u0301 combining", "title:Go _all:x :colon colon: ::", "\u2028\u2029\ufeff zero\u200bwidth"}

// checkTerm fails unless term is a term the index can hold.
func checkTerm(t *testing.T, term string) {
	t.Helper()
	if term == "" || len(term) > 4*MaxTermBytes || !utf8.ValidString(term) {
		t.Fatalf("bad term %q", term)
	}
}

// FuzzTokens: the analyzer never panics and always yields valid UTF-8.
func FuzzTokens(f *testing.F) {
	for _, s := range fuzzTexts {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		Tokens(text, func(term string) { checkTerm(t, term) })
	})
}

// FuzzAnalyzeJSON: any bytes either fail or analyze into fields whose
// names and terms are valid UTF-8, within the limits, and the same as the
// decoder's path gives.
func FuzzAnalyzeJSON(f *testing.F) {
	for _, s := range []string{`{"title":"Hello World","n":1.5e300,"b":true,"z":null}`, `{"a":{"b":[{"c":"d"}]},"a.b":"x"}`,
		`{"a":1,"a":2}`, `{"\u0000":"nul key","k":"\u0000"}`, "{\"bad\":\"\xff\"}", `{"t":"\ud800 lone"}`,
		`{"n":123456789012345678901234567890e999999}`, `[1]`, `{"x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + "}",
		`{"_all":"spoof"}`, `{}`, ` {"a":"b"} `, `{"a":"b"}{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := AnalyzeJSON(src)
		if err != nil {
			return
		}
		if n := d.FieldCount(); n > MaxFields {
			t.Fatalf("%d fields accepted", n)
		}
		for _, fl := range d.Fields {
			if !utf8.ValidString(fl.Name) || len(fl.Name) > MaxFieldBytes {
				t.Fatalf("bad field name %q", fl.Name)
			}
			seen := map[string]bool{}
			for _, term := range fl.Terms {
				checkTerm(t, term.Term)
				if seen[term.Term] || term.TF == 0 {
					t.Fatalf("field %q: term %+v (twice: %v)", fl.Name, term, seen[term.Term])
				}
				seen[term.Term] = true
			}
		}
		if Measure(src).Depth > MaxDepth {
			t.Fatalf("document deeper than %d accepted", MaxDepth)
		}
	})
}

// FuzzParseQuery: any query parses into distinct, valid terms of valid
// fields, never panicking.
func FuzzParseQuery(f *testing.F) {
	for _, s := range fuzzTexts {
		f.Add(s)
	}
	f.Add("title:go title:go go GO " + strings.Repeat("x ", 100))
	f.Add("\xff:\xfe a:b:c :: " + strings.Repeat("é", 300) + ":x")
	f.Fuzz(func(t *testing.T, q string) {
		seen := map[QueryTerm]bool{}
		for _, qt := range ParseQuery(q) {
			checkTerm(t, qt.Term)
			if qt.Field == "" || !utf8.ValidString(qt.Field) || len(qt.Field) > MaxFieldBytes {
				t.Fatalf("bad field %q", qt.Field)
			}
			if seen[qt] {
				t.Fatalf("term %v twice", qt)
			}
			seen[qt] = true
		}
	})
}
