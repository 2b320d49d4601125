// Package jsonscan reads the tokens of JSON text (RFC 8259): whitespace,
// strings, numbers and the literals true, false and null. It is the part
// the project's hand-written JSON walks share: the analyzer's
// (analysis.AnalyzeJSON) and ingest's document check. Each walk keeps its
// own objects, arrays, key bookkeeping and depth, because what it does at a
// member differs and a shared walk would cost them an indirect call per
// value.
//
// Every function takes the text, a string or a byte slice, and the offset
// of the token, and returns the offset just past it; none allocates but
// Unquote, which decodes a string's contents. A
// token is accepted exactly when encoding/json accepts it, so a walk built
// on them can trust what they accept and hand the rest to encoding/json.
package jsonscan

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// Text is JSON text: a string or a byte slice.
type Text interface{ ~string | ~[]byte }

// Space returns the offset of the first byte of s at or after i that is
// not JSON whitespace (space, tab, line feed, carriage return), or len(s).
func Space[T Text](s T, i int) int {
	for ; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return i
		}
	}
	return i
}

// Flags tell what a string's contents hold.
type Flags uint8

const (
	// Escaped: the string holds a backslash escape, so its contents are
	// not its text.
	Escaped Flags = 1 << iota
	// NonASCII: the string holds a byte of 0x80 or more, which may or may
	// not be valid UTF-8 (String does not check; encoding/json replaces
	// invalid UTF-8 when it decodes).
	NonASCII
)

// String reads the string whose opening quote is s[i]. It returns the
// offset just past the closing quote, so the contents are s[i+1:end-1],
// and what they hold. It reports !ok for a string that is not closed, that
// holds a control character (below 0x20), or an escape other than \", \\,
// \/, \b, \f, \n, \r, \t and \u followed by four hex digits.
func String[T Text](s T, i int) (end int, f Flags, ok bool) {
	// This loop does only what a plain string needs (a tight loop is what
	// keeps short keys as fast as the walks' own loops were); escapes,
	// which are rare, and errors go on in escaped.
	var high byte // every plain byte or'ed in: its top bit says NonASCII
	for i++; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			if high >= utf8.RuneSelf {
				f = NonASCII
			}
			return i + 1, f, true
		}
		if c < 0x20 || c == '\\' {
			return escaped(s, i, high)
		}
		high |= c
	}
	return i, 0, false
}

// escaped is String from s[i], a control character or the first backslash,
// with high the plain bytes or'ed so far.
func escaped[T Text](s T, i int, high byte) (end int, f Flags, ok bool) {
	for i < len(s) {
		switch c := s[i]; {
		case c == '"':
			if high >= utf8.RuneSelf {
				f |= NonASCII
			}
			return i + 1, f, true
		case c < 0x20:
			return i, 0, false
		case c == '\\':
			if i+1 >= len(s) {
				return i, 0, false
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s) || !isHex(s[i+2]) || !isHex(s[i+3]) || !isHex(s[i+4]) || !isHex(s[i+5]) {
					return i, 0, false
				}
				i += 6
			default:
				return i, 0, false
			}
			f |= Escaped
		default:
			high |= c
			i++
		}
	}
	return i, 0, false
}

// Unquote returns the text of a string's contents (what String accepted,
// without the quotes) when they are valid UTF-8 and hold no \u escape of a
// UTF-16 surrogate; otherwise !ok, and encoding/json, which replaces
// invalid UTF-8 and pairs surrogates, gives the text. It is the one
// function here that allocates: the text is a new string.
func Unquote(s string) (text string, ok bool) {
	if !utf8.ValidString(s) {
		return "", false
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '\\')
		if j < 0 {
			b = append(b, s[i:]...)
			break
		}
		b = append(b, s[i:i+j]...)
		i += j
		if i+1 >= len(s) {
			return "", false
		}
		switch c := s[i+1]; c {
		case '"', '\\', '/':
			b = append(b, c)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			if i+6 > len(s) {
				return "", false
			}
			r, err := strconv.ParseUint(s[i+2:i+6], 16, 16)
			if err != nil || utf16.IsSurrogate(rune(r)) {
				return "", false
			}
			b = utf8.AppendRune(b, rune(r))
			i += 4
		default:
			return "", false
		}
		i += 2
	}
	return unsafe.String(unsafe.SliceData(b), len(b)), true // b is never written again
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Number reads the number that starts at s[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, the longest such prefix.
// It returns the offset just past it, or !ok if s[i:] does not start with
// a number.
func Number[T Text](s T, i int) (end int, ok bool) {
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		i = digits(s, i+1)
	default:
		return i, false
	}
	if i < len(s) && s[i] == '.' {
		j := digits(s, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

// digits returns the offset of the first byte at or after i that is not a
// decimal digit.
func digits[T Text](s T, i int) int {
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

// Literal reads lit (true, false or null) at s[i]. It returns the offset
// just past it, or !ok if s[i:] does not start with lit.
func Literal[T Text](s T, i int, lit string) (end int, ok bool) {
	if len(s)-i < len(lit) {
		return i, false
	}
	for k := 0; k < len(lit); k++ {
		if s[i+k] != lit[k] {
			return i, false
		}
	}
	return i + len(lit), true
}

// Value reads the JSON value that starts at s[i] (after any whitespace):
// a string, number, literal, or an object or array of values nested at
// most maxDepth deep. It returns the offset just past it, or !ok if s[i:]
// does not start with one. Duplicate object keys are not its business: it
// checks syntax only, as json.Valid does.
func Value[T Text](s T, i, maxDepth int) (end int, ok bool) {
	i = Space(s, i)
	if i >= len(s) {
		return i, false
	}
	switch c := s[i]; {
	case c == '{' || c == '[':
		if maxDepth <= 0 {
			return i, false
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = Space(s, i+1)
		if i < len(s) && s[i] == closer {
			return i + 1, true
		}
		for {
			if c == '{' {
				if i >= len(s) || s[i] != '"' {
					return i, false
				}
				if i, _, ok = String(s, i); !ok {
					return i, false
				}
				if i = Space(s, i); i >= len(s) || s[i] != ':' {
					return i, false
				}
				i++
			}
			if i, ok = Value(s, i, maxDepth-1); !ok {
				return i, false
			}
			if i = Space(s, i); i >= len(s) {
				return i, false
			}
			switch s[i] {
			case ',':
				i = Space(s, i+1)
			case closer:
				return i + 1, true
			default:
				return i, false
			}
		}
	case c == '"':
		end, _, ok = String(s, i)
		return end, ok
	case c == 't':
		return Literal(s, i, "true")
	case c == 'f':
		return Literal(s, i, "false")
	case c == 'n':
		return Literal(s, i, "null")
	default:
		return Number(s, i)
	}
}
