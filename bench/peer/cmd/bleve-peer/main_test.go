package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/termflow/termflow/bench/peer"
)

func TestRunIndexes(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-corpus", "zipf", "-n", "300", "-batch", "100", "-dir", dir}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var res peer.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if res.Corpus != "zipf-s1-n300" || res.Docs != 300 || res.BatchSize != 100 || res.DocsPerSec <= 0 || res.DiskBytes <= 0 {
		t.Errorf("result %+v", res)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the temporary index was left behind: %v", left)
	}
}

func TestRunGenOnly(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-corpus", "zipf", "-n", "1000", "-gen-only"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Corpus string
		Docs   int
		Mean   float64 `json:"mean_doc_bytes"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.Corpus != "zipf-s1-n1000" || out.Docs != 1000 || out.Mean < 100 || out.Mean > 400 {
		t.Errorf("output %s", stdout.String())
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-corpus", "nope"}, {"-n", "-1"}, {"extra"}} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), args, &stdout, &stderr); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}
