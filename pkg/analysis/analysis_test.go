package analysis

import (
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
	if body.Terms["limited"] != 2 || body.Terms["time"] != 1 || body.Length != 3 {
		t.Errorf("body = %+v", body)
	}
	tags := doc.Field("tags")
	if tags.Terms["b"] != 2 || tags.Length != 3 {
		t.Errorf("tags = %+v", tags)
	}
	all := doc.Field(AllField)
	if all.Terms["limited"] != 3 || all.Terms["7"] != 1 || all.Terms["true"] != 1 || all.Terms["2.5"] != 1 {
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
