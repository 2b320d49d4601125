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
// value size (0 means DefaultMaxBytes).
func Decode(key, value []byte, maxBytes int) (Envelope, error) {
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
	var raw struct {
		V      *int            `json:"v"`
		Index  string          `json:"index"`
		ID     json.RawMessage `json:"id"`
		Delete bool            `json:"delete"`
		Doc    json.RawMessage `json:"doc"`
	}
	if err := json.Unmarshal(value, &raw); err != nil {
		return Envelope{}, fmt.Errorf("invalid JSON: %w", err)
	}
	if raw.V == nil {
		return Envelope{}, errors.New(`missing schema version "v"`)
	}
	if *raw.V != SchemaVersion {
		return Envelope{}, fmt.Errorf("unsupported schema version %d (want %d)", *raw.V, SchemaVersion)
	}
	if err := ValidateIndex(raw.Index); err != nil {
		return Envelope{}, err
	}
	id, err := ParseID(raw.ID)
	if err != nil {
		return Envelope{}, err
	}
	// The key names the document: compaction and partitioning go by it, so
	// a record keyed as one document must not change another. (A record
	// without a key cannot be on a compacted topic.)
	if k := Key(raw.Index, id); len(key) > 0 && !bytes.Equal(key, k) {
		return Envelope{}, fmt.Errorf("record key %q does not name the envelope's document %q", key, k)
	}
	e := Envelope{V: SchemaVersion, Index: raw.Index, ID: id, Delete: raw.Delete}
	if e.Delete {
		return e, nil
	}
	doc := bytes.TrimSpace(raw.Doc)
	if len(doc) == 0 || doc[0] != '{' {
		return Envelope{}, errors.New(`"doc" must be a JSON object`)
	}
	e.Doc = doc
	return e, nil
}

// Seq formats a document's position in its operation for HeaderSeq.
func Seq(n int) []byte { return strconv.AppendInt(nil, int64(n), 10) }
