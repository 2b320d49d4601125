package mongostore

import (
	"context"
	"fmt"

	"github.com/bits-and-blooms/bloom/v3"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// known is what the single writer remembers of the term collections between
// batches, so a batch reads only what it cannot know:
//
//   - a Bloom filter of every head's key: a term it has never seen needs no
//     lookup (a bulk load is mostly new terms, and on FerretDB a lookup that
//     finds nothing costs as much as one that finds something);
//   - recent heads (with the postings of inline terms), and the encoded
//     postings of recent chunks: common terms are dirtied by nearly every
//     batch.
//
// It is filled from MongoDB once (a scan of the heads' keys) and then kept
// in step by the batches' own writes. It is trusted only while every write
// since the scan succeeded: ApplyBatch drops it on any failure, and the next
// attempt, after recover, scans again. The store is the only writer of the
// term collections (the persister is the single writer), so nothing else
// can make it stale. Every hint is checked where it matters: an insert
// meant for a new document that finds one already there replaces it.
type known struct {
	filter      *bloom.BloomFilter
	capacity    uint // keys the filter was sized for
	added       uint // keys added since it was built
	heads       map[string]*headDoc
	order       []*headDoc        // heads in the order written, oldest first; an entry heads no longer holds is skipped
	headBytes   int               // estimated bytes of heads (inline postings included)
	chunks      map[string][]byte // chunk id → encoded postings
	chunkBytes  int
	headsMax    int
	headMax     int
	chunkMax    int
	loadedHeads int
}

// Bounds of what known holds: heads up to headCacheMax of them and
// headCacheBytes (about 200 bytes each plus inline postings), and encoded
// chunk postings up to chunkCacheBytes.
const (
	headCacheMax    = 200_000
	headCacheBytes  = 96 << 20
	chunkCacheBytes = 64 << 20
)

// headSize estimates the memory a remembered head takes.
func headSize(h *headDoc) int { return 200 + len(h.ID) + len(h.P) + 24*len(h.Chunks) }

// loadKnown scans the keys of every head into a fresh filter.
func (s *Store) loadKnown(ctx context.Context, st *ApplyStats) (*known, error) {
	n, err := s.terms.EstimatedDocumentCount(ctx)
	if err != nil {
		return nil, fmt.Errorf("count terms: %w", err)
	}
	capacity := max(uint(n)*2, 1<<20)
	k := &known{
		filter:   bloom.NewWithEstimates(capacity, 0.01),
		capacity: capacity,
		heads:    map[string]*headDoc{},
		chunks:   map[string][]byte{},
		headsMax: headCacheMax, headMax: headCacheBytes, chunkMax: chunkCacheBytes,
	}
	cur, err := s.terms.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(10000))
	s.sent(CollTerms, "find", err, 0)
	st.Reads++
	if err != nil {
		return nil, fmt.Errorf("scan term keys: %w", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		id, ok := cur.Current.Lookup("_id").StringValueOK()
		if !ok {
			return nil, fmt.Errorf("scan term keys: a head's _id is not a string")
		}
		k.filter.AddString(id)
		k.loadedHeads++
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("scan term keys: %w", err)
	}
	s.log.Info().Int("heads", k.loadedHeads).Uint("filterCapacity", capacity).Msg("term keys loaded")
	return k, nil
}

// mayExist reports whether a head with the key may be stored: false is
// certain.
func (k *known) mayExist(key string) bool { return k.filter.TestString(key) }

// full reports that the filter holds more keys than it was sized for, so
// its false positives grow: the next batch rebuilds it.
func (k *known) full() bool { return k.added > k.capacity/2 }

// wrote records a batch's writes, while they are sent (writeRemembering):
// a failed write makes ApplyBatch drop the whole cache.
func (k *known) wrote(tw *termWrites) {
	for i := range tw.Heads {
		h := tw.Heads[i] // a copy: the cache must not pin the batch's slice
		k.forget(h.ID)
		for len(k.heads) > 0 && (len(k.heads) >= k.headsMax || k.headBytes+headSize(&h) > k.headMax) {
			k.evictOldest()
		}
		k.heads[h.ID] = &h
		k.order = append(k.order, &h)
		k.compactOrder()
		k.headBytes += headSize(&h)
		if !k.filter.TestString(h.ID) {
			k.filter.AddString(h.ID)
			k.added++
		}
	}
	for _, id := range tw.HeadDeletes {
		k.forget(id) // the filter keeps the key: a lookup finds nothing
	}
	for i := range tw.Chunks {
		c := &tw.Chunks[i]
		k.chunkBytes -= len(k.chunks[c.ID])
		for k.chunkBytes+len(c.P) > k.chunkMax && len(k.chunks) > 0 {
			for id, p := range k.chunks {
				k.chunkBytes -= len(p)
				delete(k.chunks, id)
				break
			}
		}
		k.chunks[c.ID] = c.P
		k.chunkBytes += len(c.P)
	}
	for _, id := range tw.ChunkDeletes {
		k.chunkBytes -= len(k.chunks[id])
		delete(k.chunks, id)
	}
}

// evictOldest drops the remembered head written longest ago. A head is
// looked up only to be written again, so the order of writes is the order
// of use: the heads a batch rewrites (common terms, and the terms of the
// last operations) stay, and the ones of an index no longer written go
// first. (Evicting arbitrary heads, as an earlier version did, dropped the
// heads of the operation just written as often as any other: the next
// operation of the same documents' vocabulary read a fifth of its heads
// back from MongoDB.)
func (k *known) evictOldest() {
	for len(k.order) > 0 {
		h := k.order[0]
		k.order[0] = nil
		k.order = k.order[1:]
		if k.heads[h.ID] == h {
			k.forget(h.ID)
			return
		}
	}
}

// compactOrder drops the entries of order that heads no longer holds
// (forgotten or written again since) once they are most of it.
func (k *known) compactOrder() {
	if len(k.order) <= 2*len(k.heads)+1024 {
		return
	}
	live := make([]*headDoc, 0, len(k.heads))
	for _, h := range k.order {
		if k.heads[h.ID] == h {
			live = append(live, h)
		}
	}
	k.order = live
}

// forget drops a remembered head.
func (k *known) forget(id string) {
	if h := k.heads[id]; h != nil {
		k.headBytes -= headSize(h)
		delete(k.heads, id)
	}
}
