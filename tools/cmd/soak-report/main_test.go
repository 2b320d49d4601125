package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRenderAndReplace(t *testing.T) {
	dir := t.TempDir()
	res := filepath.Join(dir, "r.jsonl")
	os.WriteFile(res, []byte(`{"scenario":"indexer-kill","seed":1,"documents":100,"lost":0,"doubled":0,"recoverySeconds":1.5,"drainSeconds":10}
{"scenario":"indexer-kill","seed":2,"documents":100,"lost":0,"doubled":1,"recoverySeconds":2.5,"drainSeconds":20}
{"scenario":"broker-kill","seed":1,"documents":50,"recoverySeconds":4,"drainSeconds":30,"extra":{"rssMiB":32}}
`), 0o644)
	doc := filepath.Join(dir, "d.md")
	os.WriteFile(doc, []byte("# R\n<!-- soak:begin -->\nold\n<!-- soak:end -->\ntail\n"), 0o644)
	if err := run([]string{"-results", res, "-doc", doc, "-machine", "m"}, nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(doc)
	s := string(b)
	for _, want := range []string{"| indexer-kill | 2 | 200 | 0 | 1 | 0 | 1.5 / 2.5 | 10 / 20 |  |", "| 4.0 / 4.0 | 30 / 30 | rssMiB 32 |", "| broker-kill | 1 | 50 |",
		"3 runs in total; 0 documents lost, 1 doubled.", "tail", "Command: `make soak` · " + time.Now().UTC().Format("2006-01-02") + " · m"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in\n%s", want, s)
		}
	}
	if strings.Contains(s, "old") {
		t.Error("old section kept")
	}
}
