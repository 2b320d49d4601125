package corpus

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/termflow/termflow/tools/godoccorpus"
)

// Godoc returns the documentation of the Go standard library in goroot
// ("" means `go env GOROOT`): exactly the documents `make run` loads
// (tools/cmd/godoc-corpus without flags), in the same order and with the
// same JSON encoding (encoding/json, HTML escaping off). Each document has
// the members id, package, kind, name, synopsis, doc and decl (see
// tools/godoccorpus.Doc). Go 1.26 yields about 8900 documents, 6 MB.
func Godoc(goroot string) (Corpus, error) {
	if goroot == "" {
		goroot = godoccorpus.DefaultGOROOT()
	}
	if goroot == "" {
		return nil, fmt.Errorf("corpus: godoc: cannot determine GOROOT")
	}
	c := &docs{name: "godoc"}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := godoccorpus.Extract(goroot, func(d godoccorpus.Doc) error {
		buf.Reset()
		if err := enc.Encode(d); err != nil {
			return err
		}
		js := bytes.Clone(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
		c.docs = append(c.docs, Doc{ID: d.ID, JSON: js})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("corpus: godoc from %s: %w", goroot, err)
	}
	if len(c.docs) == 0 {
		return nil, fmt.Errorf("corpus: godoc: no documents in %s/src", goroot)
	}
	return c, nil
}
