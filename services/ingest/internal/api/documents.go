package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/termflow/termflow/pkg/document"
)

// putDocument is PUT /indexes/{index}/documents/{id}: the body, one JSON
// object, replaces (or creates) the document. An "id" member, if present,
// must name the same document as the path (a number is taken by its
// literal text, as in bulk requests); if absent, "id": "{id}" is added, so
// the stored document is the same as one sent in a bulk request. The
// answer is a bulk operation of one document.
func (a *API) putDocument(w http.ResponseWriter, r *http.Request) {
	index, id, ok := pathDocument(w, r)
	if !ok {
		return
	}
	done, ok := a.admit(w)
	if !ok {
		return
	}
	defer done()
	body, ok := a.readBody(w, r, a.cfg.MaxDocumentBytes, "document", limDocBytes)
	if !ok {
		return
	}
	src, err := checkReplacement(bytes.TrimSpace(body), id, a.cfg.MaxDocumentBytes)
	if err == nil {
		var which string
		if which, err = a.cfg.Limits.checkShape(src); err != nil {
			a.overLimit(which, 1)
		}
	}
	if err != nil {
		a.m.rejected.Inc()
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a.submit(w, r, index, []item{{id: id, src: src}}, 0)
}

// deleteDocument is DELETE /indexes/{index}/documents/{id}: a bulk
// operation of one delete. Deleting a document that does not exist is not
// an error.
func (a *API) deleteDocument(w http.ResponseWriter, r *http.Request) {
	index, id, ok := pathDocument(w, r)
	if !ok {
		return
	}
	done, ok := a.admit(w)
	if !ok {
		return
	}
	defer done()
	a.submit(w, r, index, []item{{id: id}}, 1)
}

// pathDocument validates the {index} and {id} path values (the id is
// percent-decoded: "a%2F1" names the document "a/1"), answering 400 if
// invalid.
func pathDocument(w http.ResponseWriter, r *http.Request) (index, id string, ok bool) {
	index, ok = pathIndex(w, r)
	if !ok {
		return "", "", false
	}
	id = r.PathValue("id")
	if err := document.ValidateID(id); err != nil {
		writeError(w, http.StatusBadRequest, "invalid document id: "+err.Error())
		return "", "", false
	}
	return index, id, true
}

// checkReplacement validates the body of a PUT for the document id and
// returns the document to store: with an "id" member equal to id (added
// first if the body has none).
func checkReplacement(raw []byte, id string, maxBytes int) (json.RawMessage, error) {
	if len(raw) == 0 {
		return nil, errors.New("empty body: want the document, a JSON object")
	}
	top, err := checkObject(raw, maxBytes)
	if err != nil {
		return nil, err
	}
	if top.del != nil {
		return nil, fmt.Errorf("%q is not allowed in a document: DELETE the document instead", deleteKey)
	}
	if top.id != nil {
		bodyID, err := document.ParseID(top.id)
		if err != nil {
			return nil, err
		}
		if bodyID != id {
			return nil, fmt.Errorf(`"id" %q in the body differs from the document id %q in the path`, bodyID, id)
		}
		return raw, nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(id) // a valid UTF-8 string cannot fail
	quoted := bytes.TrimRight(b.Bytes(), "\n")
	rest := bytes.TrimLeft(raw[1:], " \t\r\n") // after the opening brace
	out := make([]byte, 0, len(raw)+len(quoted)+8)
	out = append(out, `{"id":`...)
	out = append(out, quoted...)
	if rest[0] != '}' {
		out = append(out, ',')
	}
	out = append(out, rest...)
	if len(out) > maxBytes {
		return nil, fmt.Errorf("document of %d bytes with its id is over the %d-byte limit", len(out), maxBytes)
	}
	return out, nil
}
