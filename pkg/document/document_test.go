package document

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name, key, value string
		tombstone        bool
		want             Envelope
		err              string
	}{
		{name: "upsert", key: "books/1", value: `{"v":1,"index":"books","id":"1","doc":{"t":"x"}}`,
			want: Envelope{V: 1, Index: "books", ID: "1", Doc: json.RawMessage(`{"t":"x"}`)}},
		{name: "numeric id", value: `{"v":1,"index":"books","id":42,"doc":{}}`,
			want: Envelope{V: 1, Index: "books", ID: "42", Doc: json.RawMessage(`{}`)}},
		{name: "delete", value: `{"v":1,"index":"books","id":"1","delete":true}`,
			want: Envelope{V: 1, Index: "books", ID: "1", Delete: true}},
		{name: "tombstone", key: "books/a/b", tombstone: true,
			want: Envelope{V: 1, Index: "books", ID: "a/b", Delete: true}},
		{name: "tombstone bad key", key: "nokey", tombstone: true, err: "not {index}/{id}"},
		{name: "invalid json", value: `{"v":1,`, err: "invalid JSON"},
		{name: "no version", value: `{"index":"books","id":"1","doc":{}}`, err: "missing schema version"},
		{name: "wrong version", value: `{"v":2,"index":"books","id":"1","doc":{}}`, err: "unsupported schema version 2"},
		{name: "no id", value: `{"v":1,"index":"books","doc":{}}`, err: "missing id"},
		{name: "bool id", value: `{"v":1,"index":"books","id":true,"doc":{}}`, err: "string or a number"},
		{name: "bad index", value: `{"v":1,"index":"../x","id":"1","doc":{}}`, err: "invalid index name"},
		{name: "doc not object", value: `{"v":1,"index":"books","id":"1","doc":[1]}`, err: "JSON object"},
		{name: "invalid utf8", value: "{\"v\":1,\"index\":\"books\",\"id\":\"\xff\",\"doc\":{}}", err: "UTF-8"},
		{name: "too big", value: `{"v":1,"index":"books","id":"1","doc":{"x":"` + strings.Repeat("a", 100) + `"}}`, err: "over the 64-byte limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var value []byte
			if !tt.tombstone {
				value = []byte(tt.value)
			}
			max := 0
			if tt.name == "too big" {
				max = 64
			}
			got, err := Decode([]byte(tt.key), value, max)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Index != tt.want.Index || got.ID != tt.want.ID || got.Delete != tt.want.Delete || string(got.Doc) != string(tt.want.Doc) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	e := Envelope{V: 1, Index: "i", ID: "x/y", Doc: json.RawMessage(`{"a":1}`)}
	got, err := Decode(Key(e.Index, e.ID), e.Encode(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != e.ID || string(got.Doc) != string(e.Doc) {
		t.Fatalf("got %+v", got)
	}
}

func TestValidateIndex(t *testing.T) {
	for _, ok := range []string{"a", "godoc", "a_b-c", "0", strings.Repeat("a", 64)} {
		if err := ValidateIndex(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "A", "_a", "-a", "a/b", "a.b", strings.Repeat("a", 65), "a\x00"} {
		if ValidateIndex(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDecodeKeyMustNameTheDocument(t *testing.T) {
	v := []byte(`{"v":1,"index":"victim","id":"1","doc":{"t":"x"}}`)
	for _, k := range []string{"hostile/1", "victim/1/", "victim/01", "victim/../victim/1"} {
		if _, err := Decode([]byte(k), v, 0); err == nil || !strings.Contains(err.Error(), "does not name the envelope's document") {
			t.Errorf("key %q: err %v", k, err)
		}
	}
	if e, err := Decode([]byte("victim/1"), v, 0); err != nil || e.Index != "victim" || e.ID != "1" {
		t.Fatalf("%+v %v", e, err)
	}
	if e, err := Decode([]byte(`b/a/../c`), []byte(`{"v":1,"index":"b","id":"a/../c","delete":true}`), 0); err != nil || e.ID != "a/../c" {
		t.Fatalf("%+v %v", e, err)
	}
}

// BenchmarkDecode: an envelope of a short document, read by the scanner
// (Decode) and by encoding/json (the path of unusual envelopes).
func BenchmarkDecode(b *testing.B) {
	key := Key("godoc", "doc-42")
	value := Envelope{V: SchemaVersion, Index: "godoc", ID: "doc-42",
		Doc: []byte(`{"id":"doc-42","title":"ReadFile reads the named file","body":"ReadFile reads the named file and returns the contents. A successful call returns err == nil, not err == EOF.","n":[1,2.5,{"x":null}]}`)}.Encode()
	for _, path := range []struct {
		name string
		scan bool
	}{{"scan", true}, {"json", false}} {
		b.Run("path="+path.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(value)))
			for b.Loop() {
				if _, err := decode(key, value, 0, path.scan); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
