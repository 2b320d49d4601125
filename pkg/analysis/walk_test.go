package analysis

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var walkCases = []string{
	`{}`, ` { } `, `{"a":"b"}`, `{"a":"b"} `, `{"a":"b"} x`, `{"a":"b"}{"c":1}`, `null`, `[]`, `"s"`, `1`, ``, `   `,
	`{"id": 7, "title": "Limited Edition", "body": "limited, LIMITED time", "tags": ["a b", "b"], "meta": {"ok": true, "n": 2.5}, "none": null}`,
	`{"a":"x","a":"y"}`, `{"a":{"b":"x"},"a":{"c":"y"}}`, `{"o":{"k":"1","k":"2"}}`,
	`{"e":"tab\tin\\"quote\" \u00e9 \ud83c\udf89 \/ end"}`, `{"bad":"\x"}`, `{"u":"\u12"}`, `{"lone":"\ud800 x"}`,
	"{\"inv\":\"a\xffb\"}", "{\"k\xff\":\"v\"}", "{\"ctl\":\"a\x01b\"}",
	`{"n":[0,-0,1.5,-2e10,3E+2,4e-3,12345678901234567890]}`, `{"n":01}`, `{"n":1.}`, `{"n":.5}`, `{"n":-}`, `{"n":1e}`, `{"n":+1}`,
	`{"t":true,"f":false,"z":null,"tt":tru}`, `{"a":[1,]}`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `{"a":[[["deep"]],{"x":"y"}]}`,
	`{"":"empty key","":"again"}`, `{"":{"x":"under empty"}}`, `{"_all":"own all field","x":"y"}`,
	`{"` + strings.Repeat("k", 300) + `":{"sub":"long path"}}`, `{"a.b":"dotted","a":{"b":"nested"}}`,
	`{"a":"` + strings.Repeat("w ", 200) + `"}`, `{"emoji":"🎉 日本語テキスト ÉCOLE"}`, `{"x":"y"`, `{"x":}`, `{"x":[}`,
	"{\"ws\"\n:\t\"v\"\r\n}", `{"a":1}` + "\n",
}

func manyKeys(n int, dup bool) string {
	var sb strings.Builder
	sb.WriteByte('{')
	for i := range n {
		fmt.Fprintf(&sb, `"k%d":"v%d",`, i, i)
	}
	if dup {
		sb.WriteString(`"k3":"again",`)
	}
	sb.WriteString(`"last":"x"}`)
	return sb.String()
}

func randomJSON(r *rand.Rand, depth int) any {
	words := []string{"alpha", "Beta", "GAMMA", "δέλτα", "e-mail", "x.y", "3.14", "don't", "<b>", "日本", "a\"b", "tab\t", ""}
	switch k := r.IntN(8); {
	case depth > 3 || k < 3:
		return strings.Join([]string{words[r.IntN(len(words))], words[r.IntN(len(words))]}, " ")
	case k == 3:
		return json.Number(fmt.Sprint(r.IntN(2000) - 1000))
	case k == 4:
		return r.IntN(2) == 0
	case k == 5:
		return nil
	case k == 6:
		a := make([]any, r.IntN(4))
		for i := range a {
			a[i] = randomJSON(r, depth+1)
		}
		return a
	default:
		m := map[string]any{}
		for range r.IntN(5) {
			m[words[r.IntN(len(words))]] = randomJSON(r, depth+1)
		}
		return m
	}
}

// TestAnalyzeJSONPathsAgree: the direct walk and encoding/json give the
// same analysis, or both an error, for every case and random documents.
func TestAnalyzeJSONPathsAgree(t *testing.T) {
	cases := append([]string(nil), walkCases...)
	cases = append(cases, manyKeys(5, true), manyKeys(40, false), manyKeys(40, true))
	r := rand.New(rand.NewPCG(7, 7))
	for range 3000 {
		m := map[string]any{}
		for range 1 + r.IntN(6) {
			m[fmt.Sprint("f", r.IntN(8))] = randomJSON(r, 0)
		}
		b, err := json.MarshalIndent(m, "", strings.Repeat(" ", r.IntN(2)))
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, string(b))
	}
	walked := 0
	for _, c := range cases {
		got, gerr := AnalyzeJSON([]byte(c))
		want, werr := analyzeDecoded([]byte(c))
		if (gerr != nil) != (werr != nil) || !reflect.DeepEqual(sortedTerms(got), sortedTerms(want)) {
			t.Fatalf("%q:\n got %+v, %v\nwant %+v, %v", c, got, gerr, want, werr)
		}
		if walkJSON(c, newAccumulator(0)) {
			walked++
		}
	}
	// The direct walk must take on the common documents, or it saves nothing.
	if walked < len(cases)*9/10 {
		t.Fatalf("the walk took %d of %d documents", walked, len(cases))
	}
}

// TestWalkJSONRefuses: what the walk must hand to encoding/json.
func TestWalkJSONRefuses(t *testing.T) {
	for _, c := range []string{`{"a":"x","a":"y"}`, `{"a":"b"} x`, `null`, `{"n":01}`, `{"a":[1,]}`, manyKeys(40, true),
		"{\"ctl\":\"a\x01b\"}", `{"bad":"\x"}`} {
		if walkJSON(c, newAccumulator(0)) {
			t.Errorf("walked %q", c)
		}
	}
}

// sortedTerms puts the terms of d's fields in term order: AnalyzeJSON's
// walk and its decoder's path (which walks a map) count the same terms in
// different orders.
func sortedTerms(d Document) Document {
	for _, f := range d.Fields {
		slices.SortFunc(f.Terms, func(a, b TermFreq) int { return strings.Compare(a.Term, b.Term) })
	}
	return d
}
