package api

import (
	"bytes"

	"github.com/termflow/termflow/pkg/jsonscan"
)

// scanObject is checkObject's fast path for the documents almost every
// request carries: one pass over raw (already checked to be valid UTF-8 and
// to start with '{'), with no allocation but the first extra member's name.
// It accepts only what the decoder-based walk accepts, with the same
// topLevel; whenever anything is invalid or unusual (a syntax error, a
// duplicate key, nesting deeper than maxDepth, an escaped key, an object of
// more than maxScanKeys members) it reports !ok, and the walk decides and
// words the error. FuzzScanObject holds it to that.
func scanObject(raw []byte) (top topLevel, ok bool) {
	s := scanner{b: raw}
	if !s.value(0, &top) {
		return topLevel{}, false
	}
	s.ws()
	return top, s.i == len(s.b)
}

// maxScanKeys bounds the members of one object the fast path compares
// pairwise for duplicates; wider objects take the walk.
const maxScanKeys = 64

type scanner struct {
	b    []byte
	i    int
	keys [][]byte // the member names of the open objects, innermost last
}

func (s *scanner) ws() { s.i = jsonscan.Space(s.b, s.i) }

func (s *scanner) value(depth int, top *topLevel) bool {
	if depth > maxDepth {
		return false
	}
	s.ws()
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(depth, top)
	case c == '[':
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return true
		}
		for {
			if !s.value(depth+1, top) {
				return false
			}
			s.ws()
			if s.i >= len(s.b) {
				return false
			}
			switch s.b[s.i] {
			case ',':
				s.i++
			case ']':
				s.i++
				return true
			default:
				return false
			}
		}
	case c == '"':
		var ok bool
		s.i, _, ok = jsonscan.String(s.b, s.i)
		return ok
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		var ok bool
		s.i, ok = jsonscan.Number(s.b, s.i)
		return ok
	}
	return false
}

func (s *scanner) object(depth int, top *topLevel) bool {
	s.i++ // '{'
	first := len(s.keys)
	defer func() { s.keys = s.keys[:first] }()
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return true
	}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false
		}
		k, escaped, ok := s.key()
		if !ok || escaped || len(s.keys)-first >= maxScanKeys {
			return false
		}
		for _, prev := range s.keys[first:] {
			if bytes.Equal(prev, k) {
				return false
			}
		}
		s.keys = append(s.keys, k)
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.ws()
		start := s.i
		if !s.value(depth+1, top) {
			return false
		}
		if depth == 0 {
			v := s.b[start:s.i]
			switch string(k) {
			case "id":
				top.id = v
			case deleteKey:
				top.del = v
			default:
				if top.nOther == 0 {
					top.other = string(k)
				}
				top.nOther++
			}
		}
		s.ws()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// key reads a string and returns its raw contents (escapes not decoded)
// and whether it holds an escape.
func (s *scanner) key() (k []byte, escaped bool, ok bool) {
	start := s.i
	end, f, ok := jsonscan.String(s.b, start)
	if !ok {
		return nil, false, false
	}
	s.i = end
	return s.b[start+1 : end-1], f&jsonscan.Escaped != 0, true
}

func (s *scanner) lit(w string) bool {
	var ok bool
	s.i, ok = jsonscan.Literal(s.b, s.i, w)
	return ok
}
