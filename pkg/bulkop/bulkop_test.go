package bulkop

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/termflow/termflow/pkg/progress"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

func msg(stage progress.Stage, seqs ...int) progress.Message {
	return progress.Message{Operation: "op", Stage: stage, Seqs: progress.RangesOf(seqs)}
}

func span(lo, hi int) []int {
	var s []int
	for n := lo; n < hi; n++ {
		s = append(s, n)
	}
	return s
}

func failMsg(seqs ...int) progress.Message {
	m := msg(progress.Failed, seqs...)
	for _, n := range seqs {
		m.Errors = append(m.Errors, Failure{Seq: n, ID: fmt.Sprint("doc", n), Reason: "bad", Partition: 3, Offset: int64(100 + n)})
	}
	return m
}

type counts struct {
	Status                                           Status
	Batches, Indexed, Persisted, FailedB, FailureCnt int
	Done                                             bool
}

func countsOf(s *State) counts {
	return counts{s.Status(), s.TotalBatches(), s.IndexedBatches(), s.PersistedBatches(), s.FailedBatches(),
		s.FailureCount(), !s.CompletedAt().IsZero()}
}

func TestNew(t *testing.T) {
	tests := []struct {
		total, batch int
		want         counts
		err          string
	}{
		{total: 1, batch: 150, want: counts{Status: Indexing, Batches: 1}},
		{total: 150, batch: 150, want: counts{Status: Indexing, Batches: 1}},
		{total: 151, batch: 150, want: counts{Status: Indexing, Batches: 2}},
		{total: 5000, batch: 150, want: counts{Status: Indexing, Batches: 34}},
		{total: 0, batch: 150, err: "at least one document"},
		{total: 3, batch: 0, err: "batch size"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("total=%d/batch=%d", tt.total, tt.batch), func(t *testing.T) {
			s, err := New("op", "books", tt.total, tt.batch, t0.In(time.FixedZone("x", 3600)))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := countsOf(s); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			v := s.View()
			if v.CreatedAt != t0 || v.CreatedAt.Location() != time.UTC || v.CompletedAt != nil || v.TotalDocuments != tt.total {
				t.Fatalf("view %+v", v)
			}
			b, _ := json.Marshal(v)
			if !strings.Contains(string(b), `"completedAt":null`) || !strings.Contains(string(b), `"status":"indexing"`) {
				t.Fatalf("view JSON %s", b)
			}
		})
	}
}

func TestTransitions(t *testing.T) {
	// 10 documents in batches of 4: [0,4) [4,8) [8,10).
	tests := []struct {
		name  string
		steps []progress.Message
		want  counts
	}{
		{"first batch indexed", []progress.Message{msg(progress.Indexed, span(0, 4)...)},
			counts{Status: Indexing, Batches: 3, Indexed: 1}},
		{"one short of indexed", []progress.Message{msg(progress.Indexed, span(0, 9)...)},
			counts{Status: Indexing, Batches: 3, Indexed: 2}},
		{"last seq indexed", []progress.Message{msg(progress.Indexed, span(0, 9)...), msg(progress.Indexed, 9)},
			counts{Status: Persisting, Batches: 3, Indexed: 3}},
		{"one short of persisted", []progress.Message{msg(progress.Indexed, span(0, 10)...), msg(progress.Persisted, span(1, 10)...)},
			counts{Status: Persisting, Batches: 3, Indexed: 3, Persisted: 2}},
		{"last persisted", []progress.Message{msg(progress.Indexed, span(0, 10)...), msg(progress.Persisted, span(1, 10)...), msg(progress.Persisted, 0)},
			counts{Status: Completed, Batches: 3, Indexed: 3, Persisted: 3, Done: true}},
		{"persisted implies indexed", []progress.Message{msg(progress.Persisted, span(0, 10)...)},
			counts{Status: Completed, Batches: 3, Indexed: 3, Persisted: 3, Done: true}},
		{"failed counts as indexed", []progress.Message{msg(progress.Indexed, span(0, 9)...), failMsg(9)},
			counts{Status: Persisting, Batches: 3, Indexed: 3, Persisted: 0, FailedB: 1, FailureCnt: 1}},
		{"with failures", []progress.Message{msg(progress.Persisted, span(0, 9)...), failMsg(9)},
			counts{Status: PartiallyCompleted, Batches: 3, Indexed: 3, Persisted: 3, FailedB: 1, FailureCnt: 1, Done: true}},
		{"failure after indexed", []progress.Message{msg(progress.Indexed, span(0, 10)...), msg(progress.Persisted, span(1, 10)...), failMsg(0)},
			counts{Status: PartiallyCompleted, Batches: 3, Indexed: 3, Persisted: 3, FailedB: 1, FailureCnt: 1, Done: true}},
		{"all failed", []progress.Message{failMsg(span(0, 5)...), failMsg(span(5, 10)...)},
			counts{Status: Failed, Batches: 3, Indexed: 3, Persisted: 3, FailedB: 3, FailureCnt: 10, Done: true}},
		{"failed seqs only in errors", []progress.Message{{Operation: "op", Stage: progress.Failed, Errors: []Failure{{Seq: 4, Reason: "x"}}}},
			counts{Status: Indexing, Batches: 3, Indexed: 0, Persisted: 0, FailedB: 1, FailureCnt: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := New("op", "books", 10, 4, t0)
			s.Accept(t0)
			for i, m := range tt.steps {
				changed, err := s.Apply(m, t0.Add(time.Duration(i+1)*time.Second))
				if err != nil || !changed {
					t.Fatalf("step %d: changed=%v err=%v", i, changed, err)
				}
			}
			if got := countsOf(s); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			last := t0.Add(time.Duration(len(tt.steps)) * time.Second)
			if s.UpdatedAt() != last {
				t.Errorf("updatedAt %v, want %v", s.UpdatedAt(), last)
			}
			if tt.want.Done && s.CompletedAt() != last {
				t.Errorf("completedAt %v, want %v", s.CompletedAt(), last)
			}
			// Duplicates change nothing: replay every step.
			before, _ := json.Marshal(s)
			for i, m := range tt.steps {
				if changed, _ := s.Apply(m, t0.Add(time.Hour)); changed {
					t.Fatalf("replayed step %d changed the state", i)
				}
			}
			after, _ := json.Marshal(s)
			if string(before) != string(after) {
				t.Fatalf("replay changed the state:\n%s\n%s", before, after)
			}
		})
	}
}

func TestAbort(t *testing.T) {
	s, _ := New("op", "books", 3, 150, t0)
	if !s.Abort("produce documents: broker down", t0.Add(time.Second)) {
		t.Fatal("abort did not change the state")
	}
	if s.Abort("again", t0.Add(time.Hour)) {
		t.Fatal("second abort changed the state")
	}
	if s.Status() != Failed || s.AbortReason() != "produce documents: broker down" || s.CompletedAt() != t0.Add(time.Second) {
		t.Fatalf("got %+v", countsOf(s))
	}
	s.Apply(msg(progress.Persisted, 0, 1, 2), t0.Add(2*time.Second))
	if s.Status() != Failed {
		t.Fatalf("aborted operation became %s", s.Status())
	}
}

func TestAccept(t *testing.T) {
	// Every document persisted before the request was acknowledged: not
	// completed until Accept.
	s, _ := New("op", "books", 3, 2, t0)
	s.Apply(msg(progress.Persisted, 0, 1, 2), t0.Add(time.Second))
	if s.Status() != Persisting || !s.CompletedAt().IsZero() || s.Accepted() {
		t.Fatalf("before accept: %+v", countsOf(s))
	}
	if !s.Accept(t0.Add(2*time.Second)) || s.Accept(t0.Add(time.Hour)) {
		t.Fatal("accept should change the state once")
	}
	if s.Status() != Completed || s.CompletedAt() != t0.Add(2*time.Second) || !s.Accepted() {
		t.Fatalf("after accept: %+v", countsOf(s))
	}

	// Every document failed: failed only once accepted.
	f, _ := New("op", "books", 2, 2, t0)
	f.Apply(failMsg(0, 1), t0)
	if f.Status() != Persisting {
		t.Fatalf("all failed, not accepted: %s", f.Status())
	}
	f.Accept(t0)
	if f.Status() != Failed {
		t.Fatalf("all failed, accepted: %s", f.Status())
	}

	// An abort fails an operation whether or not it was accepted.
	a, _ := New("op", "books", 2, 2, t0)
	a.Abort("ingest restarted", t0)
	if a.Status() != Failed || a.View().AbortReason != "ingest restarted" {
		t.Fatalf("aborted: %+v", a.View())
	}

	// The marker survives JSON; a state written before the field existed
	// reads as accepted.
	for _, accepted := range []bool{false, true} {
		s, _ := New(NewID(t0), "books", 1, 1, t0)
		if accepted {
			s.Accept(t0)
		}
		b, _ := json.Marshal(s)
		if want := fmt.Sprintf(`"accepted":%v`, accepted); !strings.Contains(string(b), want) {
			t.Fatalf("%s lacks %s", b, want)
		}
		var got State
		if err := json.Unmarshal(b, &got); err != nil || got.Accepted() != accepted {
			t.Fatalf("accepted=%v: got %v, %v", accepted, got.Accepted(), err)
		}
		legacy := strings.Replace(string(b), fmt.Sprintf(`"accepted":%v,`, accepted), "", 1)
		if err := json.Unmarshal([]byte(legacy), &got); err != nil || !got.Accepted() {
			t.Fatalf("legacy %s: accepted %v, %v", legacy, got.Accepted(), err)
		}
	}
}

func TestApplyOutOfRange(t *testing.T) {
	s, _ := New("op", "books", 3, 2, t0)
	changed, err := s.Apply(msg(progress.Indexed, 1, 2, 3, 7), t0)
	if !changed || err == nil || !strings.Contains(err.Error(), "2 seqs outside") {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	if s.IndexedBatches() != 1 {
		t.Fatalf("indexed batches %d", s.IndexedBatches())
	}
	if _, err := s.Apply(progress.Message{Stage: "weird"}, t0); err == nil {
		t.Fatal("unknown stage accepted")
	}
}

func TestFailureRecordsCapped(t *testing.T) {
	s, _ := New("op", "books", 1500, 150, t0)
	s.Apply(failMsg(span(0, 1200)...), t0)
	if len(s.Failures()) != MaxFailures || s.FailureCount() != 1200 || s.Failures()[0].Reason != "bad" {
		t.Fatalf("%d records, %d failures", len(s.Failures()), s.FailureCount())
	}
	s.Apply(msg(progress.Failed, 1300), t0)
	if s.FailureCount() != 1201 {
		t.Fatalf("count %d", s.FailureCount())
	}
	// A failed seq without a reason has no location on the documents topic.
	u, _ := New("op", "books", 2, 2, t0)
	u.Apply(msg(progress.Failed, 1), t0)
	if want := (Failure{Seq: 1, Reason: "unknown reason", Partition: NoLocation, Offset: NoLocation}); len(u.Failures()) != 1 || u.Failures()[0] != want {
		t.Fatalf("failures %+v", u.Failures())
	}
}

// holder is the single writer's view of a state: one mutex around it.
type holder struct {
	mu sync.Mutex
	s  *State
}

func (h *holder) apply(m progress.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.s.Apply(m, time.Now())
}

func TestConcurrentCompletions(t *testing.T) {
	const total, batch, workers = 1000, 7, 16
	s, _ := New("op", "books", total, batch, t0)
	s.Accept(t0)
	h := &holder{s: s}
	failed := map[int]bool{13: true, 500: true, 501: true, 999: true}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Overlapping windows: every seq is reported by several workers.
			for lo := w * 10; lo < total; lo += 37 {
				seqs := span(lo, min(lo+50, total))
				h.apply(msg(progress.Indexed, seqs...))
				var ok []int
				for _, n := range seqs {
					if !failed[n] {
						ok = append(ok, n)
					}
				}
				h.apply(msg(progress.Persisted, ok...))
			}
			for n := range failed {
				h.apply(failMsg(n))
			}
		}()
	}
	wg.Wait()
	// Worker 0's windows cover every seq; the others overlap it. Failed batches:
	// 13 → 1, 500 and 501 → 71, 999 → 142.
	want := counts{Status: PartiallyCompleted, Batches: 143, Indexed: 143, Persisted: 143, FailedB: 3, FailureCnt: 4, Done: true}
	if got := countsOf(h.s); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if len(h.s.Failures()) != 4 {
		t.Fatalf("%d failure records, want 4", len(h.s.Failures()))
	}
}

func TestJSONRoundTrip(t *testing.T) {
	s, _ := New(NewID(t0), "books", 21, 4, t0)
	s.SetCallbackURL("http://example.com/hook")
	s.Accept(t0)
	s.Apply(msg(progress.Indexed, span(0, 21)...), t0.Add(time.Second))
	s.Apply(msg(progress.Persisted, span(0, 12)...), t0.Add(2*time.Second))
	s.Apply(failMsg(20), t0.Add(3*time.Second))
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got State
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, s) {
		t.Fatalf("round trip:\n%+v\n%+v", &got, s)
	}
	if got.View() != s.View() && !reflect.DeepEqual(got.View(), s.View()) {
		t.Fatalf("views differ")
	}
	if c := s.Clone(); !reflect.DeepEqual(c, s) {
		t.Fatal("clone differs")
	}
	for _, bad := range []struct{ name, from, to string }{
		{"version", `"v":1`, `"v":2`},
		{"bitmap length", `"indexed":"` + s.indexed.encode(), `"indexed":"AAAA` + s.indexed.encode()},
		{"total", `"totalDocuments":21`, `"totalDocuments":0`},
	} {
		if err := json.Unmarshal([]byte(strings.Replace(string(b), bad.from, bad.to, 1)), &got); err == nil {
			t.Errorf("%s: accepted", bad.name)
		}
	}
	// Bits beyond the total are rejected.
	if _, err := decodeBitmap("/w==", 7); err == nil {
		t.Error("stray bit accepted")
	}
}

func TestSchema(t *testing.T) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, name := range []string{"bulk-operation.v1.json", "progress.v1.json"} {
		f, err := os.Open(filepath.Join("..", "..", "schemas", name))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := c.AddResource("https://termflow.dev/schemas/"+name, doc); err != nil {
			t.Fatal(err)
		}
	}
	validate := func(schema string, v any) error {
		sch, err := c.Compile("https://termflow.dev/schemas/" + schema)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		return sch.Validate(inst)
	}
	fresh, _ := New(NewID(t0), "books", 3, 2, t0)
	done, _ := New(NewID(t0), "books", 3, 2, t0)
	done.SetCallbackURL("https://example.com/done")
	done.Accept(t0)
	done.Apply(msg(progress.Persisted, 0, 1), t0)
	done.Apply(failMsg(2), t0)
	aborted, _ := New(NewID(t0), "books", 3, 2, t0)
	aborted.Abort("kafka down", t0)
	for name, s := range map[string]*State{"fresh": fresh, "done": done, "aborted": aborted} {
		if err := validate("bulk-operation.v1.json", s); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, m := range []progress.Message{msg(progress.Indexed, 1, 2, 5), failMsg(3)} {
		if err := validate("progress.v1.json", m); err != nil {
			t.Errorf("progress %+v: %v", m, err)
		}
	}
	if err := validate("bulk-operation.v1.json", map[string]any{"v": 1, "id": "nope"}); err == nil {
		t.Error("invalid state accepted")
	}
}

func TestNewID(t *testing.T) {
	var ids []string
	seen := map[string]bool{}
	for i := range 1000 {
		id := NewID(t0.Add(time.Duration(i) * time.Millisecond))
		if !ValidID(id) {
			t.Fatalf("invalid id %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("ids do not sort by time")
	}
	// The time prefix is the same for the same millisecond.
	a, b := NewID(t0), NewID(t0)
	if a[:13] != b[:13] || a == b {
		t.Fatalf("%s %s", a, b)
	}
	if NewID(time.UnixMilli(1<<48 - 1))[3] != '7' {
		t.Fatal("max time does not start with 7")
	}
	for _, bad := range []string{"", "op_", "op_0123456789ABCDEFGHJKMNPQRSTVWXYZ", "op_01ARZ3NDEKTSV4RRFFQ69G5FAI", "xx_01ARZ3NDEKTSV4RRFFQ69G5FAV", "op_81ARZ3NDEKTSV4RRFFQ69G5FAV"} {
		if ValidID(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}
