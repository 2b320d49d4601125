// Package pebblestore is an indexer's local state in Pebble: the posting
// lists, the forward index (document → its terms, used to remove the old
// postings of a replaced or deleted document) and, per documents partition,
// the offset of the last record applied. A batch's postings, forward entries
// and applied offset are written in one Pebble batch, so after a crash the
// state and the offset always agree.
//
// Key layout (every variable part is length-prefixed with a uvarint, so no
// index, field, term or id can reach into another key range):
//
//	'a' topic partition(4 bytes BE)          → offset (8 bytes BE, two's complement)
//	'f' index id                             → forward entry (see Forward)
//	'p' index field term id                  → uvarint tf, uvarint field length
package pebblestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Store is an indexer's Pebble database.
type Store struct {
	db     *pebble.DB
	stalls atomic.Int64
}

// Options tune the store.
type Options struct {
	// FS is the file system; nil means the real one. Tests pass vfs.NewMem().
	FS vfs.FS
	// CacheBytes is the block cache size. The default value is 64 MiB.
	CacheBytes int64
	// Logger receives Pebble's own log lines. The default value is Pebble's
	// default logger (standard error).
	Logger pebble.Logger
	// MemTableBytes is the size of a memtable; a full one is flushed to an
	// sstable. The default value is 32 MiB. Tests make it small to exercise
	// flushes and compactions.
	MemTableBytes uint64
}

// Open opens (or creates) the store in dir.
func Open(dir string, o Options) (*Store, error) {
	if o.CacheBytes <= 0 {
		o.CacheBytes = 64 << 20
	}
	if o.MemTableBytes == 0 {
		o.MemTableBytes = 32 << 20
	}
	cache := pebble.NewCache(o.CacheBytes)
	defer cache.Unref()
	s := &Store{}
	opts := &pebble.Options{FS: o.FS, Cache: cache, MemTableSize: o.MemTableBytes, Logger: o.Logger,
		EventListener: &pebble.EventListener{WriteStallBegin: func(pebble.WriteStallBeginInfo) { s.stalls.Add(1) }}}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open pebble %q: %w", dir, err)
	}
	s.db = db
	return s, nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// DB exposes the database for metrics and verification.
func (s *Store) DB() *pebble.DB { return s.db }

func appendPart(k []byte, s string) []byte {
	k = binary.AppendUvarint(k, uint64(len(s)))
	return append(k, s...)
}

func appliedKey(topic string, partition int32) []byte {
	k := appendPart([]byte{'a'}, topic)
	return binary.BigEndian.AppendUint32(k, uint32(partition))
}

func forwardKey(index, id string) []byte { return appendPart(appendPart([]byte{'f'}, index), id) }

// PostingKey is the key of one posting.
func PostingKey(index, field, term, id string) []byte {
	return appendPart(appendPart(appendPart(appendPart([]byte{'p'}, index), field), term), id)
}

// Applied returns the offset of the last record of the partition applied to
// the store, or -1.
func (s *Store) Applied(topic string, partition int32) (int64, error) {
	v, closer, err := s.db.Get(appliedKey(topic, partition))
	if errors.Is(err, pebble.ErrNotFound) {
		return -1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read applied offset: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("applied offset: %d bytes", len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// Forward is what the forward index keeps of a document: per field, its
// length and its terms with their frequencies.
type Forward struct {
	Fields []ForwardField
}

// ForwardField is one field of a forward entry.
type ForwardField struct {
	Name   string
	Length uint32
	Terms  []TermFreq
}

// TermFreq is a term and its frequency.
type TermFreq struct {
	Term string
	TF   uint32
}

// Encoding of a forward entry:
//
//	uvarint fields
//	fields × { name, uvarint length, uvarint terms, terms × { term, uvarint tf } }
//
// with strings length-prefixed.

func (f *Forward) encode(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(f.Fields)))
	for _, fl := range f.Fields {
		dst = appendPart(dst, fl.Name)
		dst = binary.AppendUvarint(dst, uint64(fl.Length))
		dst = binary.AppendUvarint(dst, uint64(len(fl.Terms)))
		for _, t := range fl.Terms {
			dst = appendPart(dst, t.Term)
			dst = binary.AppendUvarint(dst, uint64(t.TF))
		}
	}
	return dst
}

var errCorrupt = errors.New("corrupt forward entry")

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errCorrupt
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func decodeForward(b []byte) (*Forward, error) {
	r := &reader{b: b}
	n := r.uvarint()
	if n > uint64(len(b)) {
		return nil, errCorrupt
	}
	f := &Forward{Fields: make([]ForwardField, 0, n)}
	for i := uint64(0); i < n && r.err == nil; i++ {
		fl := ForwardField{Name: r.str(), Length: uint32(r.uvarint())}
		nt := r.uvarint()
		if nt > uint64(len(r.b)) {
			return nil, errCorrupt
		}
		fl.Terms = make([]TermFreq, 0, nt)
		for j := uint64(0); j < nt && r.err == nil; j++ {
			fl.Terms = append(fl.Terms, TermFreq{Term: r.str(), TF: uint32(r.uvarint())})
		}
		f.Fields = append(f.Fields, fl)
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = errCorrupt
	}
	return f, r.err
}

// Forward returns the forward entry of a document, or nil.
func (s *Store) Forward(index, id string) (*Forward, error) {
	v, closer, err := s.db.Get(forwardKey(index, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read forward entry: %w", err)
	}
	defer closer.Close()
	f, err := decodeForward(v)
	if err != nil {
		return nil, fmt.Errorf("forward entry %s/%s: %w", index, id, err)
	}
	return f, nil
}

// Batch collects the writes of one indexed batch. Commit it, or Close it to
// discard it; Close after Commit does nothing, so `defer b.Close()` is safe.
type Batch struct {
	b   *pebble.Batch
	buf []byte
	// closed is set once b went back to Pebble, which recycles it: another
	// Batch may own it after that, so it must never be closed again.
	closed bool
}

// NewBatch starts a batch.
func (s *Store) NewBatch() *Batch { return &Batch{b: s.db.NewBatch()} }

// SetForward stores a document's forward entry (nil deletes it).
func (b *Batch) SetForward(index, id string, f *Forward) {
	if f == nil {
		_ = b.b.Delete(forwardKey(index, id), nil)
		return
	}
	b.buf = f.encode(b.buf[:0])
	_ = b.b.Set(forwardKey(index, id), b.buf, nil)
}

// SetPosting stores a posting; tf == 0 deletes it.
func (b *Batch) SetPosting(index, field, term, id string, tf, length uint32) {
	k := PostingKey(index, field, term, id)
	if tf == 0 {
		_ = b.b.Delete(k, nil)
		return
	}
	v := binary.AppendUvarint(nil, uint64(tf))
	v = binary.AppendUvarint(v, uint64(length))
	_ = b.b.Set(k, v, nil)
}

// SetApplied records the last applied offset of a partition.
func (b *Batch) SetApplied(topic string, partition int32, offset int64) {
	_ = b.b.Set(appliedKey(topic, partition), binary.BigEndian.AppendUint64(nil, uint64(offset)), nil)
}

// Commit writes the batch durably (fsync) and releases it. After an error
// the batch is still open; Close discards it.
func (b *Batch) Commit() error {
	if b.closed {
		return errors.New("commit pebble batch: batch already committed or closed")
	}
	if err := b.b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("commit pebble batch: %w", err)
	}
	b.closed = true
	return b.b.Close()
}

// Close discards an uncommitted batch; after Commit it does nothing.
func (b *Batch) Close() {
	if b.closed {
		return
	}
	b.closed = true
	_ = b.b.Close()
}

// Posting is a posting as the indexer stores it.
type Posting struct {
	ID     string
	TF     uint32
	Length uint32
}

// Postings returns the postings of a term in id order.
func (s *Store) Postings(index, field, term string) ([]Posting, error) {
	prefix := appendPart(appendPart(appendPart([]byte{'p'}, index), field), term)
	upper := append([]byte(nil), prefix...)
	upper = append(upper, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []Posting
	for it.First(); it.Valid(); it.Next() {
		r := &reader{b: it.Key()[len(prefix):]}
		id := r.str()
		v := &reader{b: it.Value()}
		p := Posting{ID: id, TF: uint32(v.uvarint()), Length: uint32(v.uvarint())}
		if r.err != nil || v.err != nil {
			return nil, fmt.Errorf("posting key %q: %w", it.Key(), errCorrupt)
		}
		out = append(out, p)
	}
	return out, it.Error()
}
