package command

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		name, in, format string
		docs, maxBytes   int
		array            bool
		bodies           []string
		where            [][]int
		err              string
	}{
		{name: "ndjson", in: "{\"id\":1}\n\n  {\"id\":2}\r\n{\"id\":3}", format: "auto", docs: 2, maxBytes: 100,
			bodies: []string{"{\"id\":1}\n{\"id\":2}\n", "{\"id\":3}\n"}, where: [][]int{{1, 3}, {4}}},
		{name: "array", in: " \n[{\"id\": 1,\n \"t\": \"a b\"}, {\"id\":2}, {\"id\":3}]\n", format: "auto", docs: 10, maxBytes: 25, array: true,
			bodies: []string{"{\"id\":1,\"t\":\"a b\"}\n", "{\"id\":2}\n{\"id\":3}\n"}, where: [][]int{{1}, {2, 3}}},
		{name: "big document alone", in: "{\"id\":\"xxxxxxxxxxxxxxxxxxxx\"}\n{\"id\":2}", format: "ndjson", docs: 10, maxBytes: 10,
			bodies: []string{"{\"id\":\"xxxxxxxxxxxxxxxxxxxx\"}\n", "{\"id\":2}\n"}, where: [][]int{{1}, {2}}},
		{name: "bad array", in: "[{\"id\":1}, {\"id\":", format: "auto", docs: 10, maxBytes: 100, array: true, err: "item 2: invalid JSON"},
		{name: "not an array", in: "{\"id\":1}", format: "json", docs: 10, maxBytes: 100, array: true, err: "not a JSON array"},
		{name: "trailing", in: "[{\"id\":1}] x", format: "auto", docs: 10, maxBytes: 100, array: true, err: "after the JSON array",
			bodies: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bodies []string
			var where [][]int
			s := &splitter{docs: tc.docs, maxBytes: tc.maxBytes, emit: func(c chunk) error {
				bodies = append(bodies, string(c.body))
				where = append(where, c.where)
				return nil
			}}
			array, err := split(strings.NewReader(tc.in), tc.format, s)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || array != tc.array {
				t.Fatalf("array %v err %v", array, err)
			}
			if !slices.Equal(bodies, tc.bodies) {
				t.Fatalf("bodies %q, want %q", bodies, tc.bodies)
			}
			for i := range where {
				if !slices.Equal(where[i], tc.where[i]) {
					t.Fatalf("where %v, want %v", where, tc.where)
				}
			}
		})
	}
}

func TestParseArgsInterspersed(t *testing.T) {
	e, _, _ := env(nil)
	fs := newFlags("x", "", e)
	var j bool
	var n int
	fs.BoolVar(&j, "json", false, "")
	fs.IntVar(&n, "limit", 0, "")
	pos, err := parseArgs(fs, []string{"a", "--json", "b", "--limit", "3", "--", "--c"})
	if err != nil || !j || n != 3 || !slices.Equal(pos, []string{"a", "b", "--c"}) {
		t.Fatalf("pos %q json %v limit %d err %v", pos, j, n, err)
	}
}

// fakeIngest answers bulk requests (the first one 429, then 202; a body
// containing "bad" 400) and operation views, completed at the second look.
type fakeIngest struct {
	mu       sync.Mutex
	bodies   []string
	polls    map[string]int
	status   string // terminal status of the operations
	attempts int
}

func (f *fakeIngest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/bulk-indexing/"):
		f.attempts++
		if f.attempts == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":"too many documents in flight"}`)
			return
		}
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), "bad") {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"1 invalid documents","items":[{"line":2,"error":"missing \"id\""}]}`)
			return
		}
		f.bodies = append(f.bodies, string(b))
		n := strings.Count(string(b), "\n")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"operationId":"op_%d","index":"books","documents":%d,"batches":1,"status":"indexing"}`, len(f.bodies), n)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/bulk-operations/"):
		id := strings.TrimPrefix(r.URL.Path, "/bulk-operations/")
		f.polls[id]++
		var n int
		fmt.Sscanf(id, "op_%d", &n)
		docs := strings.Count(f.bodies[n-1], "\n")
		v := map[string]any{"id": id, "index": "books", "status": "indexing", "totalDocuments": docs, "indexedDocuments": docs / 2}
		if f.polls[id] > 1 {
			v["status"], v["indexedDocuments"], v["persistedDocuments"] = f.status, docs, docs
		}
		json.NewEncoder(w).Encode(v)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":"not found"}`)
	}
}

func TestLoadAgainstFake(t *testing.T) {
	for _, tc := range []struct {
		name, content, status string
		code                  int
		requests              int
		stdout, stderr        string
	}{
		{name: "completed", content: "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n", status: "completed", code: ExitOK, requests: 2,
			stdout: `"status": "completed"`},
		{name: "partially", content: "{\"id\":1}\n", status: "partially_completed", code: ExitFound, requests: 1,
			stdout: `"status": "partially_completed"`},
		{name: "rejected", content: "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n{\"bad\":4}\n", status: "completed", code: ExitFound, requests: 2,
			stdout: `"line": 4`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeIngest{polls: map[string]int{}, status: tc.status}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			file := filepath.Join(t.TempDir(), "docs.ndjson")
			if err := os.WriteFile(file, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			e, out, errOut := env(map[string]string{"TERMFLOW_URL": srv.URL})
			code := Run(context.Background(), "termflowctl", All(), []string{"load", "--index", "books", "--docs", "2",
				"--min-backoff", "1ms", "--interval", "1ms", "--progress", "--json", file}, e)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, tc.code, out, errOut)
			}
			if fake.attempts != tc.requests+1 {
				t.Fatalf("%d attempts, bodies %q", fake.attempts, fake.bodies)
			}
			if !strings.Contains(out.String(), tc.stdout) {
				t.Fatalf("stdout %s, want %s", out, tc.stdout)
			}
			var res loadResult
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatal(err)
			}
			if res.Retries != 1 {
				t.Fatalf("retries %d", res.Retries)
			}
		})
	}
}
