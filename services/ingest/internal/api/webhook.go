package api

import (
	"net/http"

	"github.com/termflow/termflow/pkg/bulkop"
)

// Webhooks names the completion webhooks of new operations
// (*webhook.Notifier).
type Webhooks interface {
	// Targets checks a request's callbackUrl ("" for none) against the
	// allow-list and returns every target of the operation.
	Targets(callbackURL string) ([]string, error)
}

// SetWebhooks enables completion webhooks: every write request may name a
// callbackUrl query parameter, and the configured URLs are added to every
// operation. Without it a callbackUrl is refused.
func (a *API) SetWebhooks(h Webhooks) { a.hooks = h }

// webhooks sets st's webhook targets from the request's callbackUrl query
// parameter and the configured URLs, or answers 400 when the callbackUrl is
// not allowed. Nothing is created or produced before.
func (a *API) webhooks(w http.ResponseWriter, r *http.Request, st *bulkop.State) bool {
	cb := r.URL.Query().Get("callbackUrl")
	if a.hooks == nil {
		if cb != "" {
			writeError(w, http.StatusBadRequest, "callbackUrl: webhooks are not enabled")
			return false
		}
		return true
	}
	targets, err := a.hooks.Targets(cb)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return false
	}
	st.SetCallbackURL(cb)
	for _, t := range targets {
		st.AddWebhook(t)
	}
	return true
}
