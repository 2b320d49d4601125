package mongostore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestEncodeAheadSteps checks that encodeAhead hands every document over
// once, in order, with its id, encoded, in steps of at most stepDocs
// documents and (past a step's first document) stepBytes.
func TestEncodeAheadSteps(t *testing.T) {
	for _, tc := range []struct {
		name      string
		n, pad    int
		wantSteps int
	}{
		{"none", 0, 0, 0},
		{"one", 1, 0, 1},
		{"by count", 2*stepDocs + 1, 0, 3},
		// 100 KiB documents: 83 fit in 8 MiB, so 200 take three steps.
		{"by bytes", 200, 100 << 10, 3},
		// One document larger than stepBytes still goes, alone.
		{"oversized", 2, stepBytes + 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs := make([]any, tc.n)
			ids := make([]string, tc.n)
			for i := range docs {
				ids[i] = fmt.Sprintf("d%06d", i)
				docs[i] = bson.D{{Key: "_id", Value: ids[i]}, {Key: "p", Value: strings.Repeat("x", tc.pad)}}
			}
			next, steps := 0, 0
			err := encodeAhead(context.Background(), docs, ids, 0, 1, func(ds []bson.Raw, is []string) error {
				steps++
				if len(ds) == 0 || len(ds) != len(is) || len(ds) > stepDocs {
					t.Fatalf("step %d: %d documents, %d ids", steps, len(ds), len(is))
				}
				size := 0
				for i, raw := range ds { // encoded: the steps are bson.Raw
					if got := raw.Lookup("_id").StringValue(); got != ids[next] || is[i] != ids[next] {
						t.Fatalf("document %d: _id %q, id %q, want %q", next, got, is[i], ids[next])
					}
					if i > 0 && size+len(raw) > stepBytes {
						t.Fatalf("step %d: over %d bytes at document %d", steps, stepBytes, i)
					}
					size += len(raw)
					next++
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if next != tc.n || steps != tc.wantSteps {
				t.Fatalf("%d documents in %d steps, want %d in %d", next, steps, tc.n, tc.wantSteps)
			}
		})
	}
}

// TestEncodeAheadErrors checks that a failed send stops the encoding (the
// encoder goroutine does not block forever on the next step) and that a
// document that cannot be encoded fails the call with its id, after the
// steps before it were sent.
func TestEncodeAheadErrors(t *testing.T) {
	docs := make([]any, 3*stepDocs)
	ids := make([]string, len(docs))
	for i := range docs {
		ids[i] = fmt.Sprintf("d%d", i)
		docs[i] = bson.D{{Key: "_id", Value: ids[i]}}
	}
	boom := errors.New("boom")
	done := make(chan error, 1)
	go func() {
		done <- encodeAhead(context.Background(), docs, ids, 0, 1, func([]bson.Raw, []string) error { return boom })
	}()
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want the send's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("encodeAhead did not return after a failed send")
	}

	bad := append(append([]any(nil), docs[:stepDocs]...), bson.D{{Key: "_id", Value: "bad"}, {Key: "c", Value: make(chan int)}})
	badIDs := append(append([]string(nil), ids[:stepDocs]...), "bad")
	sent := 0
	err := encodeAhead(context.Background(), bad, badIDs, 0, 1, func(ds []bson.Raw, _ []string) error { sent += len(ds); return nil })
	if err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Fatalf("err = %v, want an encoding error naming the document", err)
	}
	if sent != stepDocs {
		t.Fatalf("%d documents sent before the bad one, want %d", sent, stepDocs)
	}
}

// TestEncodeAheadInFlight checks encodeAhead with two sends in flight: they
// do overlap, every document is sent once, and after a failed send no
// further step goes out and encodeAhead returns the error only once the
// other send in flight has returned.
func TestEncodeAheadInFlight(t *testing.T) {
	docs := make([]any, 6*stepDocs)
	ids := make([]string, len(docs))
	for i := range docs {
		ids[i] = fmt.Sprintf("d%06d", i)
		docs[i] = bson.D{{Key: "_id", Value: ids[i]}}
	}

	var mu sync.Mutex
	seen := map[string]int{}
	running, most := 0, 0
	both := make(chan struct{})
	err := encodeAhead(context.Background(), docs, ids, 0, 2, func(ds []bson.Raw, is []string) error {
		mu.Lock()
		running++
		most = max(most, running)
		if running == 2 {
			select {
			case <-both:
			default:
				close(both)
			}
		}
		for _, id := range is {
			seen[id]++
		}
		mu.Unlock()
		select { // the first sends wait for a second one to start
		case <-both:
		case <-time.After(2 * time.Second):
		}
		mu.Lock()
		running--
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if most != 2 {
		t.Errorf("at most %d sends ran at once, want 2", most)
	}
	if len(seen) != len(ids) {
		t.Errorf("%d distinct documents sent, want %d", len(seen), len(ids))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s sent %d times", id, n)
		}
	}

	boom := errors.New("boom")
	var sends atomic.Int32
	var otherDone atomic.Bool
	second := make(chan struct{})
	err = encodeAhead(context.Background(), docs, ids, 0, 2, func([]bson.Raw, []string) error {
		switch sends.Add(1) {
		case 1:
			select { // until the second send has started
			case <-second:
			case <-time.After(10 * time.Second):
			}
			return boom
		case 2:
			close(second)
			time.Sleep(50 * time.Millisecond)
			otherDone.Store(true)
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the failed send's error", err)
	}
	if !otherDone.Load() {
		t.Error("encodeAhead returned before the other send in flight did")
	}
	if n := sends.Load(); n != 2 {
		t.Errorf("%d sends, want 2 (none after the failure)", n)
	}
}

// TestSteps: Steps splits by count and, past a command's first document,
// by stepBytes, keeping every document once and in order.
func TestSteps(t *testing.T) {
	doc := func(n int) bson.Raw { return make(bson.Raw, n) }
	docs := []bson.Raw{doc(10), doc(10), doc(10), doc(stepBytes), doc(10), doc(stepBytes - 20), doc(10), doc(10)}
	var sizes []int
	total := 0
	for _, st := range Steps(docs, 3) {
		sizes = append(sizes, len(st))
		for i, d := range st {
			if &d[0] != &docs[total+i][0] {
				t.Fatalf("document %d out of place", total+i)
			}
		}
		total += len(st)
	}
	// 3 by count; the large one alone; 10 + (stepBytes-20) + 10 fill
	// stepBytes exactly; the last one.
	if want := []int{3, 1, 3, 1}; !reflect.DeepEqual(sizes, want) || total != len(docs) {
		t.Fatalf("steps of %v documents, want %v", sizes, want)
	}
	if Steps(nil, 3) != nil {
		t.Error("steps of no documents")
	}
}
