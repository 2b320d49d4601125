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
//	't' index field term                     → posting log (merge operands)
//	'v'                                      → layout version (uvarint)
//
// A term's postings are one key whose value is a log of posting changes,
// each entry `uvarint len(id), id, uvarint tf, uvarint field length`, tf 0
// removing the document. A batch adds one Pebble merge operand per term it
// changed; Pebble's default merger concatenates operands in commit order, so
// the log replays to the term's postings: the last entry of a document wins.
// Nothing on the indexing path reads postings (it reads the forward index);
// verification and tests do, through Postings and EachPosting. One key per
// term and batch instead of one per posting is what keeps the write cost of
// a bulk load low. Layout 1 had one key per posting ('p' index field term
// id); a store holding it is refused (delete the directory: the indexer
// rebuilds it from the documents topic).
package pebblestore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/termflow/termflow/pkg/analysis"
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
	// sstable. The default value is 64 MiB: a batch of more than half of it
	// is flushed on its own, and on zipf-100k 32 MiB made 17 flushes and 7
	// compactions (a third of the indexer's CPU) where 64 MiB made 4 and 1.
	// Tests make it small to exercise flushes and compactions.
	MemTableBytes uint64
}

// Open opens (or creates) the store in dir.
func Open(dir string, o Options) (*Store, error) {
	if o.CacheBytes <= 0 {
		o.CacheBytes = 64 << 20
	}
	if o.MemTableBytes == 0 {
		o.MemTableBytes = 64 << 20
	}
	cache := pebble.NewCache(o.CacheBytes)
	defer cache.Unref()
	s := &Store{}
	opts := &pebble.Options{FS: o.FS, Cache: cache, MemTableSize: o.MemTableBytes, Logger: o.Logger,
		EventListener: &pebble.EventListener{WriteStallBegin: func(pebble.WriteStallBeginInfo) { s.stalls.Add(1) }}}
	withFilters(opts)
	forBulkLoads(opts)
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open pebble %q: %w", dir, err)
	}
	s.db = db
	if err := s.checkLayout(false); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open pebble %q: %w", dir, err)
	}
	return s, nil
}

// Layout is the key layout version this code reads and writes.
const Layout = 2

var layoutKey = []byte{'v'}

// checkLayout refuses a store of another layout and stamps a new one
// (unless readOnly).
func (s *Store) checkLayout(readOnly bool) error {
	v, closer, err := s.db.Get(layoutKey)
	if err == nil {
		n, k := binary.Uvarint(v)
		closer.Close()
		if k <= 0 || n != Layout {
			return fmt.Errorf("store has key layout %q, this indexer writes layout %d: delete the directory, the indexer rebuilds it from the documents topic", v, Layout)
		}
		return nil
	}
	if !errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("read layout version: %w", err)
	}
	it, err := s.db.NewIter(nil)
	if err != nil {
		return err
	}
	empty := !it.First()
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return err
	}
	if !empty {
		return fmt.Errorf("store has key layout 1 (a key per posting), this indexer writes layout %d: delete the directory, the indexer rebuilds it from the documents topic", Layout)
	}
	if readOnly {
		return nil
	}
	return s.db.Set(layoutKey, binary.AppendUvarint(nil, Layout), pebble.Sync)
}

// withFilters gives every level's sstables a Bloom filter: the indexer
// looks up the forward entry of every document it indexes, and in a bulk
// load nearly all of them are missing, which without a filter costs a
// block read per level.
func withFilters(opts *pebble.Options) {
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
}

// forBulkLoads tunes the writer for bulk loads (MemTableBytes too):
//
//   - Blocks are not compressed. Posting blocks are varint-encoded already,
//     and a bulk load's flushes and compactions spent about a fifth of the
//     indexer's CPU in Snappy (debian corpus, bench profile); uncompressed,
//     the store took 150 MB instead of 104 MB for the 63,697 documents. On a
//     machine the indexer shares with the broker and the persister, CPU is
//     the scarcer of the two.
//   - L0 grows to 8 sublevels before it is compacted (Pebble's default is
//     4): fewer, larger compactions while a load runs. Lookups during a load
//     are of missing forward entries, which the Bloom filters answer.
func forBulkLoads(opts *pebble.Options) {
	for i := range opts.Levels {
		opts.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
	}
	opts.L0CompactionThreshold = 8
	opts.L0StopWritesThreshold = 24
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

func appendTermKey(k []byte, index, field, term string) []byte {
	return appendPart(appendPart(appendPart(append(k, 't'), index), field), term)
}

// TermKey is the key of a term's posting log.
func TermKey(index, field, term string) []byte { return appendTermKey(nil, index, field, term) }

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

// ForwardField is one field of a forward entry: the field as analysis
// left it, so a new document's entry is its analysis itself, with nothing
// copied.
type ForwardField = analysis.Field

// TermFreq is a term and its frequency.
type TermFreq = analysis.TermFreq

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

// DocRef names a document.
type DocRef struct{ Index, ID string }

// Forwards returns the forward entries of docs, nil for a document without
// one. It looks them up in key order through one iterator, so the blocks a
// lookup loaded serve the next ones and each sstable's Bloom filter spares
// the reads of documents it does not hold; a batch of a bulk load asks for
// thousands of (mostly missing) entries, for which Forward would cost a
// fresh iterator each.
func (s *Store) Forwards(docs []DocRef) ([]*Forward, error) {
	out := make([]*Forward, len(docs))
	if len(docs) == 0 {
		return out, nil
	}
	keys := make([][]byte, len(docs))
	order := make([]int, len(docs))
	for i, d := range docs {
		keys[i] = forwardKey(d.Index, d.ID)
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return bytes.Compare(keys[a], keys[b]) })
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'f'}, UpperBound: []byte{'f' + 1}})
	if err != nil {
		return nil, fmt.Errorf("read forward entries: %w", err)
	}
	defer it.Close()
	for _, i := range order {
		if !it.SeekPrefixGE(keys[i]) || !bytes.Equal(it.Key(), keys[i]) {
			if err := it.Error(); err != nil {
				return nil, fmt.Errorf("read forward entries: %w", err)
			}
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("read forward entry: %w", err)
		}
		if out[i], err = decodeForward(v); err != nil {
			return nil, fmt.Errorf("forward entry %s/%s: %w", docs[i].Index, docs[i].ID, err)
		}
	}
	return out, nil
}

// Batch collects the writes of one indexed batch. Commit it, or Close it to
// discard it; Close after Commit does nothing, so `defer b.Close()` is safe.
type Batch struct {
	b   *pebble.Batch
	buf []byte
	key []byte
	// closed is set once b went back to Pebble, which recycles it: another
	// Batch may own it after that, so it must never be closed again.
	closed bool
}

// NewBatch starts a batch.
func (s *Store) NewBatch() *Batch { return &Batch{b: s.db.NewBatch()} }

// NewBatchSized starts a batch with room for about size bytes, so that
// filling it does not copy it over and over as it doubles.
func (s *Store) NewBatchSized(size int) *Batch { return &Batch{b: s.db.NewBatchWithSize(size)} }

// Len is the size of the batch's contents in bytes.
func (b *Batch) Len() int { return b.b.Len() }

// SetForward stores a document's forward entry (nil deletes it).
func (b *Batch) SetForward(index, id string, f *Forward) {
	b.key = appendPart(appendPart(append(b.key[:0], 'f'), index), id)
	if f == nil {
		_ = b.b.Delete(b.key, nil)
		return
	}
	b.buf = f.encode(b.buf[:0])
	_ = b.b.Set(b.key, b.buf, nil)
}

// SetPosting stores a posting; tf == 0 deletes it. Several postings of one
// term are cheaper through MergePostings.
func (b *Batch) SetPosting(index, field, term, id string, tf, length uint32) {
	b.MergePostings(index, field, term, []Posting{{ID: id, TF: tf, Length: length}})
}

// MergePostings stores the postings ps of a term in order (TF 0 deletes the
// document's posting; a later entry for a document replaces an earlier one),
// as one entry of the term's posting log. Pebble copies the key and value,
// so ps and its strings may be reused after the call.
func (b *Batch) MergePostings(index, field, term string, ps []Posting) {
	if len(ps) == 0 {
		return
	}
	b.key = appendTermKey(b.key[:0], index, field, term)
	v := b.buf[:0]
	for _, p := range ps {
		v = appendPart(v, p.ID)
		v = binary.AppendUvarint(v, uint64(p.TF))
		v = binary.AppendUvarint(v, uint64(p.Length))
	}
	b.buf = v
	_ = b.b.Merge(b.key, v, nil)
}

// SetApplied records the last applied offset of a partition.
func (b *Batch) SetApplied(topic string, partition int32, offset int64) {
	b.key = binary.BigEndian.AppendUint32(appendPart(append(b.key[:0], 'a'), topic), uint32(partition))
	b.buf = binary.BigEndian.AppendUint64(b.buf[:0], uint64(offset))
	_ = b.b.Set(b.key, b.buf, nil)
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
	v, closer, err := s.db.Get(TermKey(index, field, term))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read postings: %w", err)
	}
	defer closer.Close()
	ps, err := replayPostings(v, nil)
	if err != nil {
		return nil, fmt.Errorf("postings of %s|%s|%s: %w", index, term, field, err)
	}
	if len(ps) == 0 {
		return nil, nil
	}
	return ps, nil
}

// replayPostings replays a posting log into the term's postings in id order,
// appended to dst[:0].
func replayPostings(log []byte, dst []Posting) ([]Posting, error) {
	r := &reader{b: log}
	at := map[string]int{} // id → index in dst; removed ones stay until the end with TF 0
	dst = dst[:0]
	for len(r.b) > 0 && r.err == nil {
		p := Posting{ID: r.str(), TF: uint32(r.uvarint()), Length: uint32(r.uvarint())}
		if r.err != nil {
			break
		}
		if i, ok := at[p.ID]; ok {
			dst[i] = p
			continue
		}
		at[p.ID] = len(dst)
		dst = append(dst, p)
	}
	if r.err != nil {
		return nil, r.err
	}
	dst = slices.DeleteFunc(dst, func(p Posting) bool { return p.TF == 0 })
	slices.SortFunc(dst, func(a, b Posting) int { return strings.Compare(a.ID, b.ID) })
	return dst, nil
}
