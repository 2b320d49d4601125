package analysis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"testing"
	"unicode/utf8"
)

func TestTokens(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Hello, World!", []string{"hello", "world"}},
		{"net/http.Client", []string{"net", "http.client"}},
		{"don't stop", []string{"don't", "stop"}},
		{"pi is 3.14", []string{"pi", "is", "3.14"}},
		{"ÉCOLE Straße", []string{"école", "straße"}},
		{"日本語テキスト", []string{"日", "本", "語", "テキスト"}},
		{"  -- ... ", nil},
		{"bad\xffbyte", []string{"bad", "byte"}},
		{"Ünïcödé_snake_case", []string{"ünïcödé_snake_case"}},
	}
	for _, tt := range tests {
		got := AppendTokens(nil, tt.in)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Tokens(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTokensDropsLongTerms(t *testing.T) {
	long := make([]byte, MaxTermBytes+1)
	for i := range long {
		long[i] = 'a'
	}
	got := AppendTokens(nil, "short "+string(long))
	if !reflect.DeepEqual(got, []string{"short"}) {
		t.Fatalf("got %q", got)
	}
}

func TestAnalyze(t *testing.T) {
	doc, err := AnalyzeJSON([]byte(`{"id": 7, "title": "Limited Edition", "body": "limited, LIMITED time",
		"tags": ["a b", "b"], "meta": {"ok": true, "n": 2.5}, "none": null}`))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range doc.Fields {
		names = append(names, f.Name)
	}
	wantNames := []string{"_all", "body", "id", "meta.n", "meta.ok", "tags", "title"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Fatalf("fields = %q, want %q", names, wantNames)
	}
	body := doc.Field("body")
	if freq(body, "limited") != 2 || freq(body, "time") != 1 || body.Length != 3 {
		t.Errorf("body = %+v", body)
	}
	tags := doc.Field("tags")
	if freq(tags, "b") != 2 || tags.Length != 3 {
		t.Errorf("tags = %+v", tags)
	}
	all := doc.Field(AllField)
	if freq(all, "limited") != 3 || freq(all, "7") != 1 || freq(all, "true") != 1 || freq(all, "2.5") != 1 {
		t.Errorf("_all = %+v", all.Terms)
	}
	var sum uint32
	for _, f := range doc.Fields {
		if f.Name != AllField {
			sum += f.Length
		}
	}
	if all.Length != sum {
		t.Errorf("_all length %d, sum of fields %d", all.Length, sum)
	}
	if doc.Field("missing") != nil {
		t.Error("missing field found")
	}
}

func TestAnalyzeInvalidUTF8FieldNames(t *testing.T) {
	doc := Analyze(map[string]any{"a\xffb": "x"})
	for _, f := range doc.Fields {
		if !utf8.ValidString(f.Name) {
			t.Fatalf("invalid field name %q", f.Name)
		}
	}
}

func TestParseQuery(t *testing.T) {
	got := ParseQuery("Limited title:Edition limited body:ÉCOLE: :x net/http")
	want := []QueryTerm{
		{AllField, "limited"}, {"title", "edition"}, {AllField, "école"}, {AllField, "x"},
		{AllField, "net"}, {AllField, "http"},
	}
	// "body:ÉCOLE:" has a colon at the end, so it is split at the first
	// colon: field "body", text "ÉCOLE:".
	want[2] = QueryTerm{"body", "école"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseQuery = %+v\nwant %+v", got, want)
	}
}

// referenceCounts counts the terms of every field of the JSON object src in
// a map of the field's own, and every term in AllField's, the plain way
// the accumulator's one hash per occurrence must agree with.
func referenceCounts(t *testing.T, src []byte) (map[string]map[string]uint32, map[string]uint32) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	counts, lengths := map[string]map[string]uint32{}, map[string]uint32{}
	count := func(field, text string) {
		Tokens(text, func(term string) {
			for _, f := range []string{field, AllField} {
				if counts[f] == nil {
					counts[f] = map[string]uint32{}
				}
				counts[f][term]++
				lengths[f]++
			}
		})
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case string:
			count(path, x)
		case json.Number:
			count(path, x.String())
		case bool:
			count(path, fmt.Sprint(x))
		case []any:
			for _, e := range x {
				walk(path, e)
			}
		case map[string]any:
			for k, e := range x {
				if path != "" {
					k = path + "." + k
				}
				walk(fieldName(k), e)
			}
		}
	}
	walk("", v)
	return counts, lengths
}

// TestAnalyzeCountsMatchReference: AnalyzeJSON's fields hold each term once
// with the count referenceCounts finds, for random documents whose fields
// share words and come back through arrays of objects.
func TestAnalyzeCountsMatchReference(t *testing.T) {
	docs := []string{`{"a":[{"b":"x y","c":"x"},{"b":"x z"},{"c":"y x"}],"d":"x"}`,
		// a.b comes back three times, the last for a term a.c took in between.
		`{"a":[{"b":"x","c":"y"},{"b":"t","c":"t"},{"b":"t"}]}`}
	r := rand.New(rand.NewPCG(3, 3))
	for range 3000 {
		m := map[string]any{}
		for range 1 + r.IntN(6) {
			m[fmt.Sprint("f", r.IntN(4))] = randomJSON(r, 0)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	for _, src := range docs {
		d, err := AnalyzeJSON([]byte(src))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		counts, lengths := referenceCounts(t, []byte(src))
		if len(d.Fields) != len(counts) {
			t.Fatalf("%s: %d fields, want %d", src, len(d.Fields), len(counts))
		}
		for _, f := range d.Fields {
			got := map[string]uint32{}
			for _, tf := range f.Terms {
				if _, dup := got[tf.Term]; dup {
					t.Fatalf("%s: field %q holds %q twice", src, f.Name, tf.Term)
				}
				got[tf.Term] = tf.TF
			}
			if !maps.Equal(got, counts[f.Name]) || f.Length != lengths[f.Name] {
				t.Fatalf("%s: field %q = %v (length %d), want %v (length %d)", src, f.Name, got, f.Length, counts[f.Name], lengths[f.Name])
			}
		}
	}
}

// freq returns term's frequency in f, 0 if f does not hold it.
func freq(f *Field, term string) uint32 {
	for _, t := range f.Terms {
		if t.Term == term {
			return t.TF
		}
	}
	return 0
}
