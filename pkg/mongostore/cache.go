package mongostore

import (
	"context"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The persister is MongoDB's single writer, so it can know every term head
// without reading it back: headCache holds all heads (chunk ranges and
// counts) and, within a byte budget, their encoded posting blocks. Planning
// a batch then needs no read of the terms collection (a find by many ids is
// a full scan on FerretDB) and knows which terms are new, so they are
// inserted without a delete first.
//
// The cache describes the database at the stored checkpoint. It is loaded
// with one scan of the terms collection on the first batch after Open and
// after any failed attempt (recover undoes the failed batch's writes
// first), and updated only after a batch's checkpoint is written.
type headCache struct {
	heads map[string]*cachedHead
	bytes int   // posting block bytes held
	max   int   // budget for bytes
	seq   int64 // batches applied; cachedHead.used
}

// cachedHead is a term's head without its inline block, and the posting
// blocks known for it by chunk Lo (nil: not held, read on demand).
type cachedHead struct {
	head   headDoc // P is always nil here
	inline bool    // postings are in the head document (one chunk, no chunk document)
	blocks map[int64][]byte
	used   int64
}

// cacheBytes is the default budget of cached posting blocks.
const cacheBytes = 256 << 20

func (c *headCache) block(h *cachedHead, lo int64) ([]byte, bool) {
	b, ok := h.blocks[lo]
	return b, ok
}

func (c *headCache) setBlock(h *cachedHead, lo int64, b []byte) {
	if h.blocks == nil {
		h.blocks = map[int64][]byte{}
	}
	c.bytes += len(b) - len(h.blocks[lo])
	h.blocks[lo] = b
}

func (c *headCache) drop(key string) {
	if h := c.heads[key]; h != nil {
		for _, b := range h.blocks {
			c.bytes -= len(b)
		}
		delete(c.heads, key)
	}
}

// evict drops the blocks of the least recently used heads until the blocks
// fit in three quarters of the budget (heads themselves stay).
func (c *headCache) evict() {
	if c.bytes <= c.max {
		return
	}
	var hs []*cachedHead
	for _, h := range c.heads {
		if len(h.blocks) > 0 {
			hs = append(hs, h)
		}
	}
	slices.SortFunc(hs, func(a, b *cachedHead) int { return int(a.used - b.used) })
	for _, h := range hs {
		if c.bytes <= c.max/4*3 {
			return
		}
		for _, b := range h.blocks {
			c.bytes -= len(b)
		}
		h.blocks = nil
	}
}

// loadCache reads every term head (one scan) into a new cache, inline
// blocks included while they fit the budget.
func (s *Store) loadCache(ctx context.Context) error {
	c := &headCache{heads: map[string]*cachedHead{}, max: s.cacheMax}
	cur, err := s.terms.Find(ctx, bson.D{}, options.Find().SetBatchSize(1000))
	s.sent(CollTerms, "find", err, 0)
	if err != nil {
		return fmt.Errorf("load heads: %w", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var h headDoc
		if err := cur.Decode(&h); err != nil {
			return fmt.Errorf("load heads: %w", err)
		}
		ch := &cachedHead{inline: h.P != nil}
		if ch.inline && c.bytes+len(h.P) <= c.max {
			c.setBlock(ch, 0, h.P)
		}
		h.P = nil
		ch.head = h
		c.heads[h.ID] = ch
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("load heads: %w", err)
	}
	s.cache = c
	return nil
}

// install puts a batch's new heads into the cache (nil: the term is gone)
// and keeps the blocks within the budget.
func (c *headCache) install(heads map[string]*cachedHead) {
	c.seq++
	for k, h := range heads {
		c.drop(k)
		if h == nil {
			continue
		}
		c.heads[k] = h
		for _, b := range h.blocks {
			c.bytes += len(b)
		}
	}
	c.evict()
}
