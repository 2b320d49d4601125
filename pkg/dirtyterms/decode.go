package dirtyterms

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// decodeFast parses the exact form appendEvent writes (its field order, no
// whitespace, no unknown fields) into e, with the result json.Unmarshal
// would give. It reports false for anything else: the caller then decodes
// with encoding/json, which reads any JSON spelling of an event (hand-made
// events in tests, other producers) and gives the errors.
func decodeFast(b []byte, e *Event) bool {
	d := &fastDecoder{b: b}
	ok := d.lit(`{"v":`) && d.int(func(v int64) bool { e.V = int(v); return int64(e.V) == v }) &&
		d.lit(`,"indexer":`) && d.str(&e.Indexer) &&
		d.lit(`,"topic":`) && d.str(&e.Topic) &&
		d.lit(`,"partition":`) && d.int(func(v int64) bool { e.Partition = int32(v); return int64(e.Partition) == v }) &&
		d.lit(`,"firstOffset":`) && d.int(func(v int64) bool { e.FirstOffset = v; return true }) &&
		d.lit(`,"lastOffset":`) && d.int(func(v int64) bool { e.LastOffset = v; return true }) &&
		d.lit(`,"records":`) && d.records(e) &&
		d.lit(`,"terms":`) && d.terms(e)
	if !ok {
		return false
	}
	if d.lit(`,"progress":`) {
		start := d.i
		if !d.skip() || json.Unmarshal(b[start:d.i], &e.Progress) != nil {
			return false
		}
	}
	return d.lit("}") && d.i == len(b)
}

type fastDecoder struct {
	b []byte
	i int
	// last strings read, reused when repeated (index and field names).
	index, field string
}

func (d *fastDecoder) lit(s string) bool {
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

// int reads an integer (no fraction, no exponent) and hands it to set,
// which reports whether it fits.
func (d *fastDecoder) int(set func(int64) bool) bool {
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
		d.i++
	}
	if d.i == digits || (d.b[digits] == '0' && d.i-digits > 1) {
		return false
	}
	if d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		return false
	}
	v, err := strconv.ParseInt(string(d.b[start:d.i]), 10, 64)
	return err == nil && set(v)
}

// rawStr reads a string without escapes in valid UTF-8 (what json.Unmarshal
// would copy as it is) and returns its bytes.
func (d *fastDecoder) rawStr() ([]byte, bool) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, false
	}
	start := d.i + 1
	ascii := true
	j := start
	for ; j < len(d.b); j++ {
		c := d.b[j]
		if c == '"' {
			break
		}
		if c == '\\' || c < 0x20 {
			return nil, false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if j >= len(d.b) {
		return nil, false
	}
	s := d.b[start:j]
	if !ascii && !utf8.Valid(s) {
		return nil, false
	}
	d.i = j + 1
	return s, true
}

func (d *fastDecoder) str(dst *string) bool {
	s, ok := d.rawStr()
	if ok {
		*dst = string(s)
	}
	return ok
}

// cached reads a string that often repeats the previous one in *last.
func (d *fastDecoder) cached(dst, last *string) bool {
	s, ok := d.rawStr()
	if !ok {
		return false
	}
	if string(s) != *last {
		*last = string(s)
	}
	*dst = *last
	return true
}

// list reads null (leaving the slice nil) or [item,item,...]; empty reports
// an empty, non-nil list before the items.
func (d *fastDecoder) list(empty func(), item func() bool) bool {
	if d.lit("null") {
		return true
	}
	if !d.lit("[") {
		return false
	}
	empty()
	if d.lit("]") {
		return true
	}
	for {
		if !item() {
			return false
		}
		if d.lit("]") {
			return true
		}
		if !d.lit(",") {
			return false
		}
	}
}

func (d *fastDecoder) records(e *Event) bool {
	return d.list(func() { e.Records = make([]Record, 0, 64) }, func() bool {
		var r Record
		ok := d.lit(`{"o":`) && d.int(func(v int64) bool { r.Offset = v; return true }) &&
			d.lit(`,"i":`) && d.cached(&r.Index, &d.index) &&
			d.lit(`,"id":`) && d.str(&r.ID)
		if !ok {
			return false
		}
		if d.lit(`,"del":`) {
			if !d.lit("true") {
				return false
			}
			r.Deleted = true
		}
		if d.lit(`,"src":`) {
			start := d.i
			if !d.skip() {
				return false
			}
			r.Source = append(json.RawMessage(nil), d.b[start:d.i]...)
		}
		if !d.lit(`,"n":`) || !d.int(func(v int64) bool { r.Count = v; return true }) {
			return false
		}
		if d.lit(`,"f":`) {
			ok := d.list(func() { r.Fields = make([]FieldDelta, 0, 4) }, func() bool {
				var f FieldDelta
				ok := d.lit(`{"f":`) && d.cached(&f.Field, &d.field) &&
					d.lit(`,"d":`) && d.int(func(v int64) bool { f.Docs = v; return true }) &&
					d.lit(`,"l":`) && d.int(func(v int64) bool { f.Length = v; return true }) && d.lit("}")
				r.Fields = append(r.Fields, f)
				return ok
			})
			if !ok {
				return false
			}
		}
		e.Records = append(e.Records, r)
		return d.lit("}")
	})
}

func (d *fastDecoder) terms(e *Event) bool {
	// The ops of all terms share one array, allocated once from a count.
	var ops []Op
	return d.list(func() { e.Terms = make([]Term, 0, 256) }, func() bool {
		var t Term
		ok := d.lit(`{"i":`) && d.cached(&t.Index, &d.index) &&
			d.lit(`,"f":`) && d.cached(&t.Field, &d.field) &&
			d.lit(`,"t":`) && d.str(&t.Term) && d.lit(`,"ops":`)
		if !ok {
			return false
		}
		if !d.lit("null") {
			if !d.lit("[") {
				return false
			}
			if cap(ops)-len(ops) < 64 {
				ops = make([]Op, 0, 4096)
			}
			from := len(ops)
			if !d.lit("]") {
				for {
					var o Op
					if !d.op(&o) {
						return false
					}
					ops = append(ops, o)
					if d.lit("]") {
						break
					}
					if !d.lit(",") {
						return false
					}
				}
			}
			t.Ops = ops[from:len(ops):len(ops)]
		}
		e.Terms = append(e.Terms, t)
		return d.lit("}")
	})
}

// op reads [rec,tf,length] as Op.UnmarshalJSON does, without spaces.
func (d *fastDecoder) op(o *Op) bool {
	if !d.lit("[") {
		return false
	}
	var a [3]uint64
	for k := range a {
		start := d.i
		var v uint64
		for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
			v = v*10 + uint64(d.b[d.i]-'0') // at most 10 digits: no overflow
			d.i++
			if d.i-start > 10 {
				return false
			}
		}
		if d.i == start || (d.b[start] == '0' && d.i-start > 1) {
			return false
		}
		a[k] = v
		sep := ","
		if k == len(a)-1 {
			sep = "]"
		}
		if !d.lit(sep) {
			return false
		}
	}
	if a[0] > 1<<31-1 || a[1] > 1<<32-1 || a[2] > 1<<32-1 {
		return false
	}
	*o = Op{Rec: int(a[0]), TF: uint32(a[1]), Length: uint32(a[2])}
	return true
}

// skip passes one JSON value (no whitespace around it) and reports whether
// it is well formed.
func (d *fastDecoder) skip() bool {
	start := d.i
	depth := 0
	for d.i < len(d.b) {
		switch c := d.b[d.i]; c {
		case '"':
			d.i++
			for d.i < len(d.b) && d.b[d.i] != '"' {
				if d.b[d.i] == '\\' {
					d.i++
				}
				d.i++
			}
			if d.i >= len(d.b) {
				return false
			}
			d.i++
		case '{', '[':
			depth++
			d.i++
		case '}', ']':
			if depth == 0 {
				return d.i > start && json.Valid(d.b[start:d.i])
			}
			depth--
			d.i++
		case ',':
			if depth == 0 {
				return d.i > start && json.Valid(d.b[start:d.i])
			}
			d.i++
		default:
			d.i++
		}
		if depth == 0 && d.i > start && (d.b[start] == '"' || d.b[start] == '{' || d.b[start] == '[') {
			return json.Valid(d.b[start:d.i])
		}
	}
	return depth == 0 && d.i > start && json.Valid(d.b[start:d.i])
}
