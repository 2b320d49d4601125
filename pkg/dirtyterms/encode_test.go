package dirtyterms

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
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

// plainStrings need no escaping.
var plainStrings = []string{"", "plain", "_all", "books", "é ünï 日本語 🎉", "/slash", "doc-17", "a b"}

func randomEvent(r *rand.Rand) *Event { return randomEventOf(r, trickyStrings) }

func randomEventOf(r *rand.Rand, strs []string) *Event {
	str := func() string { return strs[r.IntN(len(strs))] }
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

// TestDecodeMatchesUnmarshal: the hand-written decoder gives what
// json.Unmarshal gives, on what Encode writes and on other spellings
// (which it leaves to encoding/json), and errors where it errors.
func TestDecodeMatchesUnmarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	var wires [][]byte
	for _, e := range []*Event{sample(), benchEvent(50, 200)} {
		b, _ := e.Encode()
		wires = append(wires, b)
	}
	fast := 0
	for i := range 2000 {
		strs := trickyStrings
		if i%2 == 0 {
			strs = plainStrings
		}
		e := randomEventOf(r, strs)
		e.V = Version
		for i := range e.Terms {
			for j := range e.Terms[i].Ops {
				e.Terms[i].Ops[j].Rec = r.IntN(len(e.Records) + 1) // sometimes out of range
			}
		}
		b, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		wires = append(wires, b)
	}
	// Other spellings and damaged events.
	base := string(wires[0])
	for _, w := range []string{
		strings.ReplaceAll(base, ",", ", "), strings.Replace(base, `{"v":1,`, `{"extra":[1,{"x":"}"}],"v":1,`, 1),
		strings.Replace(base, `"ops":[[0,1,3]`, `"ops":[[00,1,3]`, 1), strings.Replace(base, `"o":10`, `"o":1.0e1`, 1),
		strings.Replace(base, `"o":10`, `"o":99999999999999999999`, 1), strings.Replace(base, `"n":1`, `"n":01`, 1),
		strings.Replace(base, `"books"`, `"bo\u006fks"`, 1), base[:len(base)-1], base + " ", base + "x",
		strings.Replace(base, `"src":{"id":"1","t":"a b"}`, `"src":{"id":"1","t":"a b"`, 1),
		strings.Replace(base, `"src":{"id":"1","t":"a b"}`, `"src":null`, 1),
		strings.Replace(base, `"ops":[[0,1,3],[1,0,0]]`, `"ops":[]`, 1), strings.Replace(base, `"ops":[[0,1,3],[1,0,0]]`, `"ops":null`, 1),
		strings.Replace(base, `[1,0,0]`, `[1,0,4294967296]`, 1), strings.Replace(base, `[1,0,0]`, `[1,0]`, 1),
		strings.Replace(base, `"del":true`, `"del":false`, 1), `{"v":1,"indexer":"a","topic":"b","partition":0,"firstOffset":0,"lastOffset":0,"records":[],"terms":[]}`,
		`{"v":2,"indexer":"a","topic":"b","partition":0,"firstOffset":0,"lastOffset":0,"records":null,"terms":null}`, `null`, ``, `[]`,
		"{\"v\":1,\"indexer\":\"\xff\",\"topic\":\"b\",\"partition\":0,\"firstOffset\":0,\"lastOffset\":0,\"records\":[],\"terms\":[]}",
	} {
		wires = append(wires, []byte(w))
	}
	for i, b := range wires {
		got, gerr := Decode(b)
		var want Event
		werr := json.Unmarshal(b, &want)
		if werr == nil {
			_, werr = check(&want)
		}
		if (gerr != nil) != (werr != nil) {
			t.Fatalf("wire %d %s: error %v, want %v", i, b, gerr, werr)
		}
		if gerr == nil && !reflect.DeepEqual(*got, want) {
			t.Fatalf("wire %d %s:\n got %+v\nwant %+v", i, b, *got, want)
		}
		var e Event
		if decodeFast(b, &e) {
			fast++
		}
	}
	// Every event of plain strings (half the random ones, and the first
	// two) takes the fast path, or it saves nothing.
	if fast < 1000 {
		t.Fatalf("the fast path decoded %d of %d events", fast, len(wires))
	}
	for _, b := range wires[:2] {
		if !decodeFast(b, &Event{}) {
			t.Fatalf("fast path refused %s", b)
		}
	}
}
