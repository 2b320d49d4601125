//go:build integration

package e2e

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOneOperationAcrossServices loads one operation with a completion
// webhook into the three real services, checks the signed webhook, and
// follows the operation through the three services' JSON logs by its id,
// as an operator would with grep and jq.
func TestOneOperationAcrossServices(t *testing.T) {
	type hook struct {
		body                 []byte
		sig, event, delivery string
	}
	var (
		mu    sync.Mutex
		hooks []hook
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooks = append(hooks, hook{b, r.Header.Get("X-Termflow-Signature"), r.Header.Get("X-Termflow-Event"), r.Header.Get("X-Termflow-Delivery")})
		mu.Unlock()
	}))
	defer recv.Close()
	const secret = "e2e-webhook-secret"
	s := newStack(t)
	s.extraEnv["ingest"] = []string{"TERMFLOW_WEBHOOK_ALLOWED_HOSTS=" + strings.TrimPrefix(recv.URL, "http://"),
		"TERMFLOW_WEBHOOK_SECRET=" + secret, "TERMFLOW_WEBHOOK_MIN_BACKOFF=50ms"}
	s.startAll()

	docs := make([]map[string]any, 500)
	for i := range docs {
		docs[i] = map[string]any{"id": fmt.Sprintf("d%d", i), "text": "followed across services"}
	}
	body, _ := json.Marshal(docs)
	// A callbackUrl off the allow-list is refused before anything is created.
	code, m := s.do("POST", "/bulk-indexing/logs?callbackUrl="+url.QueryEscape("http://169.254.169.254/latest"), "application/json", body)
	if code != 400 || !strings.Contains(fmt.Sprint(m["error"]), "allow-list") {
		t.Fatalf("callbackUrl off the allow-list: %d %v", code, m)
	}
	code, m = s.do("POST", "/bulk-indexing/logs?callbackUrl="+url.QueryEscape(recv.URL+"/done"), "application/json", body)
	if code != 202 {
		t.Fatalf("bulk: %d %v", code, m)
	}
	op := m["operationId"].(string)
	s.waitCompleted(op, 2*time.Minute)

	// The webhook: one signed POST of the completed operation.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(hooks)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no webhook\n%s", s.logTail("ingest"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	h := hooks[0]
	n := len(hooks)
	mu.Unlock()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(h.body)
	var v struct {
		ID                 string `json:"id"`
		Status             string `json:"status"`
		PersistedDocuments int    `json:"persistedDocuments"`
	}
	if err := json.Unmarshal(h.body, &v); err != nil || v.ID != op || v.Status != "completed" || v.PersistedDocuments != 500 {
		t.Fatalf("webhook body %s: %v", h.body, err)
	}
	if n != 1 || h.sig != "sha256="+hex.EncodeToString(mac.Sum(nil)) || h.event != "operation.completed" || h.delivery != op+"/completed" {
		t.Fatalf("%d webhooks, first %+v", n, h)
	}

	// The logs: every line one JSON object of its service; the operation's
	// lines found in all three, with the keys that locate them.
	s.stopAll()
	indexed, persisted := 0, 0
	for _, svc := range []string{"ingest", "indexer", "persister"} {
		f, err := os.Open(filepath.Join(s.dataDir, svc+".log"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var mine []map[string]any
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if len(strings.TrimSpace(string(line))) == 0 {
				continue
			}
			var ev map[string]any
			if err := json.Unmarshal(line, &ev); err != nil {
				t.Fatalf("%s: not a JSON line: %s", svc, line)
			}
			if ev["service"] != svc || ev["message"] == nil || ev["level"] == nil || ev["time"] == nil {
				t.Fatalf("%s: line without service, level, time or message: %s", svc, line)
			}
			if ev["operation"] == op {
				mine = append(mine, ev)
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		if len(mine) == 0 {
			t.Fatalf("%s: no log line of operation %s\n%s", svc, op, s.logTail(svc))
		}
		msgs := map[string]bool{}
		for _, ev := range mine {
			msgs[ev["message"].(string)] = true
			if ev["index"] != "logs" || (ev["topic"] == nil && !strings.HasPrefix(ev["message"].(string), "webhook")) {
				t.Fatalf("%s: operation line without index or topic: %v", svc, ev)
			}
			switch svc {
			case "indexer":
				if ev["topic"] != s.docTopic || ev["partition"] == nil || ev["offset"] == nil {
					t.Fatalf("indexer line: %v", ev)
				}
				indexed += num(ev["documents"])
			case "persister":
				if ev["topic"] != s.db+".dirty-terms" || ev["partition"] == nil || ev["offset"] == nil {
					t.Fatalf("persister line: %v", ev)
				}
				persisted += num(ev["documents"])
			}
		}
		want := map[string][]string{"ingest": {"operation accepted", "operation persisting", "operation completed"},
			"indexer": {"operation documents indexed"}, "persister": {"operation documents persisted"}}[svc]
		for _, w := range want {
			if !msgs[w] {
				t.Errorf("%s: no %q line for %s, got %v", svc, w, op, msgs)
			}
		}
	}
	if indexed < 500 || persisted < 500 {
		t.Fatalf("log lines count %d indexed and %d persisted documents, want 500 each", indexed, persisted)
	}
}
