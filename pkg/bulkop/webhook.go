package bulkop

import "slices"

// Webhook is a completion-notification target of an operation: a URL that
// is sent the operation's state when it reaches a terminal status, and the
// terminal statuses already notified to it (delivered, or given up after
// the retries). Recording them in the state, which the compacted bulk-ops
// topic keeps, is what makes a notification happen at most once per
// operation, status and URL, also across ingest restarts.
type Webhook struct {
	URL      string   `json:"url"`
	Notified []Status `json:"notified,omitempty"`
}

// AddWebhook adds a notification target, once.
func (s *State) AddWebhook(url string) {
	if slices.ContainsFunc(s.webhooks, func(w Webhook) bool { return w.URL == url }) {
		return
	}
	s.webhooks = append(s.webhooks, Webhook{URL: url})
}

// Webhooks returns a copy of the notification targets.
func (s *State) Webhooks() []Webhook {
	if s.webhooks == nil {
		return nil
	}
	out := make([]Webhook, len(s.webhooks))
	for i, w := range s.webhooks {
		out[i] = Webhook{URL: w.URL, Notified: slices.Clone(w.Notified)}
	}
	return out
}

// PendingWebhooks returns the URLs not yet notified of the current status,
// if it is terminal.
func (s *State) PendingWebhooks() []string {
	st := s.Status()
	if !st.Terminal() {
		return nil
	}
	var out []string
	for _, w := range s.webhooks {
		if !slices.Contains(w.Notified, st) {
			out = append(out, w.URL)
		}
	}
	return out
}

// MarkNotified records that url was notified of status (or given up on),
// and reports whether that changed the state. It does not touch updatedAt:
// a notification is not progress of the operation.
func (s *State) MarkNotified(url string, status Status) bool {
	for i := range s.webhooks {
		w := &s.webhooks[i]
		if w.URL == url {
			if slices.Contains(w.Notified, status) {
				return false
			}
			w.Notified = append(w.Notified, status)
			return true
		}
	}
	return false
}
