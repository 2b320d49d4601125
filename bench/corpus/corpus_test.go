package corpus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/termflow/termflow/pkg/document"
)

// checkCorpus checks every document of c the way Termflow's bulk API does:
// a valid UTF-8 JSON object of at most 1 MiB with no duplicate keys, an
// "id" string member equal to Doc.ID that is a valid, unique document id,
// and no "_delete".
func checkCorpus(t *testing.T, c Corpus) {
	t.Helper()
	if c.Len() == 0 {
		t.Fatalf("%s: empty corpus", c.Name())
	}
	seen := make(map[string]int, c.Len())
	for i := range c.Len() {
		d := c.Doc(i)
		if err := checkDoc(d); err != nil {
			t.Fatalf("%s: document %d (%q): %v\n%s", c.Name(), i, d.ID, err, d.JSON)
		}
		if j, dup := seen[d.ID]; dup {
			t.Fatalf("%s: documents %d and %d share the id %q", c.Name(), j, i, d.ID)
		}
		seen[d.ID] = i
	}
}

// maxDocumentBytes is the ingest service's default -max-document-bytes.
const maxDocumentBytes = 1 << 20

func checkDoc(d Doc) error {
	if err := document.ValidateID(d.ID); err != nil {
		return err
	}
	if len(d.JSON) > maxDocumentBytes {
		return fmt.Errorf("%d bytes, over the ingest limit of %d", len(d.JSON), maxDocumentBytes)
	}
	if !utf8.Valid(d.JSON) {
		return errors.New("not valid UTF-8")
	}
	if !json.Valid(d.JSON) || len(d.JSON) == 0 || d.JSON[0] != '{' {
		return errors.New("not a JSON object")
	}
	if err := noDuplicateKeys(d.JSON); err != nil {
		return err
	}
	var top map[string]any
	if err := json.Unmarshal(d.JSON, &top); err != nil {
		return err
	}
	if id, ok := top["id"].(string); !ok || id != d.ID {
		return fmt.Errorf(`"id" member %#v, want %q`, top["id"], d.ID)
	}
	if _, ok := top["_delete"]; ok {
		return errors.New(`"_delete" member`)
	}
	return nil
}

// noDuplicateKeys reports a key repeated within one object at any depth.
func noDuplicateKeys(js []byte) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			keys := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				if keys[k.(string)] {
					return fmt.Errorf("duplicate key %q", k)
				}
				keys[k.(string)] = true
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for dec.More() {
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	if err := walk(); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}

func TestTake(t *testing.T) {
	z := Zipf(7, 100)
	c := Take(z, 10)
	if c.Len() != 10 || c.Name() != "zipf-s7-n100-first10" {
		t.Fatalf("Take: len %d name %q", c.Len(), c.Name())
	}
	for i := range 10 {
		if !bytes.Equal(c.Doc(i).JSON, z.Doc(i).JSON) {
			t.Fatalf("document %d differs from the underlying corpus", i)
		}
	}
	if Take(z, 0).Len() != 0 || Take(z, 100).Len() != 100 {
		t.Error("Take(z, 0) or Take(z, Len) has the wrong length")
	}
	mustPanic(t, "Take beyond Len", func() { Take(z, 101) })
	mustPanic(t, "Take negative", func() { Take(z, -1) })
	mustPanic(t, "Doc beyond a prefix", func() { c.Doc(10) })
}

func mustPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Errorf("%s: no panic", what)
		} else if !strings.Contains(fmt.Sprint(r), "corpus:") {
			t.Errorf("%s: panic %v does not say where it comes from", what, r)
		}
	}()
	fn()
}
