// Package progress defines the messages of the progress topic, through which
// indexers and the persister tell the single writer of an operation's state
// (the ingest service) which of the operation's documents reached which
// stage. Messages are keyed by operation id. Documents are named by their
// sequence number in the operation (the termflow-seq header), so applying a
// message twice changes nothing.
package progress

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Stage is how far a document got.
type Stage string

const (
	Indexed   Stage = "indexed"   // analyzed and durable in an indexer's Pebble
	Persisted Stage = "persisted" // durable in MongoDB
	Failed    Stage = "failed"    // dead-lettered; see Errors
)

// Message reports documents of one operation that reached a stage.
type Message struct {
	Operation string    `json:"operation"`
	Stage     Stage     `json:"stage"`
	Seqs      Ranges    `json:"seqs"`
	Errors    []Failure `json:"errors,omitempty"`
}

// Failure says why a document failed.
type Failure struct {
	Seq       int    `json:"seq"`
	ID        string `json:"id,omitempty"`
	Reason    string `json:"reason"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// Encode returns the JSON form of m.
func (m Message) Encode() []byte {
	b, _ := json.Marshal(m)
	return b
}

// Decode parses a message.
func Decode(b []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decode progress: %w", err)
	}
	switch m.Stage {
	case Indexed, Persisted, Failed:
	default:
		return m, fmt.Errorf("decode progress: unknown stage %q", m.Stage)
	}
	if m.Operation == "" {
		return m, fmt.Errorf("decode progress: no operation")
	}
	return m, nil
}

// Range is an inclusive range of sequence numbers.
type Range [2]int

// Ranges is a compact set of sequence numbers.
type Ranges []Range

// RangesOf builds the ranges covering seqs (in any order, duplicates allowed).
func RangesOf(seqs []int) Ranges {
	s := slices.Clone(seqs)
	slices.Sort(s)
	s = slices.Compact(s)
	var r Ranges
	for _, n := range s {
		if len(r) > 0 && r[len(r)-1][1] == n-1 {
			r[len(r)-1][1] = n
			continue
		}
		r = append(r, Range{n, n})
	}
	return r
}

// Each calls fn with every sequence number.
func (r Ranges) Each(fn func(int)) {
	for _, x := range r {
		for n := x[0]; n <= x[1]; n++ {
			fn(n)
		}
	}
}

// Len is the number of sequence numbers in r.
func (r Ranges) Len() int {
	n := 0
	for _, x := range r {
		n += x[1] - x[0] + 1
	}
	return n
}

// Collector gathers the sequence numbers of a batch per operation.
type Collector map[string][]int

// Add records seq of operation op.
func (c Collector) Add(op string, seq int) { c[op] = append(c[op], seq) }

// Messages returns one message per operation, sorted by operation id.
func (c Collector) Messages(stage Stage) []Message {
	out := make([]Message, 0, len(c))
	for op, seqs := range c {
		out = append(out, Message{Operation: op, Stage: stage, Seqs: RangesOf(seqs)})
	}
	slices.SortFunc(out, func(a, b Message) int {
		if a.Operation < b.Operation {
			return -1
		}
		if a.Operation > b.Operation {
			return 1
		}
		return 0
	})
	return out
}
