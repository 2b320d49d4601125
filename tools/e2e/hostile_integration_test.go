//go:build integration

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Hostile input end to end (issue 6): over HTTP and straight to the
// documents topic — invalid UTF-8, NUL bytes, deep nesting, huge numbers,
// duplicate keys, thousands of fields, ids with "/" and "..", index names
// that try to escape into other Pebble key ranges or MongoDB collections,
// a query of 10,000 terms. Each gets a clear error or a dead-letter entry,
// the services keep running, verify passes, and the other index ("victim")
// is not touched.

// raw sends a request with the stack's key (auth "" for none) and returns
// the status and the body.
func (s *stack) raw(method, path, ctype, auth string, body []byte) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, "http://"+s.http+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := (&http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}).Do(req)
	if err != nil {
		s.t.Fatalf("%s %.80s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func nested(depth int) string {
	return `{"id":"deep","t":` + strings.Repeat(`[`, depth-1) + `"x"` + strings.Repeat(`]`, depth-1) + `}`
}

func wide(id string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"id":%q`, id)
	for i := range n {
		fmt.Fprintf(&b, `,"f%d":"w%d"`, i, i)
	}
	return b.String() + "}"
}

// snapshot is everything MongoDB holds of one index, as JSON.
func (s *stack) snapshot(index string) string {
	s.t.Helper()
	var out []string
	for c, docs := range s.dumpMongo() {
		for _, d := range docs {
			if d["index"] == index || c == "indexstats" && d["_id"] == index {
				// canonical: bson.M has no order, encoding/json sorts keys
				b, _ := bson.MarshalExtJSON(d, true, false)
				var m map[string]any
				_ = json.Unmarshal(b, &m)
				b, _ = json.Marshal(m)
				out = append(out, c+" "+string(b))
			}
		}
	}
	sortStrings(out)
	return strings.Join(out, "\n")
}

func TestHostileInput(t *testing.T) {
	s := newStack(t)
	s.startAll()

	// The index that must not be touched.
	op := s.bulk("victim", []map[string]any{{"id": "v1", "t": "victim canary"}, {"id": "v2", "t": "victim canary two"}})
	s.waitCompleted(op, 3*time.Minute)
	before := s.snapshot("victim")
	if !strings.Contains(before, "canary") {
		t.Fatalf("victim not stored: %s", before)
	}

	// ---- over HTTP: refused, each with a clear 4xx
	bad := func(method, path, ctype string, body string, code int, want string) {
		t.Helper()
		got, b := s.raw(method, path, ctype, "Bearer "+s.apiKey, []byte(body))
		if got != code || !strings.Contains(b, want) {
			t.Errorf("%s %.60s: %d %.300s, want %d with %q", method, path, got, b, code, want)
		}
	}
	const nd = "application/x-ndjson"
	bad("POST", "/bulk-indexing/hostile", "", "[{\"id\":\"u\",\"t\":\"bad \xff\xfe utf8\"}]", 400, "not valid UTF-8")
	bad("POST", "/bulk-indexing/hostile", nd, "{\"id\":\"n\",\"t\":\"raw\x00nul\"}", 400, "invalid JSON")
	bad("POST", "/bulk-indexing/hostile", nd, `{"id":"a\u0000b"}`, 400, "NUL byte")
	bad("DELETE", "/indexes/hostile/documents/a%00b", "", "", 400, "NUL byte")
	bad("POST", "/bulk-indexing/hostile", "", "["+nested(101)+"]", 400, "nested 101 levels deep")
	bad("POST", "/bulk-indexing/hostile", nd, nested(100000), 400, "nested deeper")
	bad("PUT", "/indexes/hostile/documents/deep", "", nested(200), 400, "nested 200 levels deep")
	bad("POST", "/bulk-indexing/hostile", nd, `{"id":"d","a":1,"b":{"c":1,"c":2}}`, 400, `duplicate key \"c\"`)
	bad("POST", "/bulk-indexing/hostile", nd, wide("wide", 5000), 400, "fields, over the limit of 1000")
	bad("POST", "/bulk-indexing/hostile", nd, `{"id":"s","t":"`+strings.Repeat("long ", 20000)+`"}`, 400, "string of 100000 bytes")
	bad("POST", "/bulk-indexing/hostile", nd, `{"id":"`+strings.Repeat("i", 600)+`"}`, 400, "id longer than 512 bytes")
	for _, index := range []string{"..%2Fvictim", "victim%7Cx", "Victim", "victim.docs", "%24cmd", "system.indexes",
		"_all", "victim%00", "victim%2F..", strings.Repeat("v", 65)} {
		bad("POST", "/bulk-indexing/"+index, "", `[{"id":"x","t":"escape"}]`, 400, "invalid index name")
		bad("GET", "/indexes/"+index+"/search?q=canary", "", "", 400, "invalid index name")
	}
	terms := make([]string, 10000)
	for i := range terms {
		terms[i] = fmt.Sprintf("t%d", i)
	}
	bad("GET", "/indexes/victim/search?q="+url.QueryEscape(strings.Join(terms, " ")), "", "", 400, "over the limit of 4096")
	bad("GET", "/indexes/victim/search?q="+url.QueryEscape(strings.Join(terms[:100], " ")), "", "", 400, "query q has 100 terms, over the limit of 64")
	bad("GET", "/indexes/victim/search?q=canary&limit=100000", "", "", 400, "limit 100000")
	bad("GET", "/indexes/victim/search?q=canary&from=-1", "", "", 400, "from -1")
	if code, b := s.raw("GET", "/indexes/victim/search?q=canary", "", "", nil); code != 401 || !strings.Contains(b, "missing API key") {
		t.Errorf("no key: %d %s", code, b)
	}
	if code, b := s.raw("POST", "/bulk-indexing/victim", "", "Bearer not-the-key-0123456789", []byte(`[{"id":"v1","t":"overwritten"}]`)); code != 401 || !strings.Contains(b, "invalid API key") {
		t.Errorf("wrong key: %d %s", code, b)
	}

	// ---- over HTTP: odd but valid, taken as data of index hostile only
	var ops []string
	for _, body := range []string{
		`[{"id":"../../victim/v1","t":"survivor dotdot"},{"id":"victim/v2","t":"survivor slash"}]`,
		`[{"id":"nul","t":"survivor nul\u0000inside"},{"id":1e999999999,"n":1e999999999,"m":123456789012345678901234567890,"t":"survivor huge"}]`,
	} {
		code, b := s.raw("POST", "/bulk-indexing/hostile", "", "Bearer "+s.apiKey, []byte(body))
		var m map[string]any
		if err := json.Unmarshal([]byte(b), &m); code != 202 || err != nil {
			t.Fatalf("valid odd documents: %d %s", code, b)
		}
		ops = append(ops, m["operationId"].(string))
	}
	if code, b := s.raw("PUT", "/indexes/hostile/documents/..%2Fvictim%2Fv1", "", "Bearer "+s.apiKey, []byte(`{"t":"survivor put"}`)); code != 202 {
		t.Fatalf("PUT id with ../: %d %s", code, b)
	} else {
		var m map[string]any
		_ = json.Unmarshal([]byte(b), &m)
		ops = append(ops, m["operationId"].(string))
	}
	for _, op := range ops {
		s.waitCompleted(op, 3*time.Minute)
	}

	// ---- straight to the documents topic
	type rec struct{ key, value, reason string } // reason "" for a valid record
	env := func(index, id, doc string) string {
		return fmt.Sprintf(`{"v":1,"index":%q,"id":%q,"doc":%s}`, index, id, doc)
	}
	recs := []rec{
		{"hostile/u", "{\"v\":1,\"index\":\"hostile\",\"id\":\"u\",\"doc\":{\"t\":\"\xff\"}}", "not valid UTF-8"},
		{"hostile/n", "{\"v\":1,\"index\":\"hostile\",\"id\":\"n\",\"doc\":{\"t\":\"a\x00b\"}}", "invalid JSON"},
		{"hostile/a\x00", `{"v":1,"index":"hostile","id":"a\u0000","doc":{}}`, "NUL byte"},
		{"hostile/deep", env("hostile", "deep", "{"+nested(101)[len(`{"id":"deep",`):]), "nested 101 levels deep"},
		{"hostile/deeper", env("hostile", "deeper", `{"t":`+strings.Repeat("[", 20000)+strings.Repeat("]", 20000)+`}`), "invalid JSON"},
		{"hostile/dup", env("hostile", "dup", `{"a":1,"a":2}`), `duplicate key "a"`},
		{"hostile/wide", env("hostile", "wide", wide("wide", 5000)), "fields, over the limit of 1000"},
		{"../victim/v1", env("../victim", "v1", `{"t":"escape"}`), "invalid index name"},
		{"victim|x/v1", env("victim|x", "v1", `{"t":"escape"}`), "invalid index name"},
		{"hostile/x", env("victim", "v1", `{"t":"overwritten through another key"}`), "does not name the envelope's document"},
		{"victim/v1", env("hostile", "v1", `{"t":"keyed as a victim"}`), "does not name the envelope's document"},
		{"../victim/v1", "", "tombstone: invalid index name"},
		{"victim", "", "tombstone: key"},
		{"hostile/huge", env("hostile", "huge", `{"n":-1e999999999,"t":"survivor topic huge"}`), ""},
		{"hostile/a/../b", env("hostile", "a/../b", `{"t":"survivor topic dotdot"}`), ""},
	}
	producer := s.kafkaClient(kgo.DefaultProduceTopic(s.docTopic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchMaxBytes(4<<20))
	want := map[string]rec{} // "partition/offset" of each dead letter to be
	for _, r := range recs {
		kr := &kgo.Record{Key: []byte(r.key)}
		if r.value != "" {
			kr.Value = []byte(r.value)
		}
		if err := producer.ProduceSync(context.Background(), kr).FirstErr(); err != nil {
			t.Fatalf("produce %q: %v", r.key, err)
		}
		if r.reason != "" {
			want[fmt.Sprintf("%d/%d", kr.Partition, kr.Offset)] = r
		}
	}
	got := s.deadLetters(len(want), 3*time.Minute)
	for pos, w := range want {
		dl := got[pos]
		if dl == nil {
			t.Errorf("record %q (%s) not dead-lettered", w.key, pos)
			continue
		}
		if reason := headers(dl)["termflow-dlq-reason"]; !strings.Contains(reason, w.reason) {
			t.Errorf("record %q dead-lettered for %q, want %q", w.key, reason, w.reason)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d dead letters, want %d", len(got), len(want))
	}
	// 4 over HTTP (one PUT), 2 from the topic; the dead letters changed nothing.
	s.waitSearch("hostile", "survivor", 7, 3*time.Minute)

	// ---- the services kept running, the victim is untouched, no other
	// index appeared, and verify agrees with MongoDB.
	for _, name := range []string{"ingest", "indexer", "persister"} {
		if s.dead(name) {
			t.Fatalf("%s died:\n%s", name, s.logTail(name))
		}
	}
	if code, b := s.raw("GET", "/readyz", "", "", nil); code != 200 {
		t.Fatalf("ingest not ready: %d %s", code, b)
	}
	if after := s.snapshot("victim"); after != before {
		t.Errorf("the victim index changed:\nbefore %s\nafter  %s", before, after)
	}
	_, res := s.do("GET", "/indexes/victim/search?q=canary", "", nil)
	if num(res["total"]) != 2 {
		t.Errorf("victim search: %v", res)
	}
	for c, docs := range s.dumpMongo() {
		for _, d := range docs {
			index, _ := d["index"].(string)
			if c == "indexstats" {
				index, _ = d["_id"].(string)
			}
			if c != "checkpoints" && index != "victim" && index != "hostile" {
				t.Errorf("%s holds a document of index %q: %v", c, index, d)
			}
		}
	}
	var rep struct {
		Documents, DeadLetters, DiffCount int
		Diffs                             []string
	}
	s.ctlJSON(0, &rep, "verify")
	if rep.Documents != 2+7 || rep.DeadLetters != len(want) || rep.DiffCount != 0 {
		t.Errorf("verify: %d documents, %d dead letters, %d differences (want 9, %d, 0): %v",
			rep.Documents, rep.DeadLetters, rep.DiffCount, len(want), rep.Diffs)
	}
	// The indexer's Pebble store holds exactly what the topic implies too
	// (no index name reached into another's key range).
	s.stop("indexer")
	rep.DiffCount, rep.Diffs = -1, nil
	s.ctlJSON(0, &rep, "verify", "--pebble", filepath.Join(s.dataDir, "indexer-1", "pebble"))
	if rep.DiffCount != 0 {
		t.Errorf("verify --pebble: %d differences: %v", rep.DiffCount, rep.Diffs)
	}
}
