package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/termflow/termflow/tools/godoccorpus"
)

const fakeGOROOT = "../../godoccorpus/testdata/goroot"

func decode(t *testing.T, data []byte) []godoccorpus.Doc {
	t.Helper()
	var docs []godoccorpus.Doc
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var d godoccorpus.Doc
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("bad NDJSON line %q: %v", line, err)
		}
		docs = append(docs, d)
	}
	return docs
}

func TestRunStdoutLimit(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-goroot", fakeGOROOT, "-limit", "4"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	docs := decode(t, stdout.Bytes())
	if len(docs) != 4 || docs[0].ID != "alpha" {
		t.Fatalf("got %d docs starting with %+v", len(docs), docs[0])
	}
	if !strings.Contains(stderr.String(), "4 documents from 1 packages") {
		t.Errorf("summary = %q", stderr.String())
	}
}

func TestRunFileAndPackages(t *testing.T) {
	out := filepath.Join(t.TempDir(), "corpus.ndjson")
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-goroot", fakeGOROOT, "-o", out, "-packages", "beta"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout not empty with -o: %q", stdout.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	docs := decode(t, data)
	for _, d := range docs {
		if d.Package != "beta" {
			t.Errorf("unexpected package in %+v", d)
		}
	}
	if len(docs) != 6 {
		t.Errorf("got %d docs, want 6", len(docs))
	}
	if !strings.Contains(stderr.String(), "6 documents from 1 packages") {
		t.Errorf("summary = %q", stderr.String())
	}
}

func TestRunBadFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-limit", "-1"}, &stdout, &stderr); err == nil {
		t.Error("negative -limit accepted")
	}
	if err := run([]string{"extra"}, &stdout, &stderr); err == nil {
		t.Error("positional argument accepted")
	}
}
