package tracker

import "github.com/termflow/termflow/pkg/bulkop"

// Notifier is told about operations whose status became terminal
// (*webhook.Notifier). Terminal is called with the tracker's lock held and
// must not block or call back into the tracker.
type Notifier interface {
	Terminal(st *bulkop.State)
}

// SetNotifier sets the notifier; call it before Run.
func (t *Tracker) SetNotifier(n Notifier) { t.notifier = n }

// statusChangedLocked logs a change of e's status (before was its status
// before the change), keyed like the other services' lines so that one
// operation can be followed across the pipeline, and tells the notifier
// when the status became terminal.
func (t *Tracker) statusChangedLocked(e *entry, before bulkop.Status) {
	after := e.state.Status()
	if after == before {
		return
	}
	ev := t.log.Info()
	if after == bulkop.Failed || after == bulkop.PartiallyCompleted {
		ev = t.log.Warn().Int("failed", e.state.FailureCount())
		if r := e.state.AbortReason(); r != "" {
			ev = ev.Str("error", r)
		}
	}
	ev.Str("operation", e.state.ID()).Str("index", e.state.Index()).Str("topic", t.cfg.BulkOps).
		Str("status", string(after)).Int("documents", e.state.Total()).Msg("operation " + string(after))
	if t.notifier != nil && after.Terminal() {
		t.notifier.Terminal(e.state)
	}
}

// notifyRebuilt tells the notifier about every terminal operation read at
// start whose webhooks were not all notified of its status (the previous
// process stopped before delivering them).
func (t *Tracker) notifyRebuilt() {
	if t.notifier == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.ops {
		if len(e.state.PendingWebhooks()) > 0 {
			t.notifier.Terminal(e.state)
		}
	}
}

// MarkNotified records that url was notified of status (delivered, or
// given up on), so that no later process notifies it again; the tracker
// loop publishes the change.
func (t *Tracker) MarkNotified(id, url string, status bulkop.Status) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.ops[id]
	if !ok || !e.state.MarkNotified(url, status) {
		return
	}
	e.version++ // published by the next flush; the status is unchanged
	close(e.changed)
	e.changed = make(chan struct{})
}
