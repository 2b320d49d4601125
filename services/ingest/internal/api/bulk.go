package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/bulkop"
	"github.com/termflow/termflow/pkg/document"
)

// maxItems is the number of invalid documents a 400 lists.
const maxItems = 100

// maxDepth limits the nesting of a document.
const maxDepth = 1000

// itemError is one invalid document: its 1-based NDJSON line or array
// position, and why.
type itemError struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// doc is one valid document of a request.
type doc struct {
	id  string
	src json.RawMessage
}

// parsed is a request body taken apart.
type parsed struct {
	docs    []doc
	invalid int         // invalid documents
	items   []itemError // the first maxItems of them
}

func (p *parsed) reject(line int, err error) {
	p.invalid++
	if len(p.items) < maxItems {
		p.items = append(p.items, itemError{Line: line, Error: err.Error()})
	}
}

func (p *parsed) add(line int, raw []byte, maxBytes int) {
	id, err := checkDocument(raw, maxBytes)
	if err != nil {
		p.reject(line, err)
		return
	}
	p.docs = append(p.docs, doc{id: id, src: raw})
}

// parseNDJSON reads one document per line; blank lines are skipped.
func parseNDJSON(body []byte, maxBytes int) parsed {
	var p parsed
	for line := 1; len(body) > 0; line++ {
		l := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			l, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		p.add(line, l, maxBytes)
	}
	return p
}

var errNotArray = errors.New("body must be a JSON array of documents, or NDJSON with Content-Type: application/x-ndjson")

// parseArray reads a JSON array of documents. A syntax error ends the
// parse: nothing after it can be located reliably.
func parseArray(body []byte, maxBytes int) (parsed, error) {
	var p parsed
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return p, errNotArray
	}
	pos := 0
	for dec.More() {
		pos++
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			p.reject(pos, fmt.Errorf("invalid JSON: %w", err))
			return p, nil
		}
		p.add(pos, raw, maxBytes)
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		p.reject(pos+1, fmt.Errorf("invalid JSON: %w", err))
		return p, nil
	}
	if _, err := dec.Token(); err != io.EOF {
		p.reject(pos+1, errors.New("trailing data after the array"))
	}
	return p, nil
}

// checkDocument validates one document and returns its id: valid UTF-8
// JSON, one object with no duplicate keys at any level, nothing after it,
// and an "id" that is a string or a number (document.ParseID).
func checkDocument(raw []byte, maxBytes int) (string, error) {
	if len(raw) > maxBytes {
		return "", fmt.Errorf("document of %d bytes is over the %d-byte limit", len(raw), maxBytes)
	}
	if !utf8.Valid(raw) {
		return "", errors.New("document is not valid UTF-8")
	}
	if len(raw) == 0 || raw[0] != '{' {
		return "", errors.New("document must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var idRaw []byte
	if err := walk(dec, raw, 0, &idRaw); err != nil {
		return "", err
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", errors.New("invalid JSON: trailing data after the document")
	}
	if idRaw == nil {
		return "", errors.New(`missing "id"`)
	}
	return document.ParseID(idRaw)
}

// walk reads one JSON value from dec. In the top-level object (depth 0) it
// stores the raw bytes of the "id" value in *id.
func walk(dec *json.Decoder, raw []byte, depth int, id *[]byte) error {
	if depth > maxDepth {
		return fmt.Errorf("document nested deeper than %d levels", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]struct{}{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return syntaxError(err)
			}
			k := kt.(string)
			if _, dup := seen[k]; dup {
				return fmt.Errorf("duplicate key %q", k)
			}
			seen[k] = struct{}{}
			start := dec.InputOffset()
			if err := walk(dec, raw, depth+1, id); err != nil {
				return err
			}
			if depth == 0 && k == "id" {
				*id = bytes.TrimLeft(raw[start:dec.InputOffset()], " \t\r\n:")
			}
		}
		if _, err := dec.Token(); err != nil {
			return syntaxError(err)
		}
	case json.Delim('['):
		for dec.More() {
			if err := walk(dec, raw, depth+1, id); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return syntaxError(err)
		}
	}
	return nil
}

// syntaxError describes a decoder error; the end of input is unexpected
// inside a value.
func syntaxError(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

func isNDJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/x-ndjson" || mt == "application/ndjson")
}

type bulkResponse struct {
	OperationID string        `json:"operationId"`
	Index       string        `json:"index"`
	Documents   int           `json:"documents"`
	Batches     int           `json:"batches"`
	Status      bulkop.Status `json:"status"`
}

// bulk is POST /bulk-indexing/{index}. It validates every document first;
// then creates the operation and publishes its state (acknowledged), then
// produces every document and answers 202 only once Kafka acknowledged
// all of them.
func (a *API) bulk(w http.ResponseWriter, r *http.Request) {
	index := r.PathValue("index")
	if err := document.ValidateIndex(index); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := a.tracker.Ready(); err != nil {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
		return
	}
	if r.ContentLength > int64(a.cfg.MaxBodyBytes) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", a.cfg.MaxBodyBytes))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(a.cfg.MaxBodyBytes)))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", a.cfg.MaxBodyBytes))
			return
		}
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	var p parsed
	if isNDJSON(r.Header.Get("Content-Type")) {
		p = parseNDJSON(body, a.cfg.MaxDocumentBytes)
	} else if p, err = parseArray(body, a.cfg.MaxDocumentBytes); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if p.invalid > 0 {
		a.m.rejected.Add(float64(p.invalid))
		writeJSON(w, http.StatusBadRequest, errorBody{Error: fmt.Sprintf("%d invalid documents", p.invalid), Items: p.items})
		return
	}
	n := len(p.docs)
	if n == 0 {
		writeError(w, http.StatusBadRequest, "no documents")
		return
	}

	weight := int64(min(n, a.cfg.MaxBufferedRecords))
	if !a.inflight.TryAcquire(weight) {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "too many documents in flight to Kafka; retry later")
		return
	}
	defer a.inflight.Release(weight)

	now := a.now()
	st, err := bulkop.New(bulkop.NewID(now), index, n, a.cfg.BatchSize, now)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	id := st.ID()
	recs := make([]*kgo.Record, n)
	for seq, d := range p.docs {
		recs[seq] = &kgo.Record{
			Topic: a.cfg.DocumentsTopic,
			Key:   document.Key(index, d.id),
			Value: document.Envelope{V: document.SchemaVersion, Index: index, ID: d.id, Doc: d.src}.Encode(),
			Headers: []kgo.RecordHeader{
				{Key: document.HeaderOperation, Value: []byte(id)},
				{Key: document.HeaderSeq, Value: document.Seq(seq)},
			},
		}
	}
	p.docs = nil
	// Once started, the request finishes even if its client goes away, so
	// the operation's state says what happened.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), a.cfg.ProduceTimeout)
	defer cancel()
	if err := a.tracker.Create(ctx, st); err != nil {
		a.unavailable(w, id, fmt.Sprintf("publish operation state: %v", err))
		return
	}
	res := a.producer.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		failed := 0
		for _, pr := range res {
			if pr.Err != nil {
				failed++
			}
		}
		a.unavailable(w, id, fmt.Sprintf("kafka did not acknowledge %d of %d documents: %v", failed, n, err))
		return
	}
	a.m.accepted.Add(float64(n))
	w.Header().Set("Location", "/bulk-operations/"+id)
	writeJSON(w, http.StatusAccepted, bulkResponse{OperationID: id, Index: index, Documents: n,
		Batches: st.TotalBatches(), Status: bulkop.Indexing})
}

// unavailable aborts the operation and answers 503.
func (a *API) unavailable(w http.ResponseWriter, id, reason string) {
	a.tracker.Abort(id, reason)
	a.log.Warn().Str("operation", id).Str("error", reason).Msg("bulk request failed")
	w.Header().Set("Retry-After", "5")
	writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: reason, OperationID: id})
}
