// Package bulkop holds the state of one bulk operation: which of its
// documents were indexed, persisted or failed, the status derived from that,
// and the JSON form kept in the compacted bulk-ops topic.
//
// A State has a single writer (the ingest tracker); it is not safe for
// concurrent use. Applying a progress message is idempotent: the state keeps
// one bitmap per stage, so a message delivered twice (normal in this
// at-least-once pipeline) changes nothing.
//
// The wire format is documented in format.md beside this file and in
// schemas/bulk-operation.v1.json.
package bulkop

import (
	"errors"
	"fmt"
	"time"

	"github.com/termflow/termflow/pkg/progress"
)

// Status is where an operation stands.
type Status string

// The statuses, in the order an operation goes through them. Completed,
// PartiallyCompleted and Failed are terminal.
const (
	Indexing           Status = "indexing"            // some document is neither indexed nor failed
	Persisting         Status = "persisting"          // all indexed or failed; some not yet persisted
	Completed          Status = "completed"           // every document persisted
	PartiallyCompleted Status = "partially_completed" // every document persisted or failed, some failed
	Failed             Status = "failed"              // every document failed, or the operation was aborted
)

// ParseStatus parses a status name.
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case Indexing, Persisting, Completed, PartiallyCompleted, Failed:
		return st, nil
	}
	return "", fmt.Errorf("unknown status %q", s)
}

// Terminal reports whether the status is final.
func (s Status) Terminal() bool {
	return s == Completed || s == PartiallyCompleted || s == Failed
}

func (s Status) rank() int {
	switch s {
	case Indexing:
		return 0
	case Persisting:
		return 1
	}
	return 2
}

// Reached reports whether s is at least as far as target: Persisting has
// reached Indexing, and every terminal status has reached every status.
func (s Status) Reached(target Status) bool { return s.rank() >= target.rank() }

// MaxFailures is the number of failure records a State keeps; further
// failures are counted but not described.
const MaxFailures = 1000

// NoLocation is the Partition and Offset of a Failure that did not come
// from a record of the documents topic (for example a document Kafka did
// not acknowledge, or a failed seq reported without a reason).
const NoLocation = -1

// Failure describes one failed document.
type Failure = progress.Failure

// State is one bulk operation. Create it with New or by unmarshalling JSON.
type State struct {
	id          string
	index       string
	batchSize   int
	total       int
	callbackURL string
	createdAt   time.Time
	updatedAt   time.Time
	completedAt time.Time
	abortReason string
	accepted    bool
	webhooks    []Webhook // completion notification targets, fixed at creation

	indexed, persisted, failed bitmap
	failures                   []Failure
	failureCount               int // failed seqs, including those beyond MaxFailures

	// Derived, rebuilt from the bitmaps on unmarshal.
	doneIndexed   int   // seqs indexed or failed
	donePersisted int   // seqs persisted or failed
	batchIdx      []int // per batch: seqs indexed or failed
	batchPer      []int // per batch: seqs persisted or failed
	batchFail     []int // per batch: failed seqs
	indexedB      int   // batches whose every seq is indexed or failed
	persistedB    int   // batches whose every seq is persisted or failed
	failedB       int   // batches with at least one failed seq
}

// New returns the state of a new operation of total documents (at least
// one) cut into batches of batchSize, created at now. It is not accepted
// yet: it cannot become completed, partially completed or failed (other
// than by Abort) before Accept.
func New(id, index string, total, batchSize int, now time.Time) (*State, error) {
	if total < 1 {
		return nil, errors.New("an operation needs at least one document")
	}
	if batchSize < 1 {
		return nil, fmt.Errorf("batch size %d: want at least 1", batchSize)
	}
	if id == "" {
		return nil, errors.New("empty operation id")
	}
	now = now.UTC()
	s := &State{id: id, index: index, total: total, batchSize: batchSize, createdAt: now, updatedAt: now,
		indexed: newBitmap(total), persisted: newBitmap(total), failed: newBitmap(total)}
	s.derive()
	return s, nil
}

// ID returns the operation id.
func (s *State) ID() string { return s.id }

// Index returns the index the operation writes to.
func (s *State) Index() string { return s.index }

// Total returns the number of documents.
func (s *State) Total() int { return s.total }

// BatchSize returns the number of documents per batch.
func (s *State) BatchSize() int { return s.batchSize }

// TotalBatches returns ceil(total / batchSize).
func (s *State) TotalBatches() int { return (s.total + s.batchSize - 1) / s.batchSize }

// IndexedBatches counts the batches whose every document is indexed or failed.
func (s *State) IndexedBatches() int { return s.indexedB }

// PersistedBatches counts the batches whose every document is persisted or failed.
func (s *State) PersistedBatches() int { return s.persistedB }

// FailedBatches counts the batches with at least one failed document.
func (s *State) FailedBatches() int { return s.failedB }

// FailureCount counts the failed documents.
func (s *State) FailureCount() int { return s.failureCount }

// Failures returns the kept failure records (at most MaxFailures), in the
// order they arrived. The caller must not modify them.
func (s *State) Failures() []Failure { return s.failures }

// AbortReason is why the operation was aborted, or "".
func (s *State) AbortReason() string { return s.abortReason }

// Accepted reports whether Kafka acknowledged every document of the
// operation's request (see Accept).
func (s *State) Accepted() bool { return s.accepted }

// CallbackURL is the URL notified on completion, or "".
func (s *State) CallbackURL() string { return s.callbackURL }

// SetCallbackURL sets the URL notified on completion.
func (s *State) SetCallbackURL(u string) { s.callbackURL = u }

// CreatedAt returns the creation time.
func (s *State) CreatedAt() time.Time { return s.createdAt }

// UpdatedAt returns the time of the last change.
func (s *State) UpdatedAt() time.Time { return s.updatedAt }

// CompletedAt returns when the operation reached a terminal status, or the
// zero time.
func (s *State) CompletedAt() time.Time { return s.completedAt }

// Status derives the status from the bitmaps. An operation that is not
// accepted stays at most Persisting unless it is aborted.
func (s *State) Status() Status {
	switch {
	case s.abortReason != "":
		return Failed
	case s.doneIndexed < s.total:
		return Indexing
	case s.donePersisted < s.total || !s.accepted:
		return Persisting
	case s.failureCount == 0:
		return Completed
	case s.failureCount == s.total:
		return Failed
	}
	return PartiallyCompleted
}

// Apply records a progress message at time now and reports whether the
// state changed. Seqs outside [0, total) are skipped and reported in the
// error; the others are applied regardless. A persisted seq is also marked
// indexed; a failed seq counts as done for both stages. Failure records are
// kept for seqs that become failed with this message (at most MaxFailures).
func (s *State) Apply(m progress.Message, now time.Time) (changed bool, err error) {
	bad := 0
	mark := func(n int, fn func(int) bool) {
		if n < 0 || n >= s.total {
			bad++
			return
		}
		if fn(n) {
			changed = true
		}
	}
	switch m.Stage {
	case progress.Indexed:
		m.Seqs.Each(func(n int) { mark(n, s.markIndexed) })
	case progress.Persisted:
		m.Seqs.Each(func(n int) { mark(n, s.markPersisted) })
	case progress.Failed:
		reasons := make(map[int]Failure, len(m.Errors))
		for _, f := range m.Errors {
			reasons[f.Seq] = f
		}
		fail := func(n int) bool {
			if !s.markFailed(n) {
				return false
			}
			f, ok := reasons[n]
			if !ok {
				f = Failure{Seq: n, Reason: "unknown reason", Partition: NoLocation, Offset: NoLocation}
			}
			if len(s.failures) < MaxFailures {
				s.failures = append(s.failures, f)
			}
			return true
		}
		m.Seqs.Each(func(n int) { mark(n, fail) })
		for _, f := range m.Errors { // failures the message described but did not list in Seqs
			if f.Seq >= 0 && f.Seq < s.total && !s.failed.get(f.Seq) {
				mark(f.Seq, fail)
			}
		}
	default:
		return false, fmt.Errorf("operation %s: unknown stage %q", s.id, m.Stage)
	}
	if changed {
		s.touch(now)
	}
	if bad > 0 {
		err = fmt.Errorf("operation %s: %d seqs outside [0, %d)", s.id, bad, s.total)
	}
	return changed, err
}

// Accept records that Kafka acknowledged every document of the operation's
// request, which the client is told (202) only after this state is
// published. It reports whether that changed the state. An operation that
// was never accepted did not get its 202: the tracker fails it when it finds
// it after a restart.
func (s *State) Accept(now time.Time) bool {
	if s.accepted {
		return false
	}
	s.accepted = true
	s.touch(now)
	return true
}

// Abort marks the operation failed for reason (for example because its
// documents could not be produced) and reports whether that changed it.
func (s *State) Abort(reason string, now time.Time) bool {
	if s.abortReason != "" {
		return false
	}
	if reason == "" {
		reason = "aborted"
	}
	s.abortReason = reason
	s.touch(now)
	return true
}

func (s *State) touch(now time.Time) {
	s.updatedAt = now.UTC()
	if s.completedAt.IsZero() && s.Status().Terminal() {
		s.completedAt = s.updatedAt
	}
}

func (s *State) batchOf(n int) int { return n / s.batchSize }

func (s *State) batchLen(b int) int { return min((b+1)*s.batchSize, s.total) - b*s.batchSize }

// Transitions of the per-seq predicates, each adjusting the counters.

func (s *State) incIdx(n int) {
	s.doneIndexed++
	b := s.batchOf(n)
	if s.batchIdx[b]++; s.batchIdx[b] == s.batchLen(b) {
		s.indexedB++
	}
}

func (s *State) incPer(n int) {
	s.donePersisted++
	b := s.batchOf(n)
	if s.batchPer[b]++; s.batchPer[b] == s.batchLen(b) {
		s.persistedB++
	}
}

func (s *State) incFail(n int) {
	s.failureCount++
	b := s.batchOf(n)
	if s.batchFail[b]++; s.batchFail[b] == 1 {
		s.failedB++
	}
}

func (s *State) markIndexed(n int) bool {
	if s.indexed.get(n) {
		return false
	}
	s.indexed.set(n)
	if !s.failed.get(n) {
		s.incIdx(n)
	}
	return true
}

func (s *State) markPersisted(n int) bool {
	changed := s.markIndexed(n)
	if s.persisted.get(n) {
		return changed
	}
	s.persisted.set(n)
	if !s.failed.get(n) {
		s.incPer(n)
	}
	return true
}

func (s *State) markFailed(n int) bool {
	if s.failed.get(n) {
		return false
	}
	s.failed.set(n)
	if !s.indexed.get(n) {
		s.incIdx(n)
	}
	if !s.persisted.get(n) {
		s.incPer(n)
	}
	s.incFail(n)
	return true
}

// derive rebuilds the counters from the bitmaps.
func (s *State) derive() {
	nb := s.TotalBatches()
	s.batchIdx, s.batchPer, s.batchFail = make([]int, nb), make([]int, nb), make([]int, nb)
	s.doneIndexed, s.donePersisted, s.failureCount = 0, 0, 0
	s.indexedB, s.persistedB, s.failedB = 0, 0, 0
	for n := range s.total {
		f := s.failed.get(n)
		if f || s.indexed.get(n) {
			s.incIdx(n)
		}
		if f || s.persisted.get(n) {
			s.incPer(n)
		}
		if f {
			s.incFail(n)
		}
	}
}

// Clone returns a deep copy.
func (s *State) Clone() *State {
	c := *s
	c.indexed, c.persisted, c.failed = s.indexed.clone(), s.persisted.clone(), s.failed.clone()
	c.failures = append([]Failure(nil), s.failures...)
	c.webhooks = s.Webhooks()
	c.batchIdx = append([]int(nil), s.batchIdx...)
	c.batchPer = append([]int(nil), s.batchPer...)
	c.batchFail = append([]int(nil), s.batchFail...)
	return &c
}

// View is the operation as the HTTP API shows it.
type View struct {
	ID               string `json:"id"`
	Index            string `json:"index"`
	Status           Status `json:"status"`
	TotalBatches     int    `json:"totalBatches"`
	IndexedBatches   int    `json:"indexedBatches"`
	PersistedBatches int    `json:"persistedBatches"`
	FailedBatches    int    `json:"failedBatches"`
	TotalDocuments   int    `json:"totalDocuments"`
	// IndexedDocuments and PersistedDocuments count the documents done
	// with that stage, failed ones included (as the batch counters do);
	// FailedDocuments counts the failed ones.
	IndexedDocuments   int        `json:"indexedDocuments"`
	PersistedDocuments int        `json:"persistedDocuments"`
	FailedDocuments    int        `json:"failedDocuments"`
	CreatedAt          time.Time  `json:"createdAt"`
	UpdatedAt          time.Time  `json:"updatedAt"`
	CompletedAt        *time.Time `json:"completedAt"`           // null until the operation is terminal
	AbortReason        string     `json:"abortReason,omitempty"` // why an aborted operation failed
}

// View returns the API view of the operation.
func (s *State) View() View {
	v := View{ID: s.id, Index: s.index, Status: s.Status(), TotalBatches: s.TotalBatches(),
		IndexedBatches: s.indexedB, PersistedBatches: s.persistedB, FailedBatches: s.failedB,
		TotalDocuments: s.total, CreatedAt: s.createdAt, UpdatedAt: s.updatedAt, AbortReason: s.abortReason,
		IndexedDocuments: s.doneIndexed, PersistedDocuments: s.donePersisted, FailedDocuments: s.failureCount}
	if !s.completedAt.IsZero() {
		t := s.completedAt
		v.CompletedAt = &t
	}
	return v
}
