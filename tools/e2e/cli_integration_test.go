//go:build integration

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	ctlOnce sync.Once
	ctlErr  error
)

// ctlBinary builds termflowctl into binDir once.
func ctlBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "termflowctl")
	ctlOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", bin, "github.com/termflow/termflow/cli").CombinedOutput()
		if err != nil {
			ctlErr = fmt.Errorf("build termflowctl: %v\n%s", err, out)
		}
	})
	if ctlErr != nil {
		t.Fatal(ctlErr)
	}
	return bin
}

// ctl runs the real termflowctl binary against the stack and returns its
// exit status, stdout and stderr.
func (s *stack) ctl(args ...string) (int, string, string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ctlBinary(s.t), args...)
	cmd.Env = append(os.Environ(), "TERMFLOW_URL=http://"+s.http, "TERMFLOW_API_KEY="+s.apiKey,
		"KAFKA_BROKERS="+s.brokers, "MONGO_URI="+s.mongoURI, "TERMFLOW_MONGO_DB="+s.db,
		"TERMFLOW_TOPIC_DOCUMENTS="+s.docTopic, "TERMFLOW_TOPIC_DEAD_LETTER="+s.db+".dlq")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errOut.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errOut.String()
	}
	s.t.Fatalf("termflowctl %v: %v\n%s", args, err, errOut.String())
	return 0, "", ""
}

// ctlJSON runs termflowctl with --json, wants exit status code, and
// decodes stdout into v.
func (s *stack) ctlJSON(code int, v any, args ...string) {
	s.t.Helper()
	got, out, errOut := s.ctl(append(args, "--json")...)
	if got != code {
		s.t.Fatalf("termflowctl %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, got, code, out, errOut)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		s.t.Fatalf("termflowctl %v: %v\n%s", args, err, out)
	}
}

// TestCLI drives termflowctl through an operator's day: load files (one
// with a document the indexer refuses), follow and list operations, show
// an operation's errors, search, find the dead letter, fix the cause,
// redrive it, and verify the index.
func TestCLI(t *testing.T) {
	s := newStack(t)
	// The indexer takes smaller documents than ingest, so that a document
	// ingest accepts is dead-lettered (a misconfiguration fixed below).
	s.extraEnv["indexer"] = []string{"TERMFLOW_MAX_DOCUMENT_BYTES=4096"}
	s.startAll()
	dir := t.TempDir()

	// 1. An NDJSON file, loaded in requests of 300 with a progress bar.
	var nd strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&nd, "{\"id\": \"n%d\", \"title\": \"ndjson line %d\", \"body\": \"cli loaded words\"}\n", i, i)
		if i%100 == 0 {
			nd.WriteString("\n") // blank lines are skipped
		}
	}
	ndFile := filepath.Join(dir, "docs.ndjson")
	if err := os.WriteFile(ndFile, []byte(nd.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := s.ctl("load", "--index", "cli", "--docs", "300", "--progress", "--interval", "200ms", ndFile)
	if code != 0 || !strings.Contains(out, "load cli: completed: 1000 documents in 4 requests") {
		t.Fatalf("load ndjson: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !strings.Contains(errOut, "persisted") || !strings.Contains(errOut, "1000/1000") {
		t.Fatalf("no progress bar on stderr: %q", errOut)
	}

	// 2. A JSON array with one document too large for the indexer: the
	// operation ends partially_completed and load exits 1.
	big := strings.Repeat("padding ", 700) + "oversizedmarker"
	arr := []map[string]any{{"id": "a1", "title": "array one"}, {"id": "a2", "title": big}, {"id": "a3", "title": "array three"}}
	b, _ := json.MarshalIndent(arr, "", "  ")
	arrFile := filepath.Join(dir, "docs.json")
	if err := os.WriteFile(arrFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Status     string `json:"status"`
		Documents  int    `json:"documents"`
		Operations []struct {
			ID                 string `json:"id"`
			Status             string `json:"status"`
			PersistedDocuments int    `json:"persistedDocuments"`
			FailedDocuments    int    `json:"failedDocuments"`
		} `json:"operations"`
	}
	s.ctlJSON(1, &res, "load", "--index", "cli", "--interval", "200ms", arrFile)
	if res.Status != "partially_completed" || res.Documents != 3 || len(res.Operations) != 1 ||
		res.Operations[0].FailedDocuments != 1 || res.Operations[0].PersistedDocuments != 3 {
		t.Fatalf("load array: %+v", res)
	}
	partial := res.Operations[0].ID

	// 3. A file with an invalid line: rejected with the file's line number.
	badFile := filepath.Join(dir, "bad.ndjson")
	if err := os.WriteFile(badFile, []byte("{\"id\": \"b1\"}\n\n{\"title\": \"no id\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = s.ctl("load", "--index", "cli", badFile)
	if code != 1 || !strings.Contains(errOut, `line 3: missing "id"`) {
		t.Fatalf("load invalid: exit %d, stderr %s", code, errOut)
	}

	// 4. Operations: list, watch, errors.
	var list struct {
		Operations []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"operations"`
	}
	s.ctlJSON(0, &list, "ops", "list", "--index", "cli")
	if len(list.Operations) != 5 || list.Operations[0].ID != partial {
		t.Fatalf("ops list: %+v", list)
	}
	code, out, _ = s.ctl("ops", "list", "--status", "completed")
	if code != 0 || strings.Count(out, " completed ") != 4 || strings.Contains(out, partial) {
		t.Fatalf("ops list --status completed: %d\n%s", code, out)
	}
	code, out, _ = s.ctl("ops", "watch", list.Operations[1].ID, "--json")
	if code != 0 || !strings.Contains(out, `"status":"completed"`) {
		t.Fatalf("ops watch completed: %d %s", code, out)
	}
	code, out, _ = s.ctl("ops", "watch", partial)
	if code != 1 || !strings.Contains(out, "partially_completed") {
		t.Fatalf("ops watch partial: %d %s", code, out)
	}
	var errs struct {
		Errors []struct {
			ID     string `json:"id"`
			Reason string `json:"reason"`
		} `json:"errors"`
		FailureCount int `json:"failureCount"`
	}
	s.ctlJSON(0, &errs, "ops", "errors", partial)
	if errs.FailureCount != 1 || len(errs.Errors) != 1 || errs.Errors[0].ID != "a2" {
		t.Fatalf("ops errors: %+v", errs)
	}
	if code, _, errOut := s.ctl("ops", "watch", "op_nope"); code != 2 || !strings.Contains(errOut, "not found") {
		t.Fatalf("ops watch unknown: %d %s", code, errOut)
	}

	// 5. Search.
	var hits struct {
		Total int `json:"total"`
	}
	s.ctlJSON(0, &hits, "search", "cli", "loaded", "words")
	if hits.Total != 1000 {
		t.Fatalf("search: %+v", hits)
	}
	code, out, _ = s.ctl("search", "--limit", "1", "cli", "title:array", "three")
	if code != 0 || !strings.Contains(out, "\ta3\t") || !strings.Contains(out, "1 hits") {
		t.Fatalf("search text: %d %s", code, out)
	}

	// 6. The dead letter: listed, then redriven once the indexer takes
	// larger documents, and then searchable.
	var dl struct {
		Total   int `json:"total"`
		Records []struct {
			DLQPartition int32  `json:"dlqPartition"`
			DLQOffset    int64  `json:"dlqOffset"`
			Stage        string `json:"stage"`
			Reason       string `json:"reason"`
			Topic        string `json:"topic"`
			Key          string `json:"key"`
		} `json:"records"`
	}
	s.ctlJSON(0, &dl, "dlq", "list")
	if dl.Total != 1 || dl.Records[0].Stage != "indexer" || dl.Records[0].Key != "cli/a2" || dl.Records[0].Topic != s.docTopic ||
		!strings.Contains(dl.Records[0].Reason, "4096") {
		t.Fatalf("dlq list: %+v", dl)
	}
	s.stop("indexer")
	s.extraEnv["indexer"] = nil
	s.start("indexer")
	pos := fmt.Sprintf("%d:%d", dl.Records[0].DLQPartition, dl.Records[0].DLQOffset)
	code, out, _ = s.ctl("dlq", "redrive", "--dry-run", pos)
	if code != 0 || !strings.Contains(out, "would redrive 1 dead letters") {
		t.Fatalf("redrive dry run: %d %s", code, out)
	}
	var rd struct {
		Count    int `json:"count"`
		Redriven []struct {
			Topic  string `json:"topic"`
			Offset int64  `json:"offset"`
		} `json:"redriven"`
	}
	s.ctlJSON(0, &rd, "dlq", "redrive", pos)
	if rd.Count != 1 || rd.Redriven[0].Topic != s.docTopic || rd.Redriven[0].Offset < 0 {
		t.Fatalf("redrive: %+v", rd)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s.ctlJSON(0, &hits, "search", "cli", "oversizedmarker")
		if hits.Total == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redriven document not searchable\n%s", s.logTail("indexer"))
		}
		time.Sleep(300 * time.Millisecond)
	}

	// 7. verify agrees with what the CLI loaded.
	code, out, errOut = s.ctl("verify", "--index", "cli")
	if code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("verify: %d\n%s\n%s", code, out, errOut)
	}
}
