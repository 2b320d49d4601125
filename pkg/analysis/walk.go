package analysis

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/termflow/termflow/pkg/jsonscan"
)

// walkJSON feeds the values of the JSON object s to a the way Analyze feeds
// those of the decoded object: strings as their text, numbers as their
// literal, booleans as "true" or "false", nulls not at all, array elements
// under the array's path, object members under "path.key" (fieldName).
// It reports false, having possibly fed a part, for anything it does not
// take on: s not exactly one object (surrounding whitespace aside), invalid
// JSON, a key repeated in an object (decoding keeps its last value), a
// string escape encoding/json rejects, or nesting deeper than MaxDepth.
// The caller then starts over with encoding/json.
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
	s     string
	i     int
	a     *accumulator
	depth int // of the object or array being read; past MaxDepth the walk gives up
}

// enter counts an object or array opened; leave, one closed.
func (w *jsonWalker) enter() bool {
	w.depth++
	return w.depth <= MaxDepth
}

func (w *jsonWalker) leave() { w.depth-- }

func (w *jsonWalker) space() { w.i = jsonscan.Space(w.s, w.i) }

func (w *jsonWalker) value(path string) bool {
	if w.i >= len(w.s) {
		return false
	}
	switch c := w.s[w.i]; {
	case c == '{':
		return w.object(path)
	case c == '[':
		return w.array(path)
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
		end, ok := jsonscan.Literal(w.s, w.i, "null")
		w.i = end
		return ok
	case c == '-' || ('0' <= c && c <= '9'):
		end, ok := jsonscan.Number(w.s, w.i)
		if !ok {
			return false
		}
		w.a.add(path, w.s[w.i:end])
		w.i = end
		return true
	}
	return false
}

func (w *jsonWalker) array(path string) bool {
	if !w.enter() {
		return false
	}
	defer w.leave()
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
		if more, ok := w.next(']'); !ok || !more {
			return ok
		}
	}
}

// next reads what follows an element or member: a comma, so more is
// to come, or close, which ends the array or object; !ok for anything else.
func (w *jsonWalker) next(close byte) (more, ok bool) {
	w.space()
	if w.i >= len(w.s) {
		return false, false
	}
	switch w.s[w.i] {
	case ',':
		w.i++
		return true, true
	case close:
		w.i++
		return false, true
	}
	return false, false
}

func (w *jsonWalker) literal(lit, path string) bool {
	end, ok := jsonscan.Literal(w.s, w.i, lit)
	if !ok {
		return false
	}
	w.i = end
	w.a.add(path, lit)
	return true
}

func (w *jsonWalker) object(path string) bool {
	if !w.enter() {
		return false
	}
	defer w.leave()
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
		if more, ok := w.next('}'); !ok || !more {
			return ok
		}
	}
}

// str reads a string token. Without escapes and in valid UTF-8 it is a
// slice of s; with escapes, jsonscan.Unquote decodes it, and what that
// leaves (invalid UTF-8, escaped surrogates) encoding/json unquotes,
// replacing invalid UTF-8 as it does everywhere.
func (w *jsonWalker) str() (string, bool) {
	start := w.i
	end, f, ok := jsonscan.String(w.s, start)
	if !ok {
		return "", false
	}
	w.i = end
	raw := w.s[start+1 : end-1]
	if f&jsonscan.Escaped == 0 && (f&jsonscan.NonASCII == 0 || utf8.ValidString(raw)) {
		return raw, true
	}
	if f&jsonscan.Escaped != 0 {
		if text, ok := jsonscan.Unquote(raw); ok {
			return text, true
		}
	}
	var out string
	if err := json.Unmarshal([]byte(w.s[start:end]), &out); err != nil {
		return "", false
	}
	return out, true
}
