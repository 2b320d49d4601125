package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/termflow/termflow/pkg/verify"
)

func env(vars map[string]string) (Env, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return Env{Getenv: func(k string) string { return vars[k] }, Stdout: &out, Stderr: &errOut}, &out, &errOut
}

func TestRunDispatches(t *testing.T) {
	var got []string
	cmds := []Command{
		{Name: "ok", Run: func(_ context.Context, args []string, _ Env) error { got = args; return nil }},
		{Name: "found", Run: func(context.Context, []string, Env) error { return &ExitStatus{Code: ExitFound} }},
		{Name: "fail", Run: func(context.Context, []string, Env) error { return errors.New("broker down") }},
	}
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{args: nil, code: ExitError, stderr: "usage: ctl <subcommand>"},
		{args: []string{"help"}, code: ExitOK, stdout: "  found"},
		{args: []string{"nope"}, code: ExitError, stderr: `unknown subcommand "nope"`},
		{args: []string{"ok", "-x", "y"}, code: ExitOK},
		{args: []string{"found"}, code: ExitFound},
		{args: []string{"fail"}, code: ExitError, stderr: "ctl fail: broker down"},
	} {
		e, out, errOut := env(nil)
		if code := Run(context.Background(), "ctl", cmds, tc.args, e); code != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.args, code, tc.code)
		}
		if !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errOut.String(), tc.stderr) {
			t.Errorf("%v: stdout %q stderr %q, want %q / %q", tc.args, out, errOut, tc.stdout, tc.stderr)
		}
	}
	if !slices.Equal(got, []string{"-x", "y"}) {
		t.Errorf("ok got args %v", got)
	}
}

func TestParseVerify(t *testing.T) {
	e, _, _ := env(map[string]string{"KAFKA_BROKERS": "k1:9092, k2:9092", "MONGO_URI": "mongodb://m:1",
		"TERMFLOW_MONGO_DB": "db1", "TERMFLOW_TOPIC_DOCUMENTS": "docs"})
	f, err := parseVerify([]string{"--index", "books", "-index=films,songs", "--pebble", "/a", "--pebble", "/b",
		"--max-diffs", "5", "--json"}, e)
	if err != nil {
		t.Fatal(err)
	}
	c := f.cfg
	if !slices.Equal(c.Brokers, []string{"k1:9092", "k2:9092"}) || c.MongoURI != "mongodb://m:1" || c.Database != "db1" ||
		c.DocumentsTopic != "docs" || !slices.Equal(c.Indexes, []string{"books", "films", "songs"}) ||
		!slices.Equal(c.PebbleDirs, []string{"/a", "/b"}) || c.MaxDiffs != 5 || !f.json {
		t.Fatalf("config %+v", f)
	}

	e, _, _ = env(nil)
	f, err = parseVerify([]string{"--brokers", "x:1", "--db", "other"}, e)
	if err != nil || f.cfg.Database != "other" || f.cfg.DocumentsTopic != "termflow.documents" ||
		f.cfg.MongoURI != "mongodb://127.0.0.1:27017" || f.cfg.MaxDiffs != 20 || f.cfg.MaxDocumentBytes != 1<<20 {
		t.Fatalf("defaults %+v %v", f, err)
	}

	for _, tc := range []struct {
		args []string
		env  map[string]string
		err  string
	}{
		{args: []string{"--index", "Bad Name"}, err: "invalid index name"},
		{env: map[string]string{"KAFKA_BROKERS": " , "}, err: "no Kafka brokers"},
		{env: map[string]string{"TERMFLOW_MAX_DOCUMENT_BYTES": "big"}, err: "not an integer"},
		{args: []string{"extra"}, err: "unexpected arguments"},
		{args: []string{"-h"}, err: "help requested"},
	} {
		e, _, _ := env(tc.env)
		if _, err := parseVerify(tc.args, e); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v %v: err %v, want %q", tc.args, tc.env, err, tc.err)
		}
	}
}

func TestVerifyOperationalErrorExits2(t *testing.T) {
	e, out, errOut := env(nil)
	code := Run(context.Background(), "termflowctl", All(), []string{"verify", "--pebble", t.TempDir() + "/missing"}, e)
	if code != ExitError || out.Len() != 0 || !strings.Contains(errOut.String(), "termflowctl verify: open pebble") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestPrintReport(t *testing.T) {
	rep := &verify.Report{Documents: 3, Terms: 7, Postings: 12, Chunks: 7, Records: 5, DeadLetters: 1,
		Diffs:     []string{"document missing: b/1 (offset 0)", "posting missing: b|red|t: doc \"1\" (tf 1, length 1)"},
		DiffCount: 4, Kinds: map[string]int{verify.KindDocumentMissing: 1, verify.KindPostingMissing: 3},
		Warnings: []string{"partition 3: nothing read"}, Elapsed: 1500 * time.Millisecond}
	var b bytes.Buffer
	if err := printText(&b, rep); err != nil {
		t.Fatal(err)
	}
	want := `document missing: b/1 (offset 0)
posting missing: b|red|t: doc "1" (tf 1, length 1)
… and 2 more posting missing
warning: partition 3: nothing read
verify: 5 records (1 dead letters), 3 documents, 7 terms, 12 postings, 7 chunks: 4 differences (document missing 1, posting missing 3) in 1.5s
`
	if b.String() != want {
		t.Errorf("text report:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	if err := printJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	var back struct {
		OK        bool           `json:"ok"`
		DiffCount int            `json:"diffCount"`
		Kinds     map[string]int `json:"kinds"`
		Diffs     []string       `json:"diffs"`
	}
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.OK || back.DiffCount != 4 || back.Kinds[verify.KindPostingMissing] != 3 || len(back.Diffs) != 2 {
		t.Fatalf("json report %s", b.String())
	}

	b.Reset()
	if err := printText(&b, &verify.Report{Documents: 1, Records: 1, Elapsed: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if want := "verify: 1 records (0 dead letters), 1 documents, 0 terms, 0 postings, 0 chunks: OK in 1ms\n"; b.String() != want {
		t.Errorf("ok report %q, want %q", b.String(), want)
	}
}
