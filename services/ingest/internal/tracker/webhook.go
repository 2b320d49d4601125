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

// notifyLocked tells the notifier about e if its status just became
// terminal (before was its status before the change).
func (t *Tracker) notifyLocked(e *entry, before bulkop.Status) {
	if t.notifier != nil && e.state.Status() != before && e.state.Status().Terminal() {
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
