package dirtyterms

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/termflow/termflow/pkg/progress"
)

// tricky strings: everything encoding/json escapes, and what it leaves.
var trickyStrings = []string{"", "plain", `quo"te`, `back\slash`, "<b>&amp;</b>", "tab\tnl\nret\rbs\bff\f",
	"\x00\x01\x1f\x7f", "é ünï 日本語 🎉", "bad \xff\xfe utf8 \xe2\x80", "line\u2028sep\u2029para", "\u2027\u202a",
	"/slash", "a\x00"}

// trickySources: stored documents, valid JSON in every shape the
// compaction of json.Marshal changes or keeps.
var trickySources = []string{`{"a":1}`, `{ "a" : [1, 2 ,3] }`, "{\n\t\"a\":\"x y\"\r\n}", `{"h":"<b>&</b>"}`,
	`{"s":"line\u2028 raw` + "\u2028" + `"}`, `{"e":"esc \" \\ \/ \n"}`, `{"u":"日本語","n":-1.5e3,"t":true,"z":null}`,
	`{"a":{"b":[{"c":"d"}]}}`, `{"sp":"  spaces  inside  "}`, "{\"bad\":\"\xff\"}"}

func randomEvent(r *rand.Rand) *Event {
	str := func() string { return trickyStrings[r.IntN(len(trickyStrings))] }
	e := &Event{V: Version, Indexer: str(), Topic: str(), Partition: r.Int32(), FirstOffset: r.Int64(), LastOffset: -r.Int64()}
	if r.IntN(5) > 0 {
		e.Records = []Record{}
	}
	for range r.IntN(4) {
		rec := Record{Offset: r.Int64N(1e12), Index: str(), ID: str(), Deleted: r.IntN(2) == 0, Count: r.Int64N(3) - 1}
		if r.IntN(3) > 0 {
			rec.Source = json.RawMessage(trickySources[r.IntN(len(trickySources))])
		}
		for range r.IntN(3) {
			rec.Fields = append(rec.Fields, FieldDelta{Field: str(), Docs: r.Int64N(5) - 2, Length: r.Int64() - r.Int64()})
		}
		if r.IntN(4) == 0 {
			rec.Fields = []FieldDelta{} // empty but not nil: omitted all the same
		}
		e.Records = append(e.Records, rec)
	}
	if r.IntN(5) > 0 {
		e.Terms = []Term{}
	}
	for range r.IntN(4) {
		t := Term{Index: str(), Field: str(), Term: str()}
		if r.IntN(5) > 0 {
			t.Ops = []Op{}
		}
		for range r.IntN(4) {
			t.Ops = append(t.Ops, Op{Rec: r.IntN(1 << 30), TF: r.Uint32(), Length: r.Uint32()})
		}
		e.Terms = append(e.Terms, t)
	}
	if r.IntN(2) == 0 {
		e.Progress = []progress.Message{{Operation: str(), Stage: progress.Indexed, Seqs: progress.Ranges{{0, r.IntN(9)}}}}
	}
	return e
}

// TestEncodeMatchesMarshal: the hand-written encoder writes exactly the
// bytes of json.Marshal, so the wire format cannot drift from the schema and
// the persister reads old and new events alike.
func TestEncodeMatchesMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 2))
	events := []*Event{sample(), benchEvent(50, 200), {}}
	for range 2000 {
		events = append(events, randomEvent(r))
	}
	for i, e := range events {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.Encode()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if string(got) != string(want) {
			t.Fatalf("event %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestEncodeInvalidSource(t *testing.T) {
	e := sample()
	e.Records[0].Source = json.RawMessage(`{"a":`)
	if _, err := e.Encode(); err == nil {
		t.Fatal("invalid source encoded")
	}
	if _, err := json.Marshal(e); err == nil {
		t.Fatal("json.Marshal accepts it: the test is wrong")
	}
}

func TestAppendStringMatchesMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	ss := append([]string(nil), trickyStrings...)
	for range 5000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		ss = append(ss, string(b))
	}
	for _, s := range ss {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q:\n got %s\nwant %s", s, got, want)
		}
	}
}
