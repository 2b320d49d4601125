package command

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"sync"
	"time"
)

func loadCommand() Command {
	return Command{
		Name:    "load",
		Summary: "load an NDJSON or JSON-array file of any size into an index, with a progress bar",
		Run:     runLoad,
	}
}

const loadUsage = `usage: termflowctl load [flags] --index INDEX FILE

Streams FILE ("-" for stdin), NDJSON or one JSON array of documents, into
INDEX: it is cut into bulk requests of at most --docs documents and
--max-bytes bytes, each sent to POST /bulk-indexing/INDEX and sent again on
429 and 503 (and when ingest cannot be reached) with exponential backoff
that honours Retry-After. Each accepted request is one operation; the
command follows them until all are completed, partially_completed or
failed, with a live bar of indexed and persisted documents on stderr.

Requests go one at a time by default, so a document that appears twice ends
with its last version; with --concurrency above 1 the requests may reach
Kafka in any order.

An invalid document makes ingest reject its whole request (400): the
invalid lines (NDJSON) or items (JSON array) are listed with the file's
numbering, nothing more is sent, and the operations already accepted are
followed to their end.

Exit status: 0 every operation completed; 1 documents were rejected or an
operation ended partially_completed or failed; 2 usage or operational error
(ingest unreachable after the retries).
`

type loadFlags struct {
	api         apiFlags
	index       string
	format      string
	docs        int
	maxBytes    int
	concurrency int
	retries     int
	minBackoff  time.Duration
	maxBackoff  time.Duration
	interval    time.Duration
	timeout     time.Duration
	noWait      bool
	progress    bool
	callbackURL string
	file        string
}

func parseLoad(args []string, env Env) (loadFlags, error) {
	var f loadFlags
	fs := newFlags("load", loadUsage, env)
	f.api.register(fs)
	fs.String(&f.index, "index", "TERMFLOW_INDEX", "", "index to load into (required)")
	fs.StringVar(&f.format, "format", "auto", "auto (a file starting with [ is a JSON array), ndjson or json")
	fs.IntVar(&f.docs, "docs", 10000, "documents per request")
	fs.IntVar(&f.maxBytes, "max-bytes", 16<<20, "bytes per request (ingest refuses bodies over its -max-body-bytes, 64 MiB by default); a larger document goes alone")
	fs.IntVar(&f.concurrency, "concurrency", 1, "requests in flight (above 1 the file's order between requests is not kept)")
	fs.IntVar(&f.retries, "retries", 10, "attempts of a request on 429, 503 or a connection error, after the first")
	fs.DurationVar(&f.minBackoff, "min-backoff", 500*time.Millisecond, "first wait before a retry (at least Retry-After), doubled each time")
	fs.DurationVar(&f.maxBackoff, "max-backoff", 30*time.Second, "longest wait before a retry")
	fs.DurationVar(&f.interval, "interval", 500*time.Millisecond, "how often to poll the operations")
	fs.DurationVar(&f.timeout, "timeout", 0, "give up after this long (0: never)")
	fs.BoolVar(&f.noWait, "no-wait", false, "return once every request was accepted, without following the operations")
	fs.BoolVar(&f.progress, "progress", isTerminal(env.Stderr), "show a progress bar on stderr (default: when stderr is a terminal)")
	fs.StringVar(&f.callbackURL, "callback-url", "", "completion webhook of each operation (its host must be on ingest's allow-list)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return f, err
	}
	if err := wantArgs(fs, pos, 1, "a file"); err != nil {
		return f, err
	}
	f.file = pos[0]
	switch {
	case f.index == "":
		return f, errors.New("--index is required")
	case f.format != "auto" && f.format != "ndjson" && f.format != "json":
		return f, fmt.Errorf("format %q: want auto, ndjson or json", f.format)
	case f.docs < 1 || f.maxBytes < 1 || f.concurrency < 1 || f.retries < 0:
		return f, errors.New("--docs, --max-bytes and --concurrency must be positive, --retries not negative")
	case f.minBackoff <= 0 || f.maxBackoff < f.minBackoff || f.interval <= 0:
		return f, errors.New("--min-backoff and --interval must be positive, --max-backoff at least --min-backoff")
	}
	return f, nil
}

// chunk is one bulk request: NDJSON lines, and where each came from.
type chunk struct {
	seq   int // 0-based request number
	body  []byte
	where []int // per line of body: its NDJSON line or array item in the file, 1-based
	docs  int
}

// splitter cuts a file into chunks.
type splitter struct {
	docs, maxBytes int
	cur            chunk
	n              int
	read           int // documents read
	emit           func(chunk) error
}

func (s *splitter) add(doc []byte, where int) error {
	if s.cur.docs > 0 && (s.cur.docs >= s.docs || len(s.cur.body)+len(doc)+1 > s.maxBytes) {
		if err := s.flush(); err != nil {
			return err
		}
	}
	s.cur.body = append(append(s.cur.body, doc...), '\n')
	s.cur.where = append(s.cur.where, where)
	s.cur.docs++
	s.read++
	return nil
}

func (s *splitter) flush() error {
	if s.cur.docs == 0 {
		return nil
	}
	c := s.cur
	c.seq = s.n
	s.n++
	s.cur = chunk{}
	return s.emit(c)
}

// split reads r (format "ndjson", "json" or "auto") and emits its chunks.
// It reports whether the file was a JSON array.
func split(r io.Reader, format string, s *splitter) (array bool, err error) {
	br := bufio.NewReaderSize(r, 1<<20)
	if format == "auto" {
		format = "ndjson"
		for {
			b, err := br.Peek(1)
			if err != nil {
				break
			}
			if b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n' || b[0] == 0xEF || b[0] == 0xBB || b[0] == 0xBF {
				_, _ = br.ReadByte() // whitespace or a UTF-8 byte order mark
				continue
			}
			if b[0] == '[' {
				format = "json"
			}
			break
		}
	}
	if format == "json" {
		return true, splitArray(br, s)
	}
	return false, splitNDJSON(br, s)
}

func splitNDJSON(br *bufio.Reader, s *splitter) error {
	for line := 1; ; line++ {
		l, err := br.ReadBytes('\n')
		if len(l) > 0 {
			if t := bytes.TrimSpace(l); len(t) > 0 {
				if err := s.add(t, line); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			return s.flush()
		}
		if err != nil {
			return fmt.Errorf("read line %d: %w", line, err)
		}
	}
}

func splitArray(br *bufio.Reader, s *splitter) error {
	dec := json.NewDecoder(br)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return errors.New("not a JSON array of documents (use --format ndjson for NDJSON)")
	}
	var buf bytes.Buffer
	for item := 1; dec.More(); item++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("item %d: invalid JSON: %w", item, err)
		}
		buf.Reset()
		if err := json.Compact(&buf, raw); err != nil {
			return fmt.Errorf("item %d: invalid JSON: %w", item, err)
		}
		if err := s.add(bytes.Clone(buf.Bytes()), item); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("invalid JSON at the end of the array: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON array")
	}
	return s.flush()
}

// rejection is a document ingest refused, numbered as in the file.
type rejection struct {
	Line  int    `json:"line,omitempty"`
	Item  int    `json:"item,omitempty"`
	Error string `json:"error"`
}

// loadResult is load's answer (--json).
type loadResult struct {
	Index      string      `json:"index"`
	Status     string      `json:"status"` // completed, partially_completed, failed, or accepted (--no-wait)
	Documents  int         `json:"documents"`
	Requests   int         `json:"requests"`
	Retries    int         `json:"retries"`
	Rejected   []rejection `json:"rejected,omitempty"`
	Error      string      `json:"error,omitempty"`
	Operations []operation `json:"operations"`
	ElapsedMs  int64       `json:"elapsedMs"`
}

// loader is one run of load.
type loader struct {
	f     loadFlags
	c     *client
	array bool

	mu       sync.Mutex
	ops      map[string]*operation
	order    []string // operation ids in request order
	sent     int      // documents accepted (202)
	read     int      // documents read so far
	readDone bool
	retries  int
	rejected []rejection
}

func runLoad(ctx context.Context, args []string, env Env) error {
	f, err := parseLoad(args, env)
	if err != nil {
		return err
	}
	c, err := f.api.client()
	if err != nil {
		return err
	}
	var in io.Reader = os.Stdin
	if f.file != "-" {
		fh, err := os.Open(f.file)
		if err != nil {
			return err
		}
		defer fh.Close()
		in = fh
	}
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	start := time.Now()
	l := &loader{f: f, c: c, ops: map[string]*operation{}}
	var p *progress
	if f.progress && !f.api.json {
		p = newProgress(env.Stderr, "load "+f.index)
	}

	// Reader → chunks → senders; the main loop polls the operations.
	sendCtx, stopSending := context.WithCancel(ctx)
	defer stopSending()
	chunks := make(chan chunk, f.concurrency)
	var (
		errOnce sync.Once
		runErr  error // first operational error, or errRejected
	)
	fail := func(err error) {
		errOnce.Do(func() { runErr = err })
		stopSending()
	}
	go func() {
		defer close(chunks)
		s := &splitter{docs: f.docs, maxBytes: f.maxBytes}
		s.emit = func(c chunk) error {
			l.mu.Lock()
			l.read = s.read
			l.mu.Unlock()
			select {
			case chunks <- c:
				return nil
			case <-sendCtx.Done():
				return sendCtx.Err()
			}
		}
		array, err := split(in, f.format, s)
		l.mu.Lock()
		l.array, l.read, l.readDone = array, s.read, err == nil
		l.mu.Unlock()
		if err != nil && sendCtx.Err() == nil {
			fail(fmt.Errorf("read %s: %w", f.file, err))
		}
	}()
	var wg sync.WaitGroup
	for range f.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ch := range chunks {
				if sendCtx.Err() != nil {
					continue
				}
				if err := l.send(sendCtx, ch); err != nil {
					fail(err)
				}
			}
		}()
	}
	sendersDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(sendersDone)
	}()

	tick := time.NewTicker(f.interval)
	defer tick.Stop()
	sending := true
	for {
		if sending {
			select {
			case <-sendersDone:
				sending, sendersDone = false, nil // a nil channel: the wait below is for the ticker
			default:
			}
		}
		if !f.noWait {
			l.poll(ctx)
		}
		l.show(p)
		if !sending && (f.noWait || l.allTerminal()) {
			break
		}
		select {
		case <-ctx.Done():
			p.finish()
			return fmt.Errorf("load: %w (%d operations accepted: termflowctl ops list --index %s)", ctx.Err(), len(l.order), f.index)
		case <-tick.C:
		case <-sendersDone:
		}
	}
	p.finish()

	res := l.result(start)
	if runErr != nil && !errors.Is(runErr, errRejected) {
		res.Error = runErr.Error()
	}
	l.mu.Lock()
	if runErr == nil && l.read == 0 {
		l.mu.Unlock()
		return fmt.Errorf("%s holds no documents", f.file)
	}
	l.mu.Unlock()
	if f.api.json {
		if err := writeJSON(env.Stdout, res); err != nil {
			return err
		}
	} else {
		l.printText(ctx, env, res)
	}
	switch {
	case runErr != nil && !errors.Is(runErr, errRejected):
		if f.api.json {
			return &ExitStatus{Code: ExitError}
		}
		return runErr
	case res.Status != "completed" && res.Status != "accepted":
		return &ExitStatus{Code: ExitFound}
	}
	return nil
}

var errRejected = errors.New("documents rejected")

// send posts one chunk, retrying on 429, 503 and connection errors.
func (l *loader) send(ctx context.Context, ch chunk) error {
	path := "/bulk-indexing/" + url.PathEscape(l.f.index)
	if l.f.callbackURL != "" {
		path += "?" + url.Values{"callbackUrl": {l.f.callbackURL}}.Encode()
	}
	h := http.Header{"Content-Type": {"application/x-ndjson"}}
	backoff := l.f.minBackoff
	for attempt := 0; ; attempt++ {
		var resp struct {
			OperationID string `json:"operationId"`
			Documents   int    `json:"documents"`
		}
		err := l.c.do(ctx, http.MethodPost, path, h, ch.body, &resp)
		if err == nil {
			l.mu.Lock()
			l.ops[resp.OperationID] = &operation{ID: resp.OperationID, Index: l.f.index, Status: "indexing", TotalDocuments: resp.Documents}
			l.order = append(l.order, resp.OperationID)
			l.sent += ch.docs
			l.mu.Unlock()
			return nil
		}
		var ae *apiError
		isAPI := errors.As(err, &ae)
		if isAPI && ae.Code == http.StatusBadRequest && len(ae.Items) > 0 {
			l.reject(ch, ae)
			return errRejected
		}
		if isAPI && !ae.retryable() {
			return fmt.Errorf("request %d (documents %s): %w", ch.seq+1, l.span(ch), err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt >= l.f.retries {
			return fmt.Errorf("request %d (documents %s): gave up after %d attempts: %w", ch.seq+1, l.span(ch), attempt+1, err)
		}
		wait := backoff
		if isAPI && ae.RetryAfter > wait {
			wait = ae.RetryAfter
		}
		backoff = min(2*backoff, l.f.maxBackoff)
		l.mu.Lock()
		l.retries++
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (l *loader) span(ch chunk) string {
	what := "line"
	if l.isArray() {
		what = "item"
	}
	return fmt.Sprintf("%s %d to %d", what, ch.where[0], ch.where[len(ch.where)-1])
}

func (l *loader) isArray() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.array || l.f.format == "json"
}

// reject records the documents of a 400, renumbered as in the file.
func (l *loader) reject(ch chunk, ae *apiError) {
	array := l.isArray()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, it := range ae.Items {
		r := rejection{Error: it.Error}
		n := it.Line
		if n >= 1 && n <= len(ch.where) {
			n = ch.where[n-1]
		}
		if array {
			r.Item = n
		} else {
			r.Line = n
		}
		l.rejected = append(l.rejected, r)
	}
}

// poll refreshes the operations that are not terminal.
func (l *loader) poll(ctx context.Context) {
	l.mu.Lock()
	var ids []string
	for _, id := range l.order {
		if !l.ops[id].terminal() {
			ids = append(ids, id)
		}
	}
	l.mu.Unlock()
	for _, id := range ids {
		o, err := l.c.operation(ctx, id)
		if err != nil {
			continue // the next tick asks again
		}
		l.mu.Lock()
		*l.ops[id] = o
		l.mu.Unlock()
	}
}

func (l *loader) allTerminal() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.ops {
		if !o.terminal() {
			return false
		}
	}
	return true
}

func (l *loader) show(p *progress) {
	if p == nil {
		return
	}
	l.mu.Lock()
	total := -1
	if l.readDone {
		total = l.read
	}
	var idx, per, failed int
	for _, o := range l.ops {
		idx += o.IndexedDocuments
		per += o.PersistedDocuments
		failed += o.FailedDocuments
	}
	sent := l.sent
	l.mu.Unlock()
	p.update(total, sent, idx, per, failed)
}

func (l *loader) result(start time.Time) loadResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	res := loadResult{Index: l.f.index, Documents: l.sent, Requests: len(l.order), Retries: l.retries,
		Rejected: l.rejected, Operations: make([]operation, 0, len(l.order)), ElapsedMs: time.Since(start).Milliseconds()}
	completed, failed := 0, 0
	for _, id := range l.order {
		o := *l.ops[id]
		res.Operations = append(res.Operations, o)
		switch o.Status {
		case "completed":
			completed++
		case "failed":
			failed++
		}
	}
	switch {
	case l.f.noWait && len(l.rejected) == 0:
		res.Status = "accepted"
	case len(l.rejected) > 0 || (failed > 0 && failed == len(l.order)) || len(l.order) == 0:
		res.Status = "failed"
	case completed == len(l.order):
		res.Status = "completed"
	default:
		res.Status = "partially_completed"
	}
	return res
}

func (l *loader) printText(ctx context.Context, env Env, res loadResult) {
	w := env.Stdout
	sort.Slice(res.Rejected, func(i, j int) bool {
		return res.Rejected[i].Line+res.Rejected[i].Item < res.Rejected[j].Line+res.Rejected[j].Item
	})
	for _, r := range res.Rejected {
		if r.Item > 0 {
			fmt.Fprintf(env.Stderr, "item %d: %s\n", r.Item, r.Error)
		} else {
			fmt.Fprintf(env.Stderr, "line %d: %s\n", r.Line, r.Error)
		}
	}
	if len(res.Rejected) > 0 {
		fmt.Fprintf(env.Stderr, "ingest rejected a request with %d invalid documents; nothing after it was sent\n", len(res.Rejected))
	}
	var idx, per, failed int
	for _, o := range res.Operations {
		idx += o.IndexedDocuments
		per += o.PersistedDocuments
		failed += o.FailedDocuments
		if o.Status != "completed" && o.terminal() {
			printOpLine(env.Stderr, o)
			if e, err := l.c.operationErrors(ctx, o.ID); err == nil {
				for i, f := range e.Errors {
					if i == 5 {
						fmt.Fprintf(env.Stderr, "  … termflowctl ops errors %s\n", o.ID)
						break
					}
					fmt.Fprintf(env.Stderr, "  seq %d id %q: %s\n", f.Seq, f.ID, f.Reason)
				}
			}
		}
	}
	fmt.Fprintf(w, "load %s: %s: %d documents in %d requests (%d retries), indexed %d, persisted %d, failed %d, in %v\n",
		res.Index, res.Status, res.Documents, res.Requests, res.Retries, idx, per, failed,
		(time.Duration(res.ElapsedMs) * time.Millisecond).Round(time.Millisecond))
}
