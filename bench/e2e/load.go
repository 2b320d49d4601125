package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// DocFunc returns document i of a corpus: its id and its JSON object.
type DocFunc func(i int) (id string, doc []byte)

// Bodies builds NDJSON bulk bodies of perRequest documents each for
// documents [from, to), every line the document with its "id" first.
func Bodies(doc DocFunc, from, to, perRequest int) ([][]byte, error) {
	var out [][]byte
	var buf bytes.Buffer
	for i := from; i < to; i++ {
		id, d := doc(i)
		line, err := withID(id, d)
		if err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i, id, err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
		if (i-from+1)%perRequest == 0 || i == to-1 {
			out = append(out, bytes.Clone(buf.Bytes()))
			buf.Reset()
		}
	}
	return out, nil
}

// withID puts "id": id first in the object d, replacing an "id" it has.
func withID(id string, d []byte) ([]byte, error) {
	d = bytes.TrimSpace(d)
	if len(d) < 2 || d[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(d, &probe); err != nil {
		return nil, err
	}
	if have, ok := probe["id"]; ok {
		var s string
		if json.Unmarshal(have, &s) == nil && s == id {
			return d, nil
		}
		return nil, fmt.Errorf("document has an id %s that differs from %q", have, id)
	}
	idJSON, _ := json.Marshal(id)
	out := make([]byte, 0, len(d)+len(idJSON)+8)
	out = append(out, `{"id":`...)
	out = append(out, idJSON...)
	rest := bytes.TrimSpace(d[1:])
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...), nil
}

// Client talks to ingest's HTTP API.
type Client struct {
	Base string // http://host:port
	HTTP *http.Client
}

// Client returns a client of the stack's ingest service.
func (s *Stack) Client() *Client {
	return &Client{Base: "http://" + s.HTTP, HTTP: &http.Client{Timeout: 10 * time.Minute}}
}

// Bulk posts one NDJSON body to index and returns the operation id. 429 and
// 503 answers are retried after their Retry-After, as a well-behaved client
// does; Retries counts them.
func (c *Client) Bulk(ctx context.Context, index string, body []byte) (op string, retries int, err error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+"/bulk-indexing/"+index, bytes.NewReader(body))
		if err != nil {
			return "", retries, err
		}
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := c.HTTP.Do(req)
		if err != nil {
			return "", retries, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusAccepted:
			var m struct {
				OperationID string `json:"operationId"`
			}
			if err := json.Unmarshal(b, &m); err != nil || m.OperationID == "" {
				return "", retries, fmt.Errorf("bulk: 202 without an operation id: %s", b)
			}
			return m.OperationID, retries, nil
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			retries++
			wait := time.Second
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
			select {
			case <-ctx.Done():
				return "", retries, ctx.Err()
			case <-time.After(wait):
			}
		default:
			if len(b) > 500 {
				b = b[:500]
			}
			return "", retries, fmt.Errorf("bulk: %s: %s", resp.Status, b)
		}
	}
}

// Operation is the part of an operation's state the benchmark reads.
type Operation struct {
	ID               string `json:"id"`
	Status           string `json:"status"`
	TotalBatches     int    `json:"totalBatches"`
	IndexedBatches   int    `json:"indexedBatches"`
	PersistedBatches int    `json:"persistedBatches"`
	FailedBatches    int    `json:"failedBatches"`
	TotalDocuments   int    `json:"totalDocuments"`
}

// Indexed reports whether every batch is indexed (or failed).
func (o Operation) Indexed() bool { return o.IndexedBatches+o.FailedBatches >= o.TotalBatches }

// Terminal reports whether the operation ended.
func (o Operation) Terminal() bool {
	return o.Status == "completed" || o.Status == "failed" || o.Status == "partially_completed"
}

// Get reads an operation; wait ("indexed", "completed"; "" reads at once)
// long-polls on the server.
func (c *Client) Get(ctx context.Context, op, wait string) (Operation, error) {
	url := c.Base + "/bulk-operations/" + op
	if wait != "" {
		url += "?wait=" + wait + "&timeout=60s"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Operation{}, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Operation{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return Operation{}, fmt.Errorf("operation %s: %s: %s", op, resp.Status, b)
	}
	var o Operation
	if err := json.Unmarshal(b, &o); err != nil {
		return Operation{}, fmt.Errorf("operation %s: %w", op, err)
	}
	return o, nil
}

// WaitCompleted long-polls until the operation is terminal and fails
// unless it completed.
func (c *Client) WaitCompleted(ctx context.Context, op string) (Operation, error) {
	for {
		o, err := c.Get(ctx, op, "completed")
		if err != nil {
			return o, err
		}
		if o.Terminal() {
			if o.Status != "completed" {
				return o, fmt.Errorf("operation %s ended %s (%d of %d batches failed)", op, o.Status, o.FailedBatches, o.TotalBatches)
			}
			return o, nil
		}
		if err := ctx.Err(); err != nil {
			return o, err
		}
	}
}

// Throughput is one bulk load measured from the first request.
type Throughput struct {
	Docs        int     `json:"docs"`
	Requests    int     `json:"requests"`
	PerRequest  int     `json:"docs_per_request"`
	Concurrency int     `json:"concurrency"`
	Retries     int     `json:"retries_429_503"`
	AcceptedS   float64 `json:"accepted_seconds"`  // every request answered 202 (durable in Kafka)
	IndexedS    float64 `json:"indexed_seconds"`   // every batch durable in Pebble
	CompletedS  float64 `json:"completed_seconds"` // every operation completed (durable in MongoDB); 0 if not awaited
	IndexedDPS  float64 `json:"indexed_docs_per_sec"`
	CompletedDS float64 `json:"completed_docs_per_sec"`
}

// Progress receives the number of documents accepted, indexed and
// persisted so far.
type Progress func(accepted, indexed, persisted int)

// Load posts bodies (concurrency requests at a time) and measures until
// every operation is indexed and, with awaitCompleted, completed.
func (c *Client) Load(ctx context.Context, index string, bodies [][]byte, docs, perRequest, concurrency int,
	awaitCompleted bool, progress Progress) (Throughput, error) {
	res := Throughput{Docs: docs, Requests: len(bodies), PerRequest: perRequest, Concurrency: concurrency}
	start := time.Now()
	ops := make([]string, len(bodies))
	var (
		mu       sync.Mutex
		accepted int
		sent     = make(chan int, len(bodies)) // indexes of accepted requests, in acceptance order
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	go func() {
		for i, b := range bodies {
			g.Go(func() error {
				op, retries, err := c.Bulk(gctx, index, b)
				if err != nil {
					return fmt.Errorf("request %d: %w", i, err)
				}
				mu.Lock()
				ops[i] = op
				res.Retries += retries
				accepted += bytes.Count(b, []byte{'\n'})
				mu.Unlock()
				sent <- i
				return nil
			})
		}
		_ = g.Wait()
		close(sent)
	}()

	// Follow the operations as they are accepted: per operation, poll
	// until indexed, then (in a second pass) long-poll until completed.
	type opDocs struct {
		id   string
		docs int
	}
	var (
		indexedDocs, persistedDocs int
		all                        []opDocs
		pmu                        sync.Mutex
	)
	report := func() {
		if progress != nil {
			mu.Lock()
			a := accepted
			mu.Unlock()
			pmu.Lock()
			progress(a, indexedDocs, persistedDocs)
			pmu.Unlock()
		}
	}
	for i := range sent {
		mu.Lock()
		op := ops[i]
		mu.Unlock()
		all = append(all, opDocs{op, bytes.Count(bodies[i], []byte{'\n'})})
		report()
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	res.AcceptedS = time.Since(start).Seconds()

	// Long polls (?wait=indexed), as a client would: the server answers as
	// soon as the operation's last batch is indexed. (Polling every 50 ms
	// added up to 50 ms, a twelfth of an 8905-document load's 0.6 s.)
	for _, o := range all {
		for {
			st, err := c.Get(ctx, o.id, "indexed")
			if err != nil {
				return res, err
			}
			if st.Indexed() {
				if st.FailedBatches > 0 {
					return res, fmt.Errorf("operation %s: %d batches failed", o.id, st.FailedBatches)
				}
				break
			}
			report()
			if err := ctx.Err(); err != nil {
				return res, err
			}
		}
		pmu.Lock()
		indexedDocs += o.docs
		pmu.Unlock()
		report()
	}
	res.IndexedS = time.Since(start).Seconds()
	res.IndexedDPS = float64(docs) / res.IndexedS
	if !awaitCompleted {
		return res, nil
	}
	for _, o := range all {
		if _, err := c.WaitCompleted(ctx, o.id); err != nil {
			return res, err
		}
		pmu.Lock()
		persistedDocs += o.docs
		pmu.Unlock()
		report()
	}
	res.CompletedS = time.Since(start).Seconds()
	res.CompletedDS = float64(docs) / res.CompletedS
	return res, nil
}

// Latency is the distribution of bulk request latencies at a fixed rate.
type Latency struct {
	RateDocsPerSec float64 `json:"rate_docs_per_sec"`
	PerRequest     int     `json:"docs_per_request"`
	Requests       int     `json:"requests"`
	Seconds        float64 `json:"seconds"`
	// Accept: request sent → 202 (durable in Kafka).
	AcceptP50Ms float64 `json:"accept_p50_ms"`
	AcceptP99Ms float64 `json:"accept_p99_ms"`
	// Complete: request sent → operation completed (durable in MongoDB).
	CompleteP50Ms float64 `json:"complete_p50_ms"`
	CompleteP99Ms float64 `json:"complete_p99_ms"`
	CompleteMaxMs float64 `json:"complete_max_ms"`
}

// LatencyAt sends the bodies open-loop at rate documents per second (a
// request every perRequest/rate seconds, whether or not the previous ones
// answered) and measures each request to its 202 and to its completion.
func (c *Client) LatencyAt(ctx context.Context, index string, bodies [][]byte, perRequest int, rate float64) (Latency, error) {
	res := Latency{RateDocsPerSec: rate, PerRequest: perRequest, Requests: len(bodies)}
	interval := time.Duration(float64(perRequest) / rate * float64(time.Second))
	accept := make([]float64, len(bodies))
	complete := make([]float64, len(bodies))
	g, gctx := errgroup.WithContext(ctx)
	start := time.Now()
	for i, b := range bodies {
		at := start.Add(time.Duration(i) * interval)
		select {
		case <-gctx.Done():
		case <-time.After(time.Until(at)):
		}
		g.Go(func() error {
			t0 := time.Now()
			op, _, err := c.Bulk(gctx, index, b)
			if err != nil {
				return err
			}
			accept[i] = time.Since(t0).Seconds() * 1000
			if _, err := c.WaitCompleted(gctx, op); err != nil {
				return err
			}
			complete[i] = time.Since(t0).Seconds() * 1000
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	res.Seconds = time.Since(start).Seconds()
	res.AcceptP50Ms, res.AcceptP99Ms = quantile(accept, 0.5), quantile(accept, 0.99)
	res.CompleteP50Ms, res.CompleteP99Ms = quantile(complete, 0.5), quantile(complete, 0.99)
	res.CompleteMaxMs = quantile(complete, 1)
	return res, nil
}

// quantile is the nearest-rank quantile q of xs.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
