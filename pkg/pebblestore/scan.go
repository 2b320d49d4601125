package pebblestore

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// OpenReadOnly opens an existing store without writing to it, for
// verification of a stopped indexer's state. Pebble still locks the
// directory, so it fails while the indexer that owns the store runs.
func OpenReadOnly(dir string, o Options) (*Store, error) {
	if o.CacheBytes <= 0 {
		o.CacheBytes = 64 << 20
	}
	cache := pebble.NewCache(o.CacheBytes)
	defer cache.Unref()
	opts := &pebble.Options{FS: o.FS, Cache: cache, ReadOnly: true, ErrorIfNotExists: true, Logger: readOnlyLogger{}}
	withFilters(opts)
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open pebble %q read-only: %w", dir, err)
	}
	s := &Store{db: db}
	if err := s.checkLayout(true); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open pebble %q read-only: %w", dir, err)
	}
	return s, nil
}

// readOnlyLogger drops Pebble's informational messages (a read-only open
// reports every WAL it replays); errors still reach the standard logger.
type readOnlyLogger struct{}

func (readOnlyLogger) Infof(string, ...any)           {}
func (readOnlyLogger) Errorf(format string, a ...any) { pebble.DefaultLogger.Errorf(format, a...) }
func (readOnlyLogger) Fatalf(format string, a ...any) { pebble.DefaultLogger.Fatalf(format, a...) }

// prefixIter iterates the keys starting with the one-byte prefix p.
func (s *Store) prefixIter(p byte) (*pebble.Iterator, error) {
	return s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{p}, UpperBound: []byte{p + 1}})
}

// AppliedOffsets returns the last applied offset of every partition of topic
// the store holds.
func (s *Store) AppliedOffsets(topic string) (map[int32]int64, error) {
	prefix := appendPart([]byte{'a'}, topic)
	upper := append(append([]byte(nil), prefix...), 0xff, 0xff, 0xff, 0xff, 0xff) // past every 4-byte partition
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := map[int32]int64{}
	for it.First(); it.Valid(); it.Next() {
		k, v := it.Key()[len(prefix):], it.Value()
		if len(k) != 4 || len(v) != 8 {
			return nil, fmt.Errorf("applied offset key %q: %w", it.Key(), errCorrupt)
		}
		out[int32(binary.BigEndian.Uint32(k))] = int64(binary.BigEndian.Uint64(v))
	}
	return out, it.Error()
}

// EachPosting calls fn with every posting of the store in term key order,
// so the postings of one (index, field, term) come together, in id order.
// The strings passed to fn stay valid after it returns; consecutive
// postings of one term share them. An error from fn stops the scan and is
// returned.
func (s *Store) EachPosting(fn func(index, field, term string, p Posting) error) error {
	it, err := s.prefixIter('t')
	if err != nil {
		return err
	}
	defer it.Close()
	var ps []Posting
	for it.First(); it.Valid(); it.Next() {
		key := it.Key()
		r := &reader{b: key[1:]}
		index, field, term := r.str(), r.str(), r.str()
		if r.err != nil || len(r.b) != 0 {
			return fmt.Errorf("term key %q: %w", key, errCorrupt)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if ps, err = replayPostings(v, ps); err != nil {
			return fmt.Errorf("postings of %s|%s|%s: %w", index, term, field, err)
		}
		for _, p := range ps {
			if err := fn(index, field, term, p); err != nil {
				return err
			}
		}
	}
	return it.Error()
}

// EachForward calls fn with every forward entry of the store, in key order.
// An error from fn stops the scan and is returned.
func (s *Store) EachForward(fn func(index, id string, f *Forward) error) error {
	it, err := s.prefixIter('f')
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		r := &reader{b: it.Key()[1:]}
		index, id := r.str(), r.str()
		if r.err != nil || len(r.b) != 0 {
			return fmt.Errorf("forward key %q: %w", it.Key(), errCorrupt)
		}
		f, err := decodeForward(it.Value())
		if err != nil {
			return fmt.Errorf("forward entry %s/%s: %w", index, id, err)
		}
		if err := fn(index, id, f); err != nil {
			return err
		}
	}
	return it.Error()
}
