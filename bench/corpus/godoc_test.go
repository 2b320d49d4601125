package corpus

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestGodocMatchesCommand checks that Godoc yields exactly the NDJSON
// lines of tools/cmd/godoc-corpus, the command `make run` loads, for the
// local Go installation.
func TestGodocMatchesCommand(t *testing.T) {
	c, err := Godoc("")
	if err != nil {
		t.Fatal(err)
	}
	checkCorpus(t, c)
	cmd := exec.Command("go", "run", "github.com/termflow/termflow/tools/cmd/godoc-corpus")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go run godoc-corpus: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != c.Len() {
		t.Fatalf("godoc-corpus wrote %d documents, Godoc has %d", len(lines), c.Len())
	}
	var size int
	for i, l := range lines {
		if d := c.Doc(i); string(d.JSON) != l {
			t.Fatalf("document %d (%s) differs:\n got %s\nwant %s", i, d.ID, d.JSON, l)
		}
		size += len(l)
	}
	if c.Len() < 5000 {
		t.Errorf("only %d documents", c.Len())
	}
	t.Logf("%s: %d documents, mean %d bytes (%s)", c.Name(), c.Len(), size/c.Len(), strings.TrimSpace(stderr.String()))
}

func TestGodocSmall(t *testing.T) {
	c, err := Godoc("../../tools/godoccorpus/testdata/goroot")
	if err != nil {
		t.Fatal(err)
	}
	checkCorpus(t, c)
	if c.Name() != "godoc" || c.Doc(0).ID != "alpha" {
		t.Errorf("name %q, first document %q", c.Name(), c.Doc(0).ID)
	}
	if _, err := Godoc(t.TempDir()); err == nil {
		t.Error("a GOROOT without src gave no error")
	}
}
