package topic

import (
	"strconv"
	"testing"
)

// TestRecordLimits: every topic states its max.message.bytes (the broker's
// 1 MiB default would reject a large batch), and a dead letter (a documents
// record plus its headers) fits the dead-letter topic.
func TestRecordLimits(t *testing.T) {
	c := Defaults()
	limit := map[string]int{}
	for _, s := range c.All() {
		v, ok := s.Configs["max.message.bytes"]
		if !ok {
			t.Errorf("topic %s: no max.message.bytes", s.Name)
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("topic %s: max.message.bytes %q: %v", s.Name, v, err)
		}
		limit[s.Name] = n
	}
	if got := limit[c.Documents]; got != DocumentsMaxMessageBytes || got < 5<<20 {
		t.Errorf("documents limit %d", got)
	}
	if got := limit[c.DeadLetter]; got < DocumentsMaxMessageBytes+64<<10 {
		t.Errorf("dead-letter limit %d does not take a %d-byte documents record with headers", got, DocumentsMaxMessageBytes)
	}
	for _, name := range []string{c.DirtyTerms, c.Progress, c.DeadLetter} {
		if limit[name] != ProducedMaxMessageBytes {
			t.Errorf("topic %s: limit %d, want %d", name, limit[name], ProducedMaxMessageBytes)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Fatal(err)
	}
	c := Defaults()
	c.DeadLetter = c.Documents
	if c.Validate() == nil {
		t.Fatal("shared name accepted")
	}
	c = Defaults()
	c.DocumentsPartitions = 0
	if c.Validate() == nil {
		t.Fatal("zero partitions accepted")
	}
}
