// Package dirtyterms defines the event an indexer emits for every batch it
// indexed: everything the persister needs to bring MongoDB up to date, with
// no access to the indexer's Pebble.
//
// An event lists the batch's source records in offset order, each with its
// stored document (or deletion) and its statistics deltas, and the dirty
// terms of the batch, each with its posting changes in record order. A change
// references its record, so the persister can drop records it already
// applied (an event replayed after an indexer crash, or a partition that
// moved and was re-indexed by another indexer with other batch boundaries)
// and still apply the rest exactly once. Each record's changes are the
// difference between the index state before and after that record, so
// applying the records of a partition in offset order, once each, gives the
// exact index.
//
// The event is JSON (schemas/dirty-terms-event.v1.json); the topic compresses
// it with zstd.
package dirtyterms

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/termflow/termflow/pkg/progress"
)

// Version is the event version this code reads and writes.
const Version = 1

// MoreHeader is the header of a dirty-terms record whose indexer has more
// events on their way: its value lists (EncodeMore) the keys of the
// documents partitions whose next events are coming — the partitions of
// the same poll not handed over yet, and the record's own partition when
// more of it was already in the log. The persister keeps collecting those
// events into the MongoDB batch in hand rather than apply a head now and
// the rest, which rewrites the same terms, right after. A hint only: an
// event without it is applied as usual. (Earlier indexers wrote "1": more
// of the record's own partition.)
const MoreHeader = "termflow-more"

// EncodeMore is the MoreHeader value naming the keys.
func EncodeMore(keys []string) []byte { return []byte(strings.Join(keys, ",")) }

// DecodeMore returns the keys a MoreHeader value names; own is the key of
// the record that carries it (what the value "1" of earlier indexers
// means).
func DecodeMore(v []byte, own string) []string {
	if len(v) == 0 || string(v) == "1" {
		return []string{own}
	}
	return strings.Split(string(v), ",")
}

// Event is one indexed batch.
type Event struct {
	V           int    `json:"v"`
	Indexer     string `json:"indexer"`
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	FirstOffset int64  `json:"firstOffset"`
	LastOffset  int64  `json:"lastOffset"`
	// Records are the batch's indexed records in offset order. Records that
	// were dead-lettered are not here.
	Records []Record `json:"records"`
	// Terms are the batch's dirty terms.
	Terms []Term `json:"terms"`
	// Progress lists, per operation, the records of the batch that were
	// indexed; the persister reports them persisted.
	Progress []progress.Message `json:"progress,omitempty"`
}

// Record is one source record's effect on the index.
type Record struct {
	Offset  int64           `json:"o"`
	Index   string          `json:"i"`
	ID      string          `json:"id"`
	Deleted bool            `json:"del,omitempty"`
	Source  json.RawMessage `json:"src,omitempty"`
	// Count is the change of the index's document count: +1 for a new
	// document, -1 for a deleted one, 0 for a replacement.
	Count int64 `json:"n"`
	// Fields are the changes of per-field statistics.
	Fields []FieldDelta `json:"f,omitempty"`
}

// FieldDelta is the change of one field's statistics in an index.
type FieldDelta struct {
	Field  string `json:"f"`
	Docs   int64  `json:"d"` // documents that have the field
	Length int64  `json:"l"` // sum of the field's lengths
}

// Term is a dirty term: its posting changes in record order.
type Term struct {
	Index string `json:"i"`
	Field string `json:"f"`
	Term  string `json:"t"`
	Ops   []Op   `json:"ops"`
}

// Op sets the posting of Records[Rec]'s document (TF > 0) or removes it
// (TF == 0). JSON form: [rec, tf, length].
type Op struct {
	Rec    int
	TF     uint32
	Length uint32
}

// MarshalJSON writes [rec, tf, length].
func (o Op) MarshalJSON() ([]byte, error) { return o.appendJSON(make([]byte, 0, 24)), nil }

func (o Op) appendJSON(b []byte) []byte {
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(o.Rec), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(o.TF), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(o.Length), 10)
	return append(b, ']')
}

// UnmarshalJSON reads [rec, tf, length]: exactly three non-negative
// integers, tf and length below 2^32. An event holds tens of thousands of
// ops, so this parses them by hand instead of through encoding/json (which
// costs three allocations per op).
func (o *Op) UnmarshalJSON(b []byte) error {
	var a [3]uint64
	i := skipSpace(b, 0)
	if i == len(b) || b[i] != '[' {
		return fmt.Errorf("op %s: want [rec, tf, length]", b)
	}
	for k := range a {
		i = skipSpace(b, i+1)
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start || i-start > 10 {
			return fmt.Errorf("op %s: want [rec, tf, length] of non-negative integers", b)
		}
		v, err := strconv.ParseUint(string(b[start:i]), 10, 64)
		if err != nil {
			return fmt.Errorf("op %s: %w", b, err)
		}
		a[k] = v
		i = skipSpace(b, i)
		want := byte(',')
		if k == len(a)-1 {
			want = ']'
		}
		if i == len(b) || b[i] != want {
			return fmt.Errorf("op %s: want [rec, tf, length]", b)
		}
	}
	if skipSpace(b, i+1) != len(b) {
		return fmt.Errorf("op %s: trailing data", b)
	}
	if a[0] > math.MaxInt32 || a[1] > math.MaxUint32 || a[2] > math.MaxUint32 {
		return fmt.Errorf("op %s out of range", b)
	}
	*o = Op{Rec: int(a[0]), TF: uint32(a[1]), Length: uint32(a[2])}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// Encode returns the wire form of e: the bytes json.Marshal(e) gives,
// written without reflection (see appendEvent).
func (e *Event) Encode() ([]byte, error) {
	return appendEvent(make([]byte, 0, e.sizeHint()), e)
}

// sizeHint estimates the encoded size of e, so Encode allocates once.
func (e *Event) sizeHint() int {
	n := 256
	for i := range e.Records {
		r := &e.Records[i]
		n += 48 + len(r.Index) + len(r.ID) + len(r.Source) + 32*len(r.Fields)
	}
	for i := range e.Terms {
		t := &e.Terms[i]
		n += 40 + len(t.Index) + len(t.Field) + len(t.Term) + 12*len(t.Ops)
	}
	return n
}

// Decode parses and checks an event. The form Encode writes is parsed by
// hand (decodeFast); any other JSON spelling of an event by encoding/json.
func Decode(b []byte) (*Event, error) {
	var e Event
	if !decodeFast(b, &e) {
		e = Event{}
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("decode dirty-terms event: %w", err)
		}
	}
	return check(&e)
}

// check validates a decoded event.
func check(e *Event) (*Event, error) {
	if e.V != Version {
		return nil, fmt.Errorf("decode dirty-terms event: unsupported version %d", e.V)
	}
	for i, t := range e.Terms {
		for _, op := range t.Ops {
			if op.Rec >= len(e.Records) {
				return nil, fmt.Errorf("decode dirty-terms event: term %d references record %d of %d", i, op.Rec, len(e.Records))
			}
		}
	}
	return e, nil
}
