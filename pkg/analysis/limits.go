package analysis

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// MaxDepth is the deepest nesting of objects and arrays a document may
// have, the document's own object counting as 1. AnalyzeJSON refuses
// deeper documents, so the indexer dead-letters them; ingest refuses them
// with 400 (its own limit may only be lower).
const MaxDepth = 100

// MaxFields is the largest number of fields (dotted paths that hold at
// least one term, AllField not counted) a document may have. Each field
// costs statistics and term keys of its own; AnalyzeJSON refuses documents
// with more.
const MaxFields = 1000

// Shape is what Measure finds in a JSON text.
type Shape struct {
	// Depth is the deepest nesting of objects and arrays (0 for a scalar).
	Depth int
	// Members is the number of object members at every level.
	Members int
	// LongestString is the length in bytes of the longest string (keys
	// included) as written, escapes undecoded.
	LongestString int
}

// Measure scans src, assumed to be JSON, in one pass without allocating.
// On text that is not JSON it returns a shape of no meaning, but it never
// fails or panics.
func Measure(src []byte) Shape {
	var s Shape
	depth := 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '{', '[':
			if depth++; depth > s.Depth {
				s.Depth = depth
			}
		case '}', ']':
			depth--
		case ':':
			s.Members++
		case '"':
			start := i + 1
			for i++; i < len(src) && src[i] != '"'; i++ {
				if src[i] == '\\' {
					i++
				}
			}
			if n := min(i, len(src)) - start; n > s.LongestString {
				s.LongestString = n
			}
		}
	}
	return s
}

// checkDuplicateKeys refuses valid JSON src if an object repeats a key
// (compared after unescaping).
func checkDuplicateKeys(src []byte) error {
	dec := json.NewDecoder(bytes.NewReader(src))
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				if key, _ := k.(string); seen[key] {
					return fmt.Errorf("duplicate key %q", key)
				} else {
					seen[key] = true
				}
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for dec.More() {
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	return walk()
}

// checkDepth refuses src if it nests deeper than MaxDepth.
func checkDepth(src []byte) error {
	if d := Measure(src).Depth; d > MaxDepth {
		return fmt.Errorf("document nested %d levels deep, over the limit of %d", d, MaxDepth)
	}
	return nil
}

// FieldCount is the number of fields of d, AllField not counted.
func (d *Document) FieldCount() int {
	n := 0
	for _, f := range d.Fields {
		if f.Name != AllField {
			n++
		}
	}
	return n
}

// checkFields refuses d if it has more than MaxFields fields.
func checkFields(d Document) error {
	if n := d.FieldCount(); n > MaxFields {
		return fmt.Errorf("document has %d fields, over the limit of %d", n, MaxFields)
	}
	return nil
}
