// Package document defines the records of the documents topic: their key,
// their JSON envelope (schemas/document-envelope.v1.json) and the headers
// that tie a record to a bulk operation.
//
//	key    "{index}/{id}"
//	value  {"v":1,"index":"books","id":"42","doc":{...}}   index or replace
//	       {"v":1,"index":"books","id":"42","delete":true}  delete
//	       null (a tombstone)                               delete the key's document
//	headers termflow-operation: operation id, termflow-seq: the document's
//	        position in the operation (both absent for records from other producers)
package document

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/termflow/termflow/pkg/jsonscan"
)

// SchemaVersion is the envelope version this code reads and writes.
const SchemaVersion = 1

// Header names on documents-topic records.
const (
	HeaderOperation = "termflow-operation"
	HeaderSeq       = "termflow-seq"
)

// MaxIDBytes is the longest document id accepted.
const MaxIDBytes = 512

// DefaultMaxBytes is the default largest envelope accepted, in bytes.
const DefaultMaxBytes = 1 << 20

var indexName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidateIndex reports whether name is a valid index name.
func ValidateIndex(name string) error {
	if !indexName.MatchString(name) {
		return fmt.Errorf("invalid index name %q: want [a-z0-9][a-z0-9_-]{0,63}", name)
	}
	return nil
}

// ErrIDTooLong is the error of an id longer than MaxIDBytes.
var ErrIDTooLong = fmt.Errorf("id longer than %d bytes", MaxIDBytes)

// ValidateID reports whether id is a valid document id.
func ValidateID(id string) error {
	switch {
	case id == "":
		return errors.New("empty id")
	case len(id) > MaxIDBytes:
		return ErrIDTooLong
	case !utf8.ValidString(id):
		return errors.New("id is not valid UTF-8")
	case strings.ContainsRune(id, 0):
		return errors.New("id contains a NUL byte")
	}
	return nil
}

// ParseID reads a document's "id" member: a JSON string, or a JSON number
// taken by its literal text.
func ParseID(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", errors.New("missing id")
	}
	var id string
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &id); err != nil {
			return "", fmt.Errorf("invalid id: %w", err)
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", fmt.Errorf("invalid id: %w", err)
		}
		id = n.String()
	default:
		return "", errors.New("id must be a string or a number")
	}
	return id, ValidateID(id)
}

// Key is the record key of a document.
func Key(index, id string) []byte { return []byte(index + "/" + id) }

// ParseKey splits a record key into index and id.
func ParseKey(key []byte) (index, id string, err error) {
	i := bytes.IndexByte(key, '/')
	if i < 0 {
		return "", "", fmt.Errorf("key %q is not {index}/{id}", key)
	}
	index, id = string(key[:i]), string(key[i+1:])
	if err := ValidateIndex(index); err != nil {
		return "", "", err
	}
	return index, id, ValidateID(id)
}

// Envelope is the value of a documents-topic record.
type Envelope struct {
	V      int             `json:"v"`
	Index  string          `json:"index"`
	ID     string          `json:"id"`
	Delete bool            `json:"delete,omitempty"`
	Doc    json.RawMessage `json:"doc,omitempty"`
}

// Encode returns the JSON form of an envelope.
func (e Envelope) Encode() []byte {
	b, err := json.Marshal(e)
	if err != nil {
		panic(err) // only RawMessage can fail, and Doc is validated JSON
	}
	return b
}

// Decode reads a record into an envelope, validating it. A nil value is a
// tombstone: it deletes the document named by the key. A key, if any, must
// be Key(index, id) of the envelope. maxBytes bounds the
// value size (0 means DefaultMaxBytes). The envelope's Doc may share
// value's bytes.
func Decode(key, value []byte, maxBytes int) (Envelope, error) {
	return decode(key, value, maxBytes, true)
}

// decode is Decode; scan false reads every envelope with encoding/json, as
// the test that holds the two readings to one result does.
func decode(key, value []byte, maxBytes int, scan bool) (Envelope, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if value == nil {
		index, id, err := ParseKey(key)
		if err != nil {
			return Envelope{}, fmt.Errorf("tombstone: %w", err)
		}
		return Envelope{V: SchemaVersion, Index: index, ID: id, Delete: true}, nil
	}
	if len(value) > maxBytes {
		return Envelope{}, fmt.Errorf("record of %d bytes is over the %d-byte limit", len(value), maxBytes)
	}
	if !utf8.Valid(value) {
		return Envelope{}, errors.New("record is not valid UTF-8")
	}
	var f envelopeFields
	ok := false
	if scan {
		f, ok = scanEnvelope(value)
	}
	if !ok {
		var err error
		if f, err = unmarshalEnvelope(value); err != nil {
			return Envelope{}, err
		}
	}
	if f.v != SchemaVersion {
		return Envelope{}, fmt.Errorf("unsupported schema version %d (want %d)", f.v, SchemaVersion)
	}
	if err := ValidateIndex(f.index); err != nil {
		return Envelope{}, err
	}
	if err := ValidateID(f.id); err != nil {
		return Envelope{}, err
	}
	// The key names the document: compaction and partitioning go by it, so
	// a record keyed as one document must not change another. (A record
	// without a key cannot be on a compacted topic.)
	if len(key) > 0 && !isKey(key, f.index, f.id) {
		return Envelope{}, fmt.Errorf("record key %q does not name the envelope's document %q", key, Key(f.index, f.id))
	}
	e := Envelope{V: SchemaVersion, Index: f.index, ID: f.id, Delete: f.del}
	if e.Delete {
		return e, nil
	}
	if len(f.doc) == 0 || f.doc[0] != '{' {
		return Envelope{}, errors.New(`"doc" must be a JSON object`)
	}
	e.Doc = f.doc
	return e, nil
}

// isKey reports whether key is Key(index, id), without building it.
func isKey(key []byte, index, id string) bool {
	return len(key) == len(index)+1+len(id) && string(key[:len(index)]) == index &&
		key[len(index)] == '/' && string(key[len(index)+1:]) == id
}

// envelopeFields are an envelope's members as read, before validation.
type envelopeFields struct {
	v         int
	index, id string
	del       bool
	doc       []byte
}

// unmarshalEnvelope reads any envelope encoding/json reads (members in any
// case, duplicates, escapes), and words the error of one it cannot.
func unmarshalEnvelope(value []byte) (envelopeFields, error) {
	var raw struct {
		V      *int            `json:"v"`
		Index  string          `json:"index"`
		ID     json.RawMessage `json:"id"`
		Delete bool            `json:"delete"`
		Doc    json.RawMessage `json:"doc"`
	}
	if err := json.Unmarshal(value, &raw); err != nil {
		return envelopeFields{}, fmt.Errorf("invalid JSON: %w", err)
	}
	if raw.V == nil {
		return envelopeFields{}, errors.New(`missing schema version "v"`)
	}
	f := envelopeFields{v: *raw.V, index: raw.Index, del: raw.Delete, doc: bytes.TrimSpace(raw.Doc)}
	if *raw.V != SchemaVersion {
		return f, nil // the version is the first thing refused
	}
	if err := ValidateIndex(raw.Index); err != nil {
		return envelopeFields{}, err
	}
	id, err := ParseID(raw.ID)
	if err != nil {
		return envelopeFields{}, err
	}
	f.id = id
	return f, nil
}

// scanEnvelope reads the envelope as producers write it, without
// encoding/json (which validated and decoded each record twice, a sixth of
// indexBatch's time): one object of the members "v" (digits), "index" (a
// string without escapes), "id" (a string without escapes, or a number),
// "delete" (true or false) and "doc" (an object), each at most once, with
// "v", "index" and "id" present. Anything else, valid or not, reports !ok
// and goes to unmarshalEnvelope, so rarer forms read and errors are worded
// as they always were; FuzzDecodeScanAgrees holds the two to one reading.
// The doc aliases value.
func scanEnvelope(value []byte) (f envelopeFields, ok bool) {
	i := jsonscan.Space(value, 0)
	if i >= len(value) || value[i] != '{' {
		return f, false
	}
	var seen [5]bool // v, index, id, delete, doc
	for i++; ; {
		i = jsonscan.Space(value, i)
		if i >= len(value) || value[i] != '"' {
			return f, false
		}
		end, flags, ok := jsonscan.String(value, i)
		if !ok || flags != 0 {
			return f, false
		}
		key := value[i+1 : end-1]
		if i = jsonscan.Space(value, end); i >= len(value) || value[i] != ':' {
			return f, false
		}
		i = jsonscan.Space(value, i+1)
		start := i
		var member int
		switch string(key) {
		case "v":
			member = 0
			i = digits(value, i)
			if i == start || i-start > 9 || value[start] == '0' && i-start > 1 {
				return f, false
			}
			f.v, _ = strconv.Atoi(string(value[start:i]))
		case "index":
			member = 1
			if i >= len(value) || value[i] != '"' {
				return f, false
			}
			if i, flags, ok = jsonscan.String(value, i); !ok || flags != 0 {
				return f, false
			}
			f.index = string(value[start+1 : i-1])
		case "id":
			member = 2
			switch {
			case i < len(value) && value[i] == '"':
				if i, flags, ok = jsonscan.String(value, i); !ok || flags&jsonscan.Escaped != 0 {
					return f, false
				}
				f.id = string(value[start+1 : i-1])
			default:
				if i, ok = jsonscan.Number(value, i); !ok {
					return f, false
				}
				f.id = string(value[start:i])
			}
		case "delete":
			member = 3
			if i, ok = jsonscan.Literal(value, start, "true"); ok {
				f.del = true
			} else if i, ok = jsonscan.Literal(value, start, "false"); !ok {
				return f, false
			}
		case "doc":
			member = 4
			if i >= len(value) || value[i] != '{' {
				return f, false
			}
			if i, ok = jsonscan.Value(value, i, maxScanDepth); !ok {
				return f, false
			}
			f.doc = value[start:i]
		default:
			return f, false
		}
		if seen[member] {
			return f, false
		}
		seen[member] = true
		i = jsonscan.Space(value, i)
		if i >= len(value) {
			return f, false
		}
		if value[i] == '}' {
			break
		}
		if value[i] != ',' {
			return f, false
		}
		i++
	}
	if jsonscan.Space(value, i+1) != len(value) || !seen[0] || !seen[1] || !seen[2] {
		return f, false
	}
	return f, true
}

// maxScanDepth is the deepest document scanEnvelope reads; a deeper one
// goes to encoding/json, which takes 10000 levels.
const maxScanDepth = 1000

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// Seq formats a document's position in its operation for HeaderSeq.
func Seq(n int) []byte { return strconv.AppendInt(nil, int64(n), 10) }
