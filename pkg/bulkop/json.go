package bulkop

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// FormatVersion is the "v" field of the JSON state.
const FormatVersion = 1

// wire is the JSON form of a State, the value of the bulk-ops topic keyed
// by operation id (schemas/bulk-operation.v1.json). The bitmaps are the
// source of truth; status and the batch counters are derived and written
// only for readers such as kcat, and ignored on unmarshal.
type wire struct {
	V              int        `json:"v"`
	ID             string     `json:"id"`
	Index          string     `json:"index"`
	BatchSize      int        `json:"batchSize"`
	TotalDocuments int        `json:"totalDocuments"`
	CreatedAt      time.Time  `json:"createdAt"`
	UpdatedAt      time.Time  `json:"updatedAt"`
	CompletedAt    *time.Time `json:"completedAt,omitempty"`
	AbortReason    string     `json:"abortReason,omitempty"`
	Accepted       *bool      `json:"accepted,omitempty"` // nil only in states written before the field existed
	CallbackURL    string     `json:"callbackUrl,omitempty"`
	Webhooks       []Webhook  `json:"webhooks,omitempty"`
	Indexed        string     `json:"indexed"`
	Persisted      string     `json:"persisted"`
	Failed         string     `json:"failed"`
	FailureCount   int        `json:"failureCount"`
	Failures       []Failure  `json:"failures,omitempty"`

	// Derived.
	Status           Status `json:"status"`
	TotalBatches     int    `json:"totalBatches"`
	IndexedBatches   int    `json:"indexedBatches"`
	PersistedBatches int    `json:"persistedBatches"`
	FailedBatches    int    `json:"failedBatches"`
}

// MarshalJSON encodes the state.
func (s *State) MarshalJSON() ([]byte, error) {
	w := wire{V: FormatVersion, ID: s.id, Index: s.index, BatchSize: s.batchSize, TotalDocuments: s.total,
		CreatedAt: s.createdAt, UpdatedAt: s.updatedAt, AbortReason: s.abortReason, CallbackURL: s.callbackURL,
		Indexed: s.indexed.encode(), Persisted: s.persisted.encode(), Failed: s.failed.encode(),
		Accepted: &s.accepted, Webhooks: s.webhooks, FailureCount: s.failureCount, Failures: s.failures,
		Status: s.Status(), TotalBatches: s.TotalBatches(), IndexedBatches: s.indexedB,
		PersistedBatches: s.persistedB, FailedBatches: s.failedB}
	if !s.completedAt.IsZero() {
		t := s.completedAt
		w.CompletedAt = &t
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes and checks a state.
func (s *State) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("decode bulk operation: %w", err)
	}
	if w.V != FormatVersion {
		return fmt.Errorf("decode bulk operation: unsupported version %d (want %d)", w.V, FormatVersion)
	}
	switch {
	case w.ID == "":
		return errors.New("decode bulk operation: no id")
	case w.TotalDocuments < 1:
		return fmt.Errorf("decode bulk operation %s: totalDocuments %d", w.ID, w.TotalDocuments)
	case w.BatchSize < 1:
		return fmt.Errorf("decode bulk operation %s: batchSize %d", w.ID, w.BatchSize)
	case len(w.Failures) > MaxFailures:
		return fmt.Errorf("decode bulk operation %s: %d failure records, at most %d", w.ID, len(w.Failures), MaxFailures)
	}
	n := State{id: w.ID, index: w.Index, batchSize: w.BatchSize, total: w.TotalDocuments,
		callbackURL: w.CallbackURL, createdAt: w.CreatedAt.UTC(), updatedAt: w.UpdatedAt.UTC(),
		abortReason: w.AbortReason, failures: w.Failures, webhooks: w.Webhooks, accepted: w.Accepted == nil || *w.Accepted}
	if w.CompletedAt != nil {
		n.completedAt = w.CompletedAt.UTC()
	}
	var err error
	for _, f := range []struct {
		name string
		src  string
		dst  *bitmap
	}{{"indexed", w.Indexed, &n.indexed}, {"persisted", w.Persisted, &n.persisted}, {"failed", w.Failed, &n.failed}} {
		if *f.dst, err = decodeBitmap(f.src, w.TotalDocuments); err != nil {
			return fmt.Errorf("decode bulk operation %s: %s bitmap: %w", w.ID, f.name, err)
		}
	}
	n.derive()
	*s = n
	return nil
}
