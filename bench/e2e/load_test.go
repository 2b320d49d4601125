package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestWithID(t *testing.T) {
	for _, c := range []struct{ id, in, want, err string }{
		{"a1", `{"title":"x"}`, `{"id":"a1","title":"x"}`, ""},
		{"a1", ` {} `, `{"id":"a1"}`, ""},
		{"a1", `{"id":"a1","t":1}`, `{"id":"a1","t":1}`, ""},
		{"a/\"1", `{"t":1}`, `{"id":"a/\"1","t":1}`, ""},
		{"a1", `{"id":"b2"}`, "", "differs"},
		{"a1", `[1]`, "", "not a JSON object"},
		{"a1", `{"t":`, "", "unexpected end"},
	} {
		got, err := withID(c.id, []byte(c.in))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("withID(%q, %s): error %v, want %q", c.id, c.in, err, c.err)
			}
			continue
		}
		if err != nil || string(got) != c.want {
			t.Errorf("withID(%q, %s) = %s, %v; want %s", c.id, c.in, got, err, c.want)
		}
		if !json.Valid(got) {
			t.Errorf("withID(%q, %s) = %s: not valid JSON", c.id, c.in, got)
		}
	}
}

func TestBodies(t *testing.T) {
	doc := func(i int) (string, []byte) { return string(rune('a' + i)), []byte(`{"n":1}`) }
	bodies, err := Bodies(doc, 0, 7, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"{\"id\":\"a\",\"n\":1}\n{\"id\":\"b\",\"n\":1}\n{\"id\":\"c\",\"n\":1}\n",
		"{\"id\":\"d\",\"n\":1}\n{\"id\":\"e\",\"n\":1}\n{\"id\":\"f\",\"n\":1}\n",
		"{\"id\":\"g\",\"n\":1}\n",
	}
	if len(bodies) != len(want) {
		t.Fatalf("%d bodies, want %d", len(bodies), len(want))
	}
	for i := range want {
		if string(bodies[i]) != want[i] {
			t.Errorf("body %d = %q, want %q", i, bodies[i], want[i])
		}
	}
}

func TestQuantile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, c := range []struct{ q, want float64 }{{0.5, 5}, {0.99, 10}, {1, 10}, {0.1, 1}, {0, 1}} {
		if got := quantile(xs, c.q); got != c.want {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("quantile of nothing")
	}
}

func TestSampleSums(t *testing.T) {
	s := Sample{
		`w_total{coll=chunks,op=insert}`: 3,
		`w_total{coll=terms,op=insert}`:  2,
		`w_total{coll=terms,op=delete}`:  1,
		`w_totalx`:                       100,
		`g`:                              7,
	}
	if got := s.Sum("w_total"); got != 6 {
		t.Errorf("Sum = %v, want 6", got)
	}
	if got := s.SumWhere("w_total", "coll=terms"); got != 3 {
		t.Errorf("SumWhere(coll=terms) = %v, want 3", got)
	}
	if got := s.SumWhere("w_total", "coll=terms", "op=insert"); got != 2 {
		t.Errorf("SumWhere(coll=terms,op=insert) = %v, want 2", got)
	}
	if got := Delta(Sample{"g": 2}, s)["g"]; got != 5 {
		t.Errorf("Delta = %v, want 5", got)
	}
}

func TestCPUSeconds(t *testing.T) {
	before, err := cpuSeconds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until /proc shows it (ticks of 10 ms).
	x := 0
	deadline := time.Now().Add(5 * time.Second)
	for after := before; after < before+0.05; after, _ = cpuSeconds(os.Getpid()) {
		for i := range 1 << 20 {
			x += i
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time stayed at %.2f s (x %d)", after, x)
		}
	}
	if _, err := cpuSeconds(1 << 30); err == nil {
		t.Error("CPU time of a process that does not exist")
	}

	dir := t.TempDir()
	for name, pid := range map[string]string{"ferretdb": strconv.Itoa(os.Getpid()), "kafka": "not a pid"} {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "pid"), []byte(pid+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := SharedPIDs(dir); len(got) != 1 || got["ferretdb"] != os.Getpid() {
		t.Errorf("SharedPIDs = %v, want only ferretdb %d", got, os.Getpid())
	}
	s := &Stack{cfg: Config{Shared: map[string]int{"self": os.Getpid(), "gone": 1 << 30}}}
	if got := s.CPUSeconds(); len(got) != 1 || got["self"] <= 0 {
		t.Errorf("CPUSeconds = %v, want only self, above 0", got)
	}
}

// TestSettle: an idle process settles at once; a process that keeps a core
// busy does not, and Settle gives up at its limit.
func TestSettle(t *testing.T) {
	idle := exec.Command("sleep", "30")
	if err := idle.Start(); err != nil {
		t.Fatal(err)
	}
	defer idle.Process.Kill()
	if _, ok := Settle(context.Background(), map[string]int{"sleep": idle.Process.Pid}, 0.2, 5*time.Second); !ok {
		t.Error("an idle process did not settle")
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() { // this process: a core busy
		for {
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	if waited, ok := Settle(context.Background(), map[string]int{"self": os.Getpid()}, 0.2, time.Second); ok {
		t.Errorf("a process with a busy core settled after %v", waited)
	}
}
