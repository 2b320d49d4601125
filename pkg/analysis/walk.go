package analysis

import (
	"encoding/json"
	"unicode/utf8"
)

// walkJSON feeds the values of the JSON object s to a the way Analyze feeds
// those of the decoded object: strings as their text, numbers as their
// literal, booleans as "true" or "false", nulls not at all, array elements
// under the array's path, object members under "path.key" (fieldName).
// It reports false, having possibly fed a part, for anything it does not
// take on: s not exactly one object (surrounding whitespace aside), invalid
// JSON, a key repeated in an object (decoding keeps its last value), or a
// string escape encoding/json rejects. The caller then starts over with
// encoding/json.
func walkJSON(s string, a *accumulator) bool {
	w := jsonWalker{s: s, a: a}
	w.space()
	if w.i >= len(s) || s[w.i] != '{' {
		return false
	}
	if !w.object("") {
		return false
	}
	w.space()
	return w.i == len(s)
}

type jsonWalker struct {
	s string
	i int
	a *accumulator
}

func (w *jsonWalker) space() {
	for w.i < len(w.s) {
		switch w.s[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

func (w *jsonWalker) value(path string) bool {
	if w.i >= len(w.s) {
		return false
	}
	switch c := w.s[w.i]; {
	case c == '{':
		return w.object(path)
	case c == '[':
		w.i++
		w.space()
		if w.i < len(w.s) && w.s[w.i] == ']' {
			w.i++
			return true
		}
		for {
			w.space()
			if !w.value(path) {
				return false
			}
			w.space()
			if w.i >= len(w.s) {
				return false
			}
			switch w.s[w.i] {
			case ',':
				w.i++
			case ']':
				w.i++
				return true
			default:
				return false
			}
		}
	case c == '"':
		str, ok := w.str()
		if ok {
			w.a.add(path, str)
		}
		return ok
	case c == 't':
		return w.literal("true", path)
	case c == 'f':
		return w.literal("false", path)
	case c == 'n':
		if len(w.s)-w.i >= 4 && w.s[w.i:w.i+4] == "null" {
			w.i += 4
			return true
		}
		return false
	case c == '-' || ('0' <= c && c <= '9'):
		start := w.i
		if !w.number() {
			return false
		}
		w.a.add(path, w.s[start:w.i])
		return true
	}
	return false
}

func (w *jsonWalker) literal(lit, path string) bool {
	if len(w.s)-w.i < len(lit) || w.s[w.i:w.i+len(lit)] != lit {
		return false
	}
	w.i += len(lit)
	w.a.add(path, lit)
	return true
}

func (w *jsonWalker) object(path string) bool {
	w.i++ // '{'
	w.space()
	if w.i < len(w.s) && w.s[w.i] == '}' {
		w.i++
		return true
	}
	var seen [16]string
	keys := seen[:0]
	var many map[string]bool // past 32 keys
	for {
		w.space()
		if w.i >= len(w.s) || w.s[w.i] != '"' {
			return false
		}
		k, ok := w.str()
		if !ok {
			return false
		}
		// A repeated key: encoding/json keeps its last value.
		if many != nil {
			if many[k] {
				return false
			}
			many[k] = true
		} else {
			for _, o := range keys {
				if o == k {
					return false
				}
			}
			if keys = append(keys, k); len(keys) > 32 {
				many = make(map[string]bool, 2*len(keys))
				for _, o := range keys {
					many[o] = true
				}
			}
		}
		w.space()
		if w.i >= len(w.s) || w.s[w.i] != ':' {
			return false
		}
		w.i++
		w.space()
		p := k
		if path != "" {
			p = path + "." + k
		}
		if !w.value(fieldName(p)) {
			return false
		}
		w.space()
		if w.i >= len(w.s) {
			return false
		}
		switch w.s[w.i] {
		case ',':
			w.i++
		case '}':
			w.i++
			return true
		default:
			return false
		}
	}
}

// str reads a string token. Without escapes and in valid UTF-8 it is a
// slice of s; otherwise encoding/json unquotes it (replacing invalid UTF-8
// as it does everywhere).
func (w *jsonWalker) str() (string, bool) {
	start := w.i
	plain := true
	j := w.i + 1
	for ; j < len(w.s); j++ {
		c := w.s[j]
		if c == '"' {
			break
		}
		if c < 0x20 {
			return "", false
		}
		if c == '\\' {
			plain = false
			j++ // the escaped byte cannot end the string
		} else if c >= utf8.RuneSelf {
			plain = false
		}
	}
	if j >= len(w.s) {
		return "", false
	}
	w.i = j + 1
	raw := w.s[start+1 : j]
	if plain || (!containsByte(raw, '\\') && utf8.ValidString(raw)) {
		return raw, true
	}
	var out string
	if err := json.Unmarshal([]byte(w.s[start:j+1]), &out); err != nil {
		return "", false
	}
	return out, true
}

func containsByte(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}

// number reads a JSON number: -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?
func (w *jsonWalker) number() bool {
	s, i := w.s, w.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() bool {
		n := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i > n
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case !digits():
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	w.i = i
	return true
}
