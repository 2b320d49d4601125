package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/termflow/termflow/pkg/bulkop"
	"github.com/termflow/termflow/pkg/flagenv"
)

// DefaultURL is ingest's default address.
const DefaultURL = "http://127.0.0.1:8080"

// apiFlags are the flags of every subcommand that talks to ingest's HTTP API.
type apiFlags struct {
	url    string
	apiKey string
	json   bool
}

func (f *apiFlags) register(fs *flagenv.Set) {
	fs.String(&f.url, "url", "TERMFLOW_URL", DefaultURL, "ingest's HTTP API")
	fs.String(&f.apiKey, "api-key", "TERMFLOW_API_KEY", "", "API key, sent as a bearer token")
	fs.BoolVar(&f.json, "json", false, "print JSON for machines")
}

func (f *apiFlags) client() (*client, error) {
	u, err := url.Parse(strings.TrimRight(f.url, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("url %q: want http(s)://host:port", f.url)
	}
	return &client{base: u.String(), key: f.apiKey, hc: &http.Client{}}, nil
}

// client calls ingest's HTTP API.
type client struct {
	base string
	key  string
	hc   *http.Client
}

// apiError is an answer other than 2xx.
type apiError struct {
	Code        int
	Message     string      `json:"error"`
	Items       []itemError `json:"items"`
	OperationID string      `json:"operationId"`
	RetryAfter  time.Duration
}

type itemError struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

func (e *apiError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("HTTP %d", e.Code)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Code, e.Message)
}

// retryable reports whether the request may be sent again: the server was
// overloaded (429) or unavailable (503).
func (e *apiError) retryable() bool {
	return e.Code == http.StatusTooManyRequests || e.Code == http.StatusServiceUnavailable
}

// do sends a request and decodes a 2xx JSON answer into out (if not nil).
// Other answers are *apiError.
func (c *client) do(ctx context.Context, method, path string, header http.Header, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &apiError{Code: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(b))
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func (c *client) get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, nil, out)
}

// operation is the API view of a bulk operation.
type operation bulkop.View

func (o operation) terminal() bool { return o.Status.Terminal() }

func (c *client) operation(ctx context.Context, id string) (operation, error) {
	var o operation
	err := c.get(ctx, "/bulk-operations/"+url.PathEscape(id), &o)
	return o, err
}

type operationErrors struct {
	Errors []struct {
		Seq       int    `json:"seq"`
		ID        string `json:"id,omitempty"`
		Reason    string `json:"reason"`
		Partition *int32 `json:"partition,omitempty"`
		Offset    *int64 `json:"offset,omitempty"`
	} `json:"errors"`
	FailureCount int    `json:"failureCount"`
	AbortReason  string `json:"abortReason,omitempty"`
}

func (c *client) operationErrors(ctx context.Context, id string) (operationErrors, error) {
	var e operationErrors
	err := c.get(ctx, "/bulk-operations/"+url.PathEscape(id)+"/errors", &e)
	return e, err
}

// isAPIError reports whether err is an answer of the API with code.
func isAPIError(err error, code int) bool {
	var e *apiError
	return errors.As(err, &e) && e.Code == code
}
