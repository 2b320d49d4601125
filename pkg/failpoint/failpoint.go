// Package failpoint kills a process at a named point of its work, so that
// fault tests can crash a real service exactly where a crash is hardest to
// survive (between a Pebble commit and a Kafka commit, between a MongoDB
// write and an offset commit) instead of only at random times.
//
// A Set is parsed from a spec such as
//
//	indexer.after-pebble-commit=3,persister.mongo-write=17
//
// (the TERMFLOW_FAILPOINTS environment variable of the services): the
// process sends itself SIGKILL the 3rd time it passes
// indexer.after-pebble-commit. A nil or empty Set does nothing; production
// runs never set one. Services document their points beside the calls.
package failpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Set holds the armed points of one process.
type Set struct {
	mu     sync.Mutex
	at     map[string]int
	passed map[string]int
	kill   func() // tests replace it
}

// Parse reads a comma-separated list of name=N (N ≥ 1).
func Parse(spec string) (*Set, error) {
	s := &Set{at: map[string]int{}, passed: map[string]int{}, kill: killSelf}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, n, ok := strings.Cut(part, "=")
		k, err := strconv.Atoi(n)
		if !ok || name == "" || err != nil || k < 1 {
			return nil, fmt.Errorf("failpoint %q: want name=N with N >= 1", part)
		}
		s.at[name] = k
	}
	return s, nil
}

// Armed reports whether any point is set.
func (s *Set) Armed() bool { return s != nil && len(s.at) > 0 }

// Hit passes point name; on its armed pass the process is killed.
func (s *Set) Hit(name string) {
	if !s.Armed() {
		return
	}
	s.mu.Lock()
	n, armed := s.at[name]
	s.passed[name]++
	fire := armed && s.passed[name] == n
	s.mu.Unlock()
	if fire {
		fmt.Fprintf(os.Stderr, "failpoint %s=%d: killing the process\n", name, n)
		s.kill()
	}
}

func killSelf() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // SIGKILL is not handled; wait for it
}
