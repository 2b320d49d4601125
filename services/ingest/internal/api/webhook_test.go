package api

import (
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/termflow/termflow/pkg/bulkop"
)

type fakeHooks struct{}

func (fakeHooks) Targets(cb string) ([]string, error) {
	if cb != "" && !strings.HasPrefix(cb, "https://ok.example/") {
		return nil, errors.New("callbackUrl: host not on the webhook allow-list")
	}
	out := []string{"https://global.example/all"}
	if cb != "" {
		out = append([]string{cb}, out...)
	}
	return out, nil
}

func TestWebhookTargets(t *testing.T) {
	for _, tc := range []struct {
		hooks   Webhooks
		query   string
		code    int
		targets []string
	}{
		{hooks: nil, query: "", code: 200},
		{hooks: nil, query: "?callbackUrl=https://ok.example/x", code: 400},
		{hooks: fakeHooks{}, query: "", code: 200, targets: []string{"https://global.example/all"}},
		{hooks: fakeHooks{}, query: "?callbackUrl=https://ok.example/x", code: 200, targets: []string{"https://ok.example/x", "https://global.example/all"}},
		{hooks: fakeHooks{}, query: "?callbackUrl=http://169.254.169.254/", code: 400},
	} {
		a := &API{hooks: tc.hooks}
		st, err := bulkop.New(bulkop.NewID(time.Now()), "books", 1, 150, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		ok := a.webhooks(w, httptest.NewRequest("POST", "/bulk-indexing/books"+tc.query, nil), st)
		if ok != (tc.code == 200) || (!ok && w.Code != tc.code) {
			t.Fatalf("%s: ok %v code %d %s", tc.query, ok, w.Code, w.Body)
		}
		var urls []string
		for _, h := range st.Webhooks() {
			urls = append(urls, h.URL)
		}
		if !slices.Equal(urls, tc.targets) {
			t.Fatalf("%s: targets %v, want %v", tc.query, urls, tc.targets)
		}
	}
}
