package api

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestLimits sends one request over each limit and checks the 4xx, its
// message and the limit's counter.
func TestLimits(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.MaxBodyBytes = 8192
		c.MaxDocumentBytes = 4096
		c.Limits = Limits{MaxDocuments: 5, MaxFields: 4, MaxDepth: 3, MaxStringBytes: 20, MaxQueryBytes: 40, MaxQueryTerms: 3}
	})
	fields := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"id":"f"`) // "id" is a field too
		for i := range n {
			fmt.Fprintf(&b, `,"f%d":"v"`, i)
		}
		return b.String() + "}"
	}
	tests := []struct {
		name, method, path, ctype, body string
		code                            int
		want, limit                     string
	}{
		{"body", "POST", "/bulk-indexing/books", "", "[" + strings.Repeat(" ", 8192) + "]", 413, "request body over 8192 bytes", limBody},
		{"documents", "POST", "/bulk-indexing/books", ndjson, strings.Repeat(`{"id":1}`+"\n", 6), 400, "6 documents in one request, over the limit of 5", limDocuments},
		{"document bytes", "POST", "/bulk-indexing/books", ndjson, `{"id":1,"t":"` + strings.Repeat("a b ", 1100) + `"}`, 400, "over the 4096-byte limit", limDocBytes},
		{"put document bytes", "PUT", "/indexes/books/documents/1", "", `{"t":"` + strings.Repeat("a", 5000) + `"}`, 413, "document over 4096 bytes", limDocBytes},
		{"fields", "POST", "/bulk-indexing/books", ndjson, fields(4), 400, "document has 5 fields, over the limit of 4", limFields},
		{"depth", "POST", "/bulk-indexing/books", "", `[{"id":1,"a":{"b":[{"c":1}]}}]`, 400, "nested 4 levels deep, over the limit of 3", limDepth},
		{"put depth", "PUT", "/indexes/books/documents/1", "", `{"a":{"b":[{"c":1}]}}`, 400, "nested 4 levels deep", limDepth},
		{"string", "POST", "/bulk-indexing/books", ndjson, `{"id":1,"t":"` + strings.Repeat("x", 21) + `"}`, 400, "string of 21 bytes, over the limit of 20", limString},
		{"id", "POST", "/bulk-indexing/books", ndjson, `{"id":"` + strings.Repeat("i", 513) + `"}`, 400, "id longer than 512 bytes", limID},
		{"path id", "DELETE", "/indexes/books/documents/" + strings.Repeat("i", 513), "", "", 400, "id longer than 512 bytes", limID},
		{"index", "GET", "/indexes/Books/search?q=go", "", "", 400, "invalid index name", limIndex},
		{"index escape", "POST", "/bulk-indexing/..%2Fbooks", "", `[{"id":1}]`, 400, "invalid index name", limIndex},
		{"query bytes", "GET", "/indexes/books/search?q=" + strings.Repeat("go+", 14), "", "", 400, "query q of 42 bytes, over the limit of 40", limQueryBytes},
		{"query terms", "GET", "/indexes/books/search?q=a+b+c+d", "", "", 400, "query q has 4 terms, over the limit of 3", limQueryTerms},
		{"limit", "GET", "/indexes/books/search?q=go&limit=1001", "", "", 400, "limit 1001: want 1 to 1000", limLimit},
		{"from", "GET", "/indexes/books/search?q=go&from=9999&limit=2", "", "", 400, "from+limit <= 10000", limFrom},
		{"analyze text", "GET", "/indexes/books/analyze?text=" + url.QueryEscape(strings.Repeat("x", 21)), "", "", 400, "text of 21 bytes, over the limit of 20", limAnalyzeText},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := testutil.ToFloat64(e.api.limits.WithLabelValues(tt.limit))
			r := e.do(t, tt.method, tt.path, tt.ctype, tt.body)
			if r.code != tt.code || !strings.Contains(r.body, tt.want) {
				t.Fatalf("%d %s, want %d with %q", r.code, r.body, tt.code, tt.want)
			}
			if got := testutil.ToFloat64(e.api.limits.WithLabelValues(tt.limit)) - before; got != 1 {
				t.Fatalf("limit %s counted %v times, want 1", tt.limit, got)
			}
		})
	}
	// At the limits, everything is taken.
	for _, tt := range []struct{ method, path, ctype, body string }{
		{"POST", "/bulk-indexing/books", ndjson, strings.Repeat(`{"id":1}`+"\n", 5)},
		{"POST", "/bulk-indexing/books", "", `[` + fields(3) + `,{"id":2,"a":{"b":["c"]},"t":"` + strings.Repeat("x", 20) + `"}]`},
		{"PUT", "/indexes/books/documents/1", "", `{"a":{"b":[1]}}`},
	} {
		if r := e.do(t, tt.method, tt.path, tt.ctype, tt.body); r.code != 202 {
			t.Errorf("%s %s at the limits: %d %s", tt.method, tt.path, r.code, r.body)
		}
	}
	if r := e.do(t, "GET", "/indexes/books/search?q=a+b+c&limit=1000", "", ""); r.code != 200 {
		t.Errorf("query at the limits: %d %s", r.code, r.body)
	}
	// A bulk request lists every document over a limit by line, in order,
	// with the invalid ones.
	r := e.do(t, "POST", "/bulk-indexing/books", ndjson, "{\"id\":1}\n"+fields(4)+"\n{\"id\":2\n{\"id\":3,\"a\":[[[1]]]}\n")
	b := decodeError(t, r)
	if r.code != 400 || b.Error != "3 invalid documents" || len(b.Items) != 3 || b.Items[0].Line != 2 || b.Items[1].Line != 3 || b.Items[2].Line != 4 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	if probs, err := testutil.GatherAndLint(e.reg); err != nil || len(probs) > 0 {
		t.Errorf("lint: %v %v", probs, err)
	}
}
