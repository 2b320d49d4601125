package mongostore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termflow/termflow/pkg/dirtyterms"
	"github.com/termflow/termflow/pkg/posting"
)

// Checkpoint is how far the persister got: the last dirty-terms offset fully
// applied, and per documents partition the last source offset applied.
type Checkpoint struct {
	Offset  int64    `bson:"offset"`
	Sources []Source `bson:"sources"`
}

// Source is the last applied offset of one documents partition.
type Source struct {
	Topic     string `bson:"topic"`
	Partition int32  `bson:"partition"`
	Offset    int64  `bson:"offset"`
}

// Applied returns the last applied source offset of a partition, -1 if none.
func (c *Checkpoint) Applied(topic string, partition int32) int64 {
	for _, s := range c.Sources {
		if s.Topic == topic && s.Partition == partition {
			return s.Offset
		}
	}
	return -1
}

func (c *Checkpoint) advance(topic string, partition int32, offset int64) {
	for i, s := range c.Sources {
		if s.Topic == topic && s.Partition == partition {
			c.Sources[i].Offset = max(s.Offset, offset)
			return
		}
	}
	c.Sources = append(c.Sources, Source{Topic: topic, Partition: partition, Offset: offset})
	slices.SortFunc(c.Sources, func(a, b Source) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
}

const checkpointID = "persister"

// LoadCheckpoint reads the persister's checkpoint; a new database starts at
// offset -1.
func (s *Store) LoadCheckpoint(ctx context.Context) (Checkpoint, error) {
	var c Checkpoint
	err := s.checkpoints.FindOne(ctx, bson.D{{Key: "_id", Value: checkpointID}}).Decode(&c)
	s.sent(CollCheckpoints, "find", nil, 0)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Checkpoint{Offset: -1}, nil
	}
	if err != nil {
		return c, fmt.Errorf("load checkpoint: %w", err)
	}
	return c, nil
}

// ApplyStats counts what one Apply did.
type ApplyStats struct {
	Skipped    bool // every event was applied before
	Events     int  // events applied (not skipped)
	Records    int  // records applied (after dropping the ones applied before)
	Duplicates int  // records dropped as applied before
	Terms      int  // terms changed
	Chunks     int  // chunk documents written or deleted
	TermChunks int  // (term, chunk) pairs whose content the batch changed
	Writes     int  // write operations sent (bulk-write models)
	Reads      int  // find queries sent
}

// Item is one dirty-terms event and its offset on the dirty-terms topic.
type Item struct {
	Offset int64
	Event  *dirtyterms.Event
}

// Apply applies one event; see ApplyBatch.
func (s *Store) Apply(ctx context.Context, off int64, ev *dirtyterms.Event, cp *Checkpoint) (ApplyStats, error) {
	return s.ApplyBatch(ctx, []Item{{Offset: off, Event: ev}}, cp)
}

// ApplyBatch makes MongoDB reflect the events, in order, and advances cp.
// Events at or below the checkpoint are skipped; so are records at or below
// the checkpointed source offset of their documents partition (another
// indexer handed them over before). The rest are merged into one set of
// writes, so a batch of events costs about as many MongoDB round trips as
// one event:
//
//  1. new values of term heads, chunks and statistics are computed from the
//     head cache (cache.go) and the statistics read (final values, never
//     increments);
//  2. the journal gets what undoes the batch: the ids it creates and the
//     values it overwrites or deletes (journal.go);
//  3. documents, chunks, heads and statistics are written, then the
//     checkpoint: the batch is done;
//  4. chunks no head lists any more are deleted and the journal removed.
//
// A crash before 2 completes left nothing written. A crash between 2 and
// the checkpoint is undone by recover before anything is read again, and
// the batch is replayed (with whatever boundaries it gets); a crash after
// the checkpoint is finished by recover (step 4). Chunks are written
// before the heads that list them and deleted after, so a reader following
// a head always finds its chunks. ApplyBatch must not be called
// concurrently (the persister is the single writer).
func (s *Store) ApplyBatch(ctx context.Context, items []Item, cp *Checkpoint) (st ApplyStats, err error) {
	// A crash or a failed attempt may have left a batch's writes half done:
	// recover undoes them before anything is read. The stored checkpoint is
	// authoritative: a caller's copy can be behind it (an attempt whose
	// checkpoint write succeeded but was reported failed), and applying
	// statistics twice would count twice.
	defer func() {
		if err != nil {
			s.cache, s.clean = nil, false // reloaded after recover
		}
	}()
	var stored Checkpoint
	if !s.clean {
		stored, err = s.recover(ctx)
	} else {
		stored, err = s.LoadCheckpoint(ctx)
		st.Reads++
	}
	if err != nil {
		return st, err
	}
	if stored.Offset > cp.Offset {
		*cp = stored
	}
	ev, next := merge(items, cp, &st)
	if next.Offset == cp.Offset {
		st.Skipped = true
		return st, nil
	}
	if len(ev.Records) == 0 {
		// Only records applied before: move the checkpoint on.
		if err := s.writeCheckpoint(ctx, next, &st); err != nil {
			return st, err
		}
		*cp = next
		return st, nil
	}
	if s.cache == nil {
		st.Reads++
		if err := s.loadCache(ctx); err != nil {
			return st, err
		}
	}
	tw, un, err := s.planTerms(ctx, ev, &st)
	if err != nil {
		return st, err
	}
	sw, err := s.planStats(ctx, ev, un, &st)
	if err != nil {
		return st, err
	}
	j := &journal{Off: next.Offset, Undo: un, Garbage: tw.Garbage}
	if err := s.writeJournal(ctx, j, &st); err != nil {
		return st, err
	}
	if err := s.applyDocuments(ctx, ev, cp.Offset < s.docsUnsafe, &st); err != nil {
		return st, err
	}
	if err := s.writeTerms(ctx, tw, &st); err != nil {
		return st, err
	}
	if err := s.writeStats(ctx, sw, &st); err != nil {
		return st, err
	}
	if err := s.writeCheckpoint(ctx, next, &st); err != nil {
		return st, err
	}
	*cp = next
	s.cache.install(tw.cache)
	// The checkpoint covers the batch now; a failure to delete its garbage
	// or remove the journal is repaired by the next recover.
	if err := s.finish(ctx, j, next.Offset, &st); err != nil {
		s.log.Warn().Err(err).Int64("offset", next.Offset).Msg("journal not cleared")
		s.clean = false
	} else {
		s.clean = true
	}
	return st, nil
}

// merge joins the events above the checkpoint into one event holding only
// the records not applied before, in order, and returns it with the
// checkpoint that covers the batch.
func merge(items []Item, cp *Checkpoint, st *ApplyStats) (*dirtyterms.Event, Checkpoint) {
	next := Checkpoint{Offset: cp.Offset, Sources: slices.Clone(cp.Sources)}
	out := &dirtyterms.Event{V: dirtyterms.Version}
	terms := map[string]int{} // term key → index in out.Terms
	for _, it := range items {
		if it.Offset <= next.Offset {
			continue
		}
		ev := it.Event
		applied := next.Applied(ev.Topic, ev.Partition)
		remap := make([]int, len(ev.Records))
		for i, r := range ev.Records {
			if r.Offset <= applied {
				remap[i] = -1
				st.Duplicates++
				continue
			}
			remap[i] = len(out.Records)
			out.Records = append(out.Records, r)
			st.Records++
		}
		for _, t := range ev.Terms {
			var ops []dirtyterms.Op
			for _, op := range t.Ops {
				if op.Rec >= 0 && op.Rec < len(remap) && remap[op.Rec] >= 0 {
					op.Rec = remap[op.Rec]
					ops = append(ops, op)
				}
			}
			if len(ops) == 0 {
				continue
			}
			k := TermKey(t.Index, t.Field, t.Term)
			if i, ok := terms[k]; ok {
				out.Terms[i].Ops = append(out.Terms[i].Ops, ops...)
				continue
			}
			terms[k] = len(out.Terms)
			out.Terms = append(out.Terms, dirtyterms.Term{Index: t.Index, Field: t.Field, Term: t.Term, Ops: ops})
		}
		next.Offset = it.Offset
		next.advance(ev.Topic, ev.Partition, ev.LastOffset)
		st.Events++
	}
	return out, next
}

func (s *Store) writeCheckpoint(ctx context.Context, cp Checkpoint, st *ApplyStats) error {
	if err := s.beforeWrite(); err != nil {
		return err
	}
	_, err := s.checkpoints.ReplaceOne(ctx, bson.D{{Key: "_id", Value: checkpointID}},
		bson.D{{Key: "_id", Value: checkpointID}, {Key: "offset", Value: cp.Offset}, {Key: "sources", Value: cp.Sources}},
		options.Replace().SetUpsert(true))
	s.sent(CollCheckpoints, "update", err, 1)
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	st.Writes++
	return nil
}

// applyDocuments sets the documents of the batch's records: the last
// record of each document wins. A document whose first record in the batch
// created it (count +1) did not exist at the checkpoint, so it is inserted
// without a delete (FerretDB's deletes scan the collection), and not
// written at all if the batch also deletes it. Everything else is
// replaced. safe replaces every document: a failed attempt may have
// written documents of events after the checkpoint.
func (s *Store) applyDocuments(ctx context.Context, ev *dirtyterms.Event, safe bool, st *ApplyStats) error {
	last, created := map[string]int{}, map[string]bool{}
	for i, r := range ev.Records {
		k := r.Index + "/" + r.ID
		if _, seen := last[k]; !seen {
			created[k] = r.Count > 0 && !safe
		}
		last[k] = i
	}
	keys := slices.Sorted(maps.Keys(last))
	var replaced, fresh []string
	var replacedDocs, freshDocs []any
	for _, k := range keys {
		r := ev.Records[last[k]]
		var d any
		if !r.Deleted {
			d = storedDoc{ID: k, Index: r.Index, DocID: r.ID, Source: string(r.Source), Offset: r.Offset}
		}
		switch {
		case created[k] && d == nil:
		case created[k]:
			fresh, freshDocs = append(fresh, k), append(freshDocs, d)
		default:
			replaced = append(replaced, k)
			if d != nil {
				replacedDocs = append(replacedDocs, d)
			}
		}
	}
	if err := s.replace(ctx, s.docs, replaced, replacedDocs, st); err != nil {
		return err
	}
	return s.insertFresh(ctx, s.docs, fresh, freshDocs, st)
}

// insertFresh inserts documents that should not exist yet; any that do
// (left by an attempt that failed) are replaced.
func (s *Store) insertFresh(ctx context.Context, c *mongo.Collection, ids []string, docs []any, st *ApplyStats) error {
	for len(docs) > 0 {
		n := min(insertStep, len(docs))
		err := s.insertMany(ctx, c, docs[:n], false)
		st.Writes++
		var bwe mongo.BulkWriteException
		if err != nil && errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 {
			var dupIDs []string
			var dups []any
			for _, we := range bwe.WriteErrors {
				if we.Code != 11000 || we.Index < 0 || we.Index >= n {
					return err
				}
				dupIDs, dups = append(dupIDs, ids[we.Index]), append(dups, docs[we.Index])
			}
			err = s.replace(ctx, c, dupIDs, dups, st)
		}
		if err != nil {
			return err
		}
		ids, docs = ids[n:], docs[n:]
	}
	return nil
}

// replace makes the documents with ids be exactly docs (a subset of ids;
// the others are deleted): one delete of every id, then one unordered
// insert. FerretDB's SQLite backend pushes down only single-_id filters, so
// one upsert per document costs a table scan each, while this costs one
// scan and one bulk insert. A crash between the two leaves the ids missing:
// documents are then written again by the replayed events, everything else
// by the journal's redo.
func (s *Store) replace(ctx context.Context, c *mongo.Collection, ids []string, docs []any, st *ApplyStats) error {
	if err := s.deleteIDs(ctx, c, ids, st); err != nil {
		return err
	}
	return s.insertAll(ctx, c, docs, st)
}

// insertStep is the most documents one insert command carries.
const insertStep = 1000

// insertAll inserts docs with unordered inserts of insertStep documents.
func (s *Store) insertAll(ctx context.Context, c *mongo.Collection, docs []any, st *ApplyStats) error {
	for len(docs) > 0 {
		n := min(insertStep, len(docs))
		if err := s.insertMany(ctx, c, docs[:n], false); err != nil {
			return err
		}
		st.Writes++
		docs = docs[n:]
	}
	return nil
}

// deleteIDs deletes the documents with the given ids, many per request.
func (s *Store) deleteIDs(ctx context.Context, c *mongo.Collection, ids []string, st *ApplyStats) error {
	const step = 10000
	for rest := ids; len(rest) > 0; {
		n := min(step, len(rest))
		if err := s.beforeWrite(); err != nil {
			return err
		}
		if err := s.deleteMany(ctx, c, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: rest[:n]}}}}); err != nil {
			return err
		}
		st.Writes++
		rest = rest[n:]
	}
	return nil
}

type termWork struct {
	key          string
	index, field string
	term         string
	ops          []posting.Op
	cached       *cachedHead // nil: a new term
}

// target is one chunk of a term that a batch's ops change.
type target struct {
	w     *termWork
	meta  int // index in the head's chunks
	chunk posting.Chunk
	old   []byte // the block before the batch (nil for a new term)
	ops   []posting.Op
}

// planTerms computes the new values of the batch's terms from the head
// cache (loading blocks it does not hold with one find per collection),
// and the values they replace, for the journal.
func (s *Store) planTerms(ctx context.Context, ev *dirtyterms.Event, st *ApplyStats) (*termWrites, *undo, error) {
	work := make([]*termWork, 0, len(ev.Terms))
	byKey := map[string]*termWork{}
	for _, t := range ev.Terms {
		ops := make([]posting.Op, 0, len(t.Ops))
		for _, op := range t.Ops {
			ops = append(ops, posting.Op{Doc: ev.Records[op.Rec].ID, TF: op.TF, Length: op.Length})
		}
		if len(ops) == 0 {
			continue
		}
		key := TermKey(t.Index, t.Field, t.Term)
		if w := byKey[key]; w != nil {
			w.ops = append(w.ops, ops...)
			continue
		}
		w := &termWork{key: key, index: t.Index, field: t.Field, term: t.Term, ops: ops, cached: s.cache.heads[key]}
		byKey[key] = w
		work = append(work, w)
	}
	tw, un := &termWrites{}, &undo{}
	if len(work) == 0 {
		return tw, un, nil
	}

	// Which chunks each term's ops touch, and their blocks.
	var targets []*target
	var missHeads, missChunks []string
	missing := map[string]*target{}
	for _, w := range work {
		if w.cached == nil {
			targets = append(targets, &target{w: w, chunk: posting.Chunk{Lo: 0, Hi: math.MaxUint64}, ops: w.ops})
			continue
		}
		w.cached.used = s.cache.seq + 1
		chunks := w.cached.head.Chunks
		local := map[int]*target{}
		for _, op := range w.ops {
			h := posting.Hash(op.Doc)
			i := sort.Search(len(chunks), func(i int) bool { return uint64(chunks[i].Hi) >= h })
			if i == len(chunks) {
				return nil, nil, fmt.Errorf("term %q: chunks do not cover hash %x", w.key, h)
			}
			t := local[i]
			if t == nil {
				m := chunks[i]
				t = &target{w: w, meta: i, chunk: posting.Chunk{Lo: uint64(m.Lo), Hi: uint64(m.Hi)}}
				local[i] = t
				targets = append(targets, t)
				if b, ok := s.cache.block(w.cached, m.Lo); ok {
					t.old = b
				} else if w.cached.inline {
					missing[w.key] = t
					missHeads = append(missHeads, w.key)
				} else {
					id := chunkID(w.key, uint64(m.Lo), uint64(m.Hi))
					missing[id] = t
					missChunks = append(missChunks, id)
				}
			}
			t.ops = append(t.ops, op)
		}
	}
	if len(missHeads) > 0 {
		st.Reads++
		if err := findIDs(ctx, s, s.terms, missHeads, func(h headDoc) {
			if t := missing[h.ID]; t != nil {
				t.old = h.P
			}
		}); err != nil {
			return nil, nil, err
		}
	}
	if len(missChunks) > 0 {
		st.Reads++
		if err := findIDs(ctx, s, s.chunks, missChunks, func(c chunkDoc) {
			if t := missing[c.ID]; t != nil {
				t.old = c.P
			}
		}); err != nil {
			return nil, nil, err
		}
	}
	for _, t := range targets {
		if t.w.cached == nil {
			continue
		}
		if t.old == nil {
			return nil, nil, fmt.Errorf("term %q: chunk %x-%x not found", t.w.key, t.chunk.Lo, t.chunk.Hi)
		}
		ps, err := posting.Decode(nil, t.old)
		if err != nil {
			return nil, nil, fmt.Errorf("term %q chunk %x-%x: %w", t.w.key, t.chunk.Lo, t.chunk.Hi, err)
		}
		t.chunk.Postings = ps
	}

	// Apply and split. A term's writes are kept until its new total is
	// known: a term left without postings writes no chunk at all.
	type split struct {
		t     *target
		parts []posting.Chunk
	}
	splits := map[*termWork][]split{}
	for _, t := range targets {
		if !t.chunk.Apply(t.ops) && t.w.cached != nil {
			continue
		}
		splits[t.w] = append(splits[t.w], split{t: t, parts: posting.Split(t.chunk, s.maxChunk)})
	}
	tw.cache = map[string]*cachedHead{}
	for _, w := range work {
		sps := splits[w]
		if sps == nil {
			continue
		}
		st.Terms++
		var old []chunkMeta
		if w.cached != nil {
			old = w.cached.head.Chunks
		} else {
			old = []chunkMeta{{Lo: 0, Hi: -1}}
		}
		repl := map[int][]chunkMeta{}
		for _, sp := range sps {
			for _, p := range sp.parts {
				repl[sp.t.meta] = append(repl[sp.t.meta], chunkMeta{Lo: int64(p.Lo), Hi: int64(p.Hi), N: int64(len(p.Postings))})
			}
		}
		var metas []chunkMeta
		var n int64
		for i, m := range old {
			if r, ok := repl[i]; ok {
				metas = append(metas, r...)
			} else {
				metas = append(metas, m)
			}
		}
		for _, m := range metas {
			n += m.N
		}
		if w.cached != nil {
			// The head is rewritten or deleted: the journal keeps its value.
			oh := w.cached.head
			if w.cached.inline {
				oh.P = sps[0].t.old
			}
			un.Heads = append(un.Heads, oh)
		}
		if n == 0 {
			// No postings left: remove the head; its chunk documents, if
			// any, become garbage (a term that never existed has neither).
			if w.cached != nil {
				st.TermChunks += len(sps)
				tw.HeadDeletes = append(tw.HeadDeletes, w.key)
				tw.cache[w.key] = nil
				if !w.cached.inline {
					for _, m := range old {
						tw.Garbage = append(tw.Garbage, chunkID(w.key, uint64(m.Lo), uint64(m.Hi)))
					}
				}
			}
			continue
		}
		head := headDoc{ID: w.key, Index: w.index, Field: w.field, Term: w.term, N: n, Chunks: metas}
		ch := &cachedHead{head: head, used: s.cache.seq + 1}
		if w.cached != nil && !w.cached.inline {
			for i, m := range old {
				if b, ok := w.cached.blocks[m.Lo]; ok && repl[i] == nil {
					ch.blocks = setBlock(ch.blocks, m.Lo, b) // unchanged chunks keep their blocks
				}
			}
		}
		if len(metas) == 1 && (w.cached == nil || w.cached.inline) {
			// One chunk over the whole hash space: inline in the head.
			st.TermChunks++
			p := sps[0].parts[0]
			head.P = posting.Encode(nil, p.Postings)
			ch.inline = true
			ch.blocks = setBlock(nil, 0, head.P)
		} else {
			for _, sp := range sps {
				st.TermChunks += len(sp.parts)
				oldID := chunkID(w.key, sp.t.chunk.Lo, sp.t.chunk.Hi)
				for _, p := range sp.parts {
					id := chunkID(w.key, p.Lo, p.Hi)
					c := chunkDoc{ID: id, TK: w.key, Index: w.index, Lo: int64(p.Lo), Hi: int64(p.Hi),
						N: int64(len(p.Postings)), P: posting.Encode(nil, p.Postings)}
					ch.blocks = setBlock(ch.blocks, c.Lo, c.P)
					if len(sp.parts) == 1 && w.cached != nil && !w.cached.inline {
						// Rewritten in place: the journal keeps the old block.
						tw.Chunks = append(tw.Chunks, c)
						m := old[sp.t.meta]
						un.Chunks = append(un.Chunks, chunkDoc{ID: id, TK: w.key, Index: w.index, Lo: m.Lo, Hi: m.Hi, N: m.N, P: sp.t.old})
					} else {
						tw.NewChunks = append(tw.NewChunks, c)
						un.NewChunks = append(un.NewChunks, id)
					}
				}
				if len(sp.parts) > 1 && w.cached != nil && !w.cached.inline {
					tw.Garbage = append(tw.Garbage, oldID)
				}
			}
		}
		tw.cache[w.key] = ch
		if w.cached != nil {
			tw.Heads = append(tw.Heads, head)
		} else {
			tw.NewHeads = append(tw.NewHeads, head)
			un.NewHeads = append(un.NewHeads, w.key)
		}
	}
	return tw, un, nil
}

func setBlock(m map[int64][]byte, lo int64, b []byte) map[int64][]byte {
	if m == nil {
		m = map[int64][]byte{}
	}
	m[lo] = b
	return m
}

// termWrites are the term and chunk writes of one batch.
type termWrites struct {
	NewChunks   []chunkDoc // chunk ids that do not exist: inserted
	Chunks      []chunkDoc // existing chunks rewritten: deleted, then inserted
	NewHeads    []headDoc  // new terms: inserted
	Heads       []headDoc  // existing heads rewritten: deleted, then inserted
	HeadDeletes []string   // emptied terms
	Garbage     []string   // chunks no head lists any more: deleted after the checkpoint
	// cache holds the batch's new cache entries (nil: the term is gone),
	// installed once the checkpoint is written.
	cache map[string]*cachedHead
}

// writeTerms performs tw up to the garbage: chunks, then heads, so a reader
// following a head always finds its chunks. New documents are inserted
// without a delete (FerretDB's deletes scan the collection).
func (s *Store) writeTerms(ctx context.Context, tw *termWrites, st *ApplyStats) error {
	st.Chunks += len(tw.NewChunks) + len(tw.Chunks)
	if err := rewrite(ctx, s, s.chunks, tw.NewChunks, tw.Chunks, nil, func(c chunkDoc) string { return c.ID }, st); err != nil {
		return err
	}
	return rewrite(ctx, s, s.terms, tw.NewHeads, tw.Heads, tw.HeadDeletes, func(h headDoc) string { return h.ID }, st)
}

// rewrite makes collection c hold fresh (new ids), replaced (existing
// ids, with new values) and none of gone: one delete of the replaced and
// gone ids, then one unordered insert of everything.
func rewrite[T any](ctx context.Context, s *Store, c *mongo.Collection, fresh, replaced []T, gone []string, id func(T) string, st *ApplyStats) error {
	ids := slices.Clone(gone)
	all := make([]string, 0, len(fresh)+len(replaced))
	docs := make([]any, 0, len(fresh)+len(replaced))
	for _, d := range replaced {
		ids = append(ids, id(d))
		all, docs = append(all, id(d)), append(docs, d)
	}
	for _, d := range fresh {
		all, docs = append(all, id(d)), append(docs, d)
	}
	if err := s.deleteIDs(ctx, c, ids, st); err != nil {
		return err
	}
	return s.insertFresh(ctx, c, all, docs, st)
}

// statWrites are the new values of an index's statistics documents.
type statWrites struct {
	Indexes []indexStatDoc `bson:"indexes,omitempty"`
	Fields  []fieldStatDoc `bson:"fields,omitempty"`
}

type indexStatDoc struct {
	ID   string `bson:"_id"` // index
	Docs int64  `bson:"docs"`
}

type fieldStatDoc struct {
	ID    string `bson:"_id"` // index|field
	Index string `bson:"index"`
	Field string `bson:"field"`
	Docs  int64  `bson:"docs"`
	Len   int64  `bson:"len"`
}

// planStats reads the statistics the records change and computes their new
// values (final values: the journal can redo them).
func (s *Store) planStats(ctx context.Context, ev *dirtyterms.Event, un *undo, st *ApplyStats) (*statWrites, error) {
	docs := map[string]int64{}
	type fdelta struct {
		index, field string
		docs, length int64
	}
	fields := map[string]*fdelta{}
	for _, r := range ev.Records {
		docs[r.Index] += r.Count
		for _, f := range r.Fields {
			k := r.Index + "|" + f.Field
			d := fields[k]
			if d == nil {
				d = &fdelta{index: r.Index, field: f.Field}
				fields[k] = d
			}
			d.docs += f.Docs
			d.length += f.Length
		}
	}
	sw := &statWrites{}
	ids := slices.Sorted(maps.Keys(docs))
	cur := map[string]indexStatDoc{}
	st.Reads++
	if err := findIDs(ctx, s, s.indexStats, ids, func(d indexStatDoc) { cur[d.ID] = d }); err != nil {
		return nil, err
	}
	un.IndexIDs = ids
	for _, ix := range ids {
		if d, ok := cur[ix]; ok {
			un.IndexStats = append(un.IndexStats, d)
		}
		sw.Indexes = append(sw.Indexes, indexStatDoc{ID: ix, Docs: cur[ix].Docs + docs[ix]})
	}
	fids := slices.Sorted(maps.Keys(fields))
	fcur := map[string]fieldStatDoc{}
	if len(fids) > 0 {
		st.Reads++
		if err := findIDs(ctx, s, s.fieldStats, fids, func(d fieldStatDoc) { fcur[d.ID] = d }); err != nil {
			return nil, err
		}
	}
	un.FieldIDs = fids
	for _, k := range fids {
		if d, ok := fcur[k]; ok {
			un.FieldStats = append(un.FieldStats, d)
		}
		d := fields[k]
		sw.Fields = append(sw.Fields, fieldStatDoc{ID: k, Index: d.index, Field: d.field,
			Docs: fcur[k].Docs + d.docs, Len: fcur[k].Len + d.length})
	}
	return sw, nil
}

// writeStats sets the statistics documents.
func (s *Store) writeStats(ctx context.Context, sw *statWrites, st *ApplyStats) error {
	ids, docs := make([]string, len(sw.Indexes)), make([]any, len(sw.Indexes))
	for i, d := range sw.Indexes {
		ids[i], docs[i] = d.ID, d
	}
	if err := s.replace(ctx, s.indexStats, ids, docs, st); err != nil {
		return err
	}
	ids, docs = make([]string, len(sw.Fields)), make([]any, len(sw.Fields))
	for i, d := range sw.Fields {
		ids[i], docs[i] = d.ID, d
	}
	return s.replace(ctx, s.fieldStats, ids, docs, st)
}
