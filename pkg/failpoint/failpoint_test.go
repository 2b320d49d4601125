package failpoint

import "testing"

func TestHitKillsOnTheArmedPass(t *testing.T) {
	s, err := Parse("a=3, b=1")
	if err != nil {
		t.Fatal(err)
	}
	var killed []string
	cur := ""
	s.kill = func() { killed = append(killed, cur) }
	for _, p := range []string{"a", "a", "c", "b", "a", "a", "b"} {
		cur = p
		s.Hit(p)
	}
	if len(killed) != 2 || killed[0] != "b" || killed[1] != "a" {
		t.Fatalf("killed at %v, want [b a]", killed)
	}
}

func TestParseRejectsBadSpecs(t *testing.T) {
	for _, spec := range []string{"a", "a=0", "=2", "a=x"} {
		if _, err := Parse(spec); err == nil {
			t.Errorf("Parse(%q) accepted", spec)
		}
	}
	var nilSet *Set
	nilSet.Hit("a") // no panic, nothing armed
	if s, _ := Parse(""); s.Armed() {
		t.Fatal("empty spec armed")
	}
}
