package dirtyterms

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// appendEvent appends the JSON form of e: exactly the bytes json.Marshal
// writes (field order, omitempty, null for nil slices, HTML-safe string
// escaping, compacted sources), without reflection. An event of 1000 short
// documents holds tens of thousands of ops; TestEncodeMatchesMarshal keeps
// the two identical.
func appendEvent(b []byte, e *Event) ([]byte, error) {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(e.V), 10)
	b = append(b, `,"indexer":`...)
	b = appendString(b, e.Indexer)
	b = append(b, `,"topic":`...)
	b = appendString(b, e.Topic)
	b = append(b, `,"partition":`...)
	b = strconv.AppendInt(b, int64(e.Partition), 10)
	b = append(b, `,"firstOffset":`...)
	b = strconv.AppendInt(b, e.FirstOffset, 10)
	b = append(b, `,"lastOffset":`...)
	b = strconv.AppendInt(b, e.LastOffset, 10)
	b = append(b, `,"records":`...)
	if e.Records == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range e.Records {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendRecord(b, &e.Records[i]); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"terms":`...)
	if e.Terms == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range e.Terms {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendTerm(b, &e.Terms[i])
		}
		b = append(b, ']')
	}
	if len(e.Progress) > 0 {
		p, err := json.Marshal(e.Progress)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"progress":`...)
		b = append(b, p...)
	}
	return append(b, '}'), nil
}

func appendRecord(b []byte, r *Record) ([]byte, error) {
	b = append(b, `{"o":`...)
	b = strconv.AppendInt(b, r.Offset, 10)
	b = append(b, `,"i":`...)
	b = appendString(b, r.Index)
	b = append(b, `,"id":`...)
	b = appendString(b, r.ID)
	if r.Deleted {
		b = append(b, `,"del":true`...)
	}
	if len(r.Source) > 0 {
		b = append(b, `,"src":`...)
		var err error
		if b, err = appendRaw(b, r.Source); err != nil {
			return nil, err
		}
	}
	b = append(b, `,"n":`...)
	b = strconv.AppendInt(b, r.Count, 10)
	if len(r.Fields) > 0 {
		b = append(b, `,"f":[`...)
		for i, f := range r.Fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"f":`...)
			b = appendString(b, f.Field)
			b = append(b, `,"d":`...)
			b = strconv.AppendInt(b, f.Docs, 10)
			b = append(b, `,"l":`...)
			b = strconv.AppendInt(b, f.Length, 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

func appendTerm(b []byte, t *Term) []byte {
	b = append(b, `{"i":`...)
	b = appendString(b, t.Index)
	b = append(b, `,"f":`...)
	b = appendString(b, t.Field)
	b = append(b, `,"t":`...)
	b = appendString(b, t.Term)
	b = append(b, `,"ops":`...)
	if t.Ops == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, o := range t.Ops {
			if i > 0 {
				b = append(b, ',')
			}
			b = o.appendJSON(b)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendRaw appends a stored document as json.Marshal writes a
// json.RawMessage: validated, compacted, with <, >, &, U+2028 and U+2029
// escaped inside strings. A valid source with none of those to change (what
// ingest produces) is copied as it is; anything else goes through
// json.Marshal itself.
func appendRaw(b []byte, src json.RawMessage) ([]byte, error) {
	if rawAsIs(src) && json.Valid(src) {
		return append(b, src...), nil
	}
	c, err := json.Marshal(src)
	if err != nil {
		return nil, err
	}
	return append(b, c...), nil
}

// rawAsIs reports whether compacting and HTML-escaping src would leave it
// unchanged: no whitespace outside strings, no <, >, & or U+2028/U+2029.
func rawAsIs(src []byte) bool {
	in := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '<' || c == '>' || c == '&':
			return false
		case c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8:
			return false
		case in && c == '\\':
			i++ // the escaped byte cannot end the string
		case c == '"':
			in = !in
		case !in && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return false
		}
	}
	return true
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json does with
// HTML escaping on: control characters, <, >, &, U+2028 and U+2029 as \u
// escapes (\b, \f, \n, \r, \t short), invalid UTF-8 as \ufffd.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
