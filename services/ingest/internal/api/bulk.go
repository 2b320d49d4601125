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
	"sync"
	"sync/atomic"
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

// item is one valid entry of a request: a document to index or replace,
// or (src nil) a delete.
type item struct {
	id   string
	src  json.RawMessage
	line int // in the request (NDJSON line or array position); 0 for PUT and DELETE
}

// parsed is a request body taken apart.
type parsed struct {
	items   []item
	deletes int         // items that are deletes
	big     int         // invalid documents over the size limit
	longIDs int         // invalid documents with an id over document.MaxIDBytes
	invalid int         // invalid documents
	errs    []itemError // the first maxItems of them
}

func (p *parsed) reject(line int, err error) {
	p.invalid++
	if len(p.errs) < maxItems {
		p.errs = append(p.errs, itemError{Line: line, Error: err.Error()})
	}
}

func (p *parsed) add(line int, raw []byte, maxBytes int) {
	it, err := checkItem(raw, maxBytes)
	if err != nil {
		if len(raw) > maxBytes {
			p.big++
		} else if errors.Is(err, document.ErrIDTooLong) {
			p.longIDs++
		}
		p.reject(line, err)
		return
	}
	if it.src == nil {
		p.deletes++
	}
	it.line = line
	p.items = append(p.items, it)
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

// deleteKey marks a delete in a bulk request: {"id": "42", "_delete": true}.
const deleteKey = "_delete"

// topLevel is what checkObject reports of a document's top-level object.
type topLevel struct {
	id     []byte // raw value of "id", nil if absent
	del    []byte // raw value of "_delete", nil if absent
	other  string // the first other member's name
	nOther int    // how many other members there are
}

// checkObject validates one document: at most maxBytes of valid UTF-8
// JSON, one object with no duplicate keys at any level and nesting at most
// maxDepth, nothing after it. It reports the top-level members.
func checkObject(raw []byte, maxBytes int) (topLevel, error) {
	var top topLevel
	if len(raw) > maxBytes {
		return top, fmt.Errorf("document of %d bytes is over the %d-byte limit", len(raw), maxBytes)
	}
	if !utf8.Valid(raw) {
		return top, errors.New("document is not valid UTF-8")
	}
	if len(raw) == 0 || raw[0] != '{' {
		return top, errors.New("document must be a JSON object")
	}
	if top, ok := scanObject(raw); ok {
		return top, nil
	}
	// Something is wrong or unusual: the decoder's walk gives the verdict
	// and the exact message.
	return walkObject(raw)
}

// walkObject is checkObject's exact path, through encoding/json's decoder.
func walkObject(raw []byte) (topLevel, error) {
	var top topLevel
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := walk(dec, raw, 0, &top); err != nil {
		return top, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return top, errors.New("invalid JSON: trailing data after the document")
	}
	return top, nil
}

// checkItem validates one entry of a bulk request: a document with an
// "id" that is a string or a number (document.ParseID), or a delete,
// {"id": ..., "_delete": true} with no other member.
func checkItem(raw []byte, maxBytes int) (item, error) {
	top, err := checkObject(raw, maxBytes)
	if err != nil {
		return item{}, err
	}
	if top.del != nil {
		if string(top.del) != "true" {
			return item{}, fmt.Errorf(`%q must be true (it marks a delete; a document cannot have that field)`, deleteKey)
		}
		if top.nOther > 0 {
			return item{}, fmt.Errorf(`a delete ("%s": true) takes only "id", found %q`, deleteKey, top.other)
		}
	}
	if top.id == nil {
		return item{}, errors.New(`missing "id"`)
	}
	id, err := document.ParseID(top.id)
	if err != nil {
		return item{}, err
	}
	if top.del != nil {
		return item{id: id}, nil
	}
	return item{id: id, src: raw}, nil
}

// walk reads one JSON value from dec. In the top-level object (depth 0) it
// records the members in top.
func walk(dec *json.Decoder, raw []byte, depth int, top *topLevel) error {
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
			if err := walk(dec, raw, depth+1, top); err != nil {
				return err
			}
			if depth == 0 {
				v := bytes.TrimLeft(raw[start:dec.InputOffset()], " \t\r\n:")
				switch k {
				case "id":
					top.id = v
				case deleteKey:
					top.del = v
				default:
					if top.nOther == 0 {
						top.other = k
					}
					top.nOther++
				}
			}
		}
		if _, err := dec.Token(); err != nil {
			return syntaxError(err)
		}
	case json.Delim('['):
		for dec.More() {
			if err := walk(dec, raw, depth+1, top); err != nil {
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
	Deletes     int           `json:"deletes,omitempty"`
	Batches     int           `json:"batches"`
	Status      bulkop.Status `json:"status"`
}

// readBody reads a request body of at most limit bytes, answering 413 (what
// names the body) when it is larger and 400 when it cannot be read.
func (a *API) readBody(w http.ResponseWriter, r *http.Request, limit int, what, metric string) ([]byte, bool) {
	tooLarge := func() {
		a.overLimit(metric, 1)
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("%s over %d bytes", what, limit))
	}
	if r.ContentLength > int64(limit) {
		tooLarge()
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			tooLarge()
		} else {
			writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		}
		return nil, false
	}
	return body, true
}

// bulk is POST /bulk-indexing/{index}. It validates every document first
// (400 listing the invalid ones, nothing produced), then submits them all
// as one operation.
func (a *API) bulk(w http.ResponseWriter, r *http.Request) {
	index, ok := pathIndex(w, r)
	if !ok {
		return
	}
	done, ok := a.admit(w)
	if !ok {
		return
	}
	defer done()
	body, ok := a.readBody(w, r, a.cfg.MaxBodyBytes, "request body", limBody)
	if !ok {
		return
	}
	var p parsed
	var err error
	if isNDJSON(r.Header.Get("Content-Type")) {
		p = parseNDJSON(body, a.cfg.MaxDocumentBytes)
	} else if p, err = parseArray(body, a.cfg.MaxDocumentBytes); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if a.tooManyDocuments(w, &p) {
		return
	}
	a.applyLimits(&p)
	a.overLimit(limDocBytes, p.big)
	a.overLimit(limID, p.longIDs)
	if p.invalid > 0 {
		a.m.rejected.Add(float64(p.invalid))
		writeJSON(w, http.StatusBadRequest, errorBody{Error: fmt.Sprintf("%d invalid documents", p.invalid), Items: p.errs})
		return
	}
	if len(p.items) == 0 {
		writeError(w, http.StatusBadRequest, "no documents")
		return
	}
	a.submit(w, r, index, p.items, p.deletes)
}

// submit makes one operation of items and answers 202 only once Kafka
// acknowledged every one of its records:
//
//  1. reserve room in the documents producer's buffer (429 if there is none:
//     nothing is created or produced);
//  2. create the operation and publish its state (503 if Kafka does not
//     acknowledge it within the produce timeout);
//  3. produce the records and wait for every outcome (503 if one failed or
//     the timeout passed first; 429 if the buffer filled up after all);
//  4. publish the state again, accepted (503 if not acknowledged);
//  5. answer 202.
//
// Any failure after 2 aborts the operation: it ends failed, listing the
// documents Kafka did not take, and is never completed. Documents of it
// that Kafka did take are indexed anyway; retrying the request is safe
// because a document is keyed by its id. The caller must hold a write
// registration (admit); Drain also waits for the records' outcomes, which
// may come after the answer.
func (a *API) submit(w http.ResponseWriter, r *http.Request, index string, items []item, deletes int) {
	n := len(items)
	now := a.now()
	st, err := bulkop.New(bulkop.NewID(now), index, n, a.cfg.BatchSize, now)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if !a.webhooks(w, r, st) {
		return
	}
	id := st.ID()
	recs, size := a.records(index, id, items)
	if a.tooLarge(w, recs, items) {
		return
	}

	res, ok := a.reserve(n, size)
	if !ok {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "too many documents in flight to Kafka; retry later")
		return
	}
	// Once started, the request finishes even if its client goes away, so
	// the operation's state says what happened. The produce timeout bounds
	// the whole request.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), a.cfg.ProduceTimeout)
	defer cancel()
	if err := a.tracker.Create(ctx, st); err != nil {
		a.release(res)
		a.reject(w, http.StatusServiceUnavailable, id, fmt.Sprintf("publish operation state: %v", err))
		return
	}

	outcome := make(chan produced, 1)
	a.writes.Add(1) // the caller's registration is held until we return
	go func() {
		defer a.writes.Done()
		out := a.produce(ctx, recs, res.exclusive)
		a.release(res)
		// Record the documents Kafka did not take, also when the request
		// was answered before their outcome was known.
		a.tracker.Fail(id, out.failures(items))
		outcome <- out
	}()
	select {
	case out := <-outcome:
		if out.failed > 0 {
			code, what := http.StatusServiceUnavailable, "kafka did not acknowledge"
			if out.full > 0 {
				code, what = http.StatusTooManyRequests, "producer buffer full: kafka did not take"
			}
			a.reject(w, code, id, fmt.Sprintf("%s %d of %d documents: %v", what, out.failed, n, out.first))
			return
		}
	case <-ctx.Done():
		a.reject(w, http.StatusServiceUnavailable, id,
			fmt.Sprintf("kafka did not acknowledge the %d documents within %s", n, a.cfg.ProduceTimeout))
		return
	}
	if err := a.tracker.Accept(ctx, id); err != nil {
		a.reject(w, http.StatusServiceUnavailable, id, fmt.Sprintf("publish accepted operation state: %v", err))
		return
	}
	a.m.accepted.Add(float64(n))
	a.log.Info().Str("operation", id).Str("index", index).Str("topic", a.cfg.DocumentsTopic).Int("documents", n).Msg("operation accepted")
	w.Header().Set("Location", "/bulk-operations/"+id)
	writeJSON(w, http.StatusAccepted, bulkResponse{OperationID: id, Index: index, Documents: n, Deletes: deletes,
		Batches: st.TotalBatches(), Status: bulkop.Indexing})
}

// records builds the documents-topic records of an operation's items and
// sums their sizes as the producer counts them.
func (a *API) records(index, id string, items []item) ([]*kgo.Record, int64) {
	recs := make([]*kgo.Record, len(items))
	var size int64
	for seq, it := range items {
		env := document.Envelope{V: document.SchemaVersion, Index: index, ID: it.id, Doc: it.src, Delete: it.src == nil}
		r := &kgo.Record{
			Topic: a.cfg.DocumentsTopic,
			Key:   document.Key(index, it.id),
			Value: env.Encode(),
			Headers: []kgo.RecordHeader{
				{Key: document.HeaderOperation, Value: []byte(id)},
				{Key: document.HeaderSeq, Value: document.Seq(seq)},
			},
		}
		size += int64(len(r.Key) + len(r.Value))
		for _, h := range r.Headers {
			size += int64(len(h.Key) + len(h.Value))
		}
		recs[seq] = r
	}
	return recs, size
}

// tooLarge answers 400 if a record is larger than the indexer takes (the
// same max document bytes bounds the whole record there): a document just
// under the limit can go over it once in its envelope, and would be
// dead-lettered after a 202.
func (a *API) tooLarge(w http.ResponseWriter, recs []*kgo.Record, items []item) bool {
	var p parsed
	for i, r := range recs {
		if len(r.Value) > a.cfg.MaxDocumentBytes {
			p.reject(items[i].line, fmt.Errorf("document of %d bytes in its envelope is over the %d-byte limit", len(r.Value), a.cfg.MaxDocumentBytes))
		}
	}
	if p.invalid == 0 {
		return false
	}
	a.overLimit(limDocBytes, p.invalid)
	switch {
	case len(items) == 1 && items[0].line == 0:
		writeError(w, http.StatusBadRequest, p.errs[0].Error)
	default:
		writeJSON(w, http.StatusBadRequest, errorBody{Error: fmt.Sprintf("%d invalid documents", p.invalid), Items: p.errs})
	}
	a.m.rejected.Add(float64(p.invalid))
	return true
}

// reservation is room taken in the documents producer's buffer.
type reservation struct {
	records, bytes int64
	// exclusive: the request is larger than the buffer, took all of it,
	// and must wait for its own records to make room as they are sent.
	exclusive bool
}

// reserve takes room for n records of size bytes, or reports false when
// the buffer is too full. A request larger than the buffer takes all of it,
// so it fits only when nothing else is in flight.
func (a *API) reserve(n int, size int64) (reservation, bool) {
	res := reservation{records: min(int64(n), int64(a.cfg.MaxBufferedRecords)), bytes: min(size, int64(a.cfg.MaxBufferedBytes))}
	res.exclusive = res.records < int64(n) || res.bytes < size
	if !a.inflight.TryAcquire(res.records) {
		return res, false
	}
	if !a.inflightB.TryAcquire(res.bytes) {
		a.inflight.Release(res.records)
		return res, false
	}
	return res, true
}

func (a *API) release(res reservation) {
	a.inflight.Release(res.records)
	a.inflightB.Release(res.bytes)
}

// produced is the outcome of a request's records.
type produced struct {
	errs   []error // per record, nil when Kafka acknowledged it
	failed int     // records not acknowledged
	full   int     // of which refused because the buffer was full
	first  error   // the first error
}

// failures describes the records Kafka did not take, for the operation's
// state.
func (p produced) failures(items []item) []bulkop.Failure {
	var fs []bulkop.Failure
	for seq, err := range p.errs {
		if err != nil && len(fs) < bulkop.MaxFailures {
			fs = append(fs, bulkop.Failure{Seq: seq, ID: items[seq].id, Reason: "kafka did not acknowledge the document: " + err.Error(),
				Partition: bulkop.NoLocation, Offset: bulkop.NoLocation})
		}
	}
	return fs
}

// produce sends recs and waits for the outcome of every one. Records go
// through TryProduce, which refuses a record with kgo.ErrMaxBuffered instead
// of waiting for room; after the first refusal the rest are not tried. An
// exclusive request blocks for room instead (it only waits for its own
// records, bounded by ctx).
func (a *API) produce(ctx context.Context, recs []*kgo.Record, exclusive bool) produced {
	out := produced{errs: make([]error, len(recs))}
	var (
		wg   sync.WaitGroup
		full atomic.Bool
	)
	wg.Add(len(recs))
	for i, r := range recs {
		promise := func(_ *kgo.Record, err error) {
			if errors.Is(err, kgo.ErrMaxBuffered) {
				full.Store(true)
			}
			out.errs[i] = err
			wg.Done()
		}
		switch {
		case full.Load():
			promise(r, kgo.ErrMaxBuffered)
		case exclusive:
			a.producer.Produce(ctx, r, promise)
		default:
			a.producer.TryProduce(ctx, r, promise)
		}
	}
	wg.Wait()
	for _, err := range out.errs {
		if err == nil {
			continue
		}
		if out.failed++; out.first == nil {
			out.first = err
		}
		if errors.Is(err, kgo.ErrMaxBuffered) {
			out.full++
		}
	}
	return out
}

// reject aborts the operation and answers code (503 or 429) with
// Retry-After and the operation id.
func (a *API) reject(w http.ResponseWriter, code int, id, reason string) {
	a.tracker.Abort(id, reason)
	a.log.Warn().Str("operation", id).Str("error", reason).Msg("write request failed")
	retry := "5"
	if code == http.StatusTooManyRequests {
		retry = "1"
	}
	w.Header().Set("Retry-After", retry)
	writeJSON(w, code, errorBody{Error: reason, OperationID: id})
}
