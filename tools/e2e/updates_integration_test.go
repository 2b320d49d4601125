//go:build integration

package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/verify"
)

// Updates and deletes through every path: PUT and DELETE on the API, a
// delete in a bulk request, and a tombstone written straight to the
// documents topic. Old postings disappear, counts stay exact, search never
// returns a deleted or stale version, and verify agrees.
func TestUpdatesAndDeletesThroughEveryPath(t *testing.T) {
	s := newStack(t)
	s.startAll()
	docs := []map[string]any{
		{"id": "a", "text": "original alpha"}, {"id": "b", "text": "original bravo"},
		{"id": "c", "text": "original charlie"}, {"id": "d", "text": "original delta"},
	}
	s.waitCompleted(s.bulk("notes", docs), 3*time.Minute)

	code, m := s.do("PUT", "/indexes/notes/documents/a", "application/json", []byte(`{"text": "replaced alpha"}`))
	if code != 202 {
		t.Fatalf("PUT: %d %v", code, m)
	}
	put := m["operationId"].(string)
	code, m = s.do("DELETE", "/indexes/notes/documents/b", "", nil)
	if code != 202 {
		t.Fatalf("DELETE: %d %v", code, m)
	}
	del := m["operationId"].(string)
	bulkDel := s.bulk("notes", []map[string]any{{"id": "c", "_delete": true}})
	for _, op := range []string{put, del, bulkDel} {
		s.waitCompleted(op, 3*time.Minute)
	}
	// A tombstone from any producer deletes too.
	cl := s.kafkaClient(kgo.DefaultProduceTopic(s.docTopic))
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte("notes/d"), Value: nil}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		_, ix := s.do("GET", "/indexes/notes", "", nil)
		if num(ix["documentCount"]) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("documentCount %v, want 1 after three deletes", ix["documentCount"])
		}
		time.Sleep(200 * time.Millisecond)
	}
	for q, want := range map[string]int{"original": 0, "bravo": 0, "charlie": 0, "delta": 0, "replaced": 1, "alpha": 1} {
		_, res := s.do("GET", "/indexes/notes/search?q="+q, "", nil)
		if num(res["total"]) != want {
			t.Errorf("search %q: %v hits, want %d", q, res["total"], want)
		}
	}
	_, res := s.do("GET", "/indexes/notes/search?q=alpha", "", nil)
	hits, _ := res["hits"].([]any)
	if len(hits) != 1 || !strings.Contains(toJSON(hits[0]), "replaced alpha") {
		t.Errorf("search alpha returns %v, want the replaced version only", hits)
	}
	rep, err := verify.Run(context.Background(), verify.Config{Brokers: strings.Split(s.brokers, ","),
		DocumentsTopic: s.docTopic, MongoURI: s.mongoURI, Database: s.db}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Documents != 1 {
		t.Errorf("verify: %d documents expected, %d differences:\n%s", rep.Documents, rep.DiffCount, strings.Join(rep.Diffs, "\n"))
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
