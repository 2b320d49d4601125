package mongostore

import (
	"context"
	"errors"
	"fmt"
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
	Skipped    bool // the whole event was applied before
	Records    int  // records applied (after dropping the ones applied before)
	Duplicates int  // records dropped as applied before
	Terms      int  // terms changed
	Chunks     int  // chunk documents written or deleted
	Writes     int  // write operations sent (bulk-write models)
	Reads      int  // find queries sent
}

// Apply makes MongoDB reflect event ev, read at dirty-terms offset off, and
// advances cp. Every write is idempotent and ordered so that a crash at any
// point followed by a replay of the same events (from the last checkpoint)
// ends in the same state as a run without the crash:
//
//   - records at or below the checkpointed source offset of their partition
//     are dropped (they were applied from an earlier event);
//   - documents and posting chunks are set, not incremented;
//   - chunks are written before the term heads that list them, and chunks
//     replaced by a split are deleted after, so a reader following a head
//     always finds its chunks;
//   - statistics are incremented only on documents whose off is below the
//     event's offset, and stamped with it in the same update;
//   - the checkpoint is written last.
func (s *Store) Apply(ctx context.Context, off int64, ev *dirtyterms.Event, cp *Checkpoint) (ApplyStats, error) {
	var st ApplyStats
	if !s.clean {
		// A crash or a failed attempt may have left an event's term writes
		// half done: finish them before reading anything.
		stored, err := s.recover(ctx)
		if err != nil {
			return st, err
		}
		if stored.Offset > cp.Offset {
			*cp = stored // an earlier attempt got as far as the checkpoint
		}
	}
	if off <= cp.Offset {
		st.Skipped = true
		return st, nil
	}
	applied := cp.Applied(ev.Topic, ev.Partition)
	keep := make([]bool, len(ev.Records))
	for i, r := range ev.Records {
		keep[i] = r.Offset > applied
		if keep[i] {
			st.Records++
		} else {
			st.Duplicates++
		}
	}
	if st.Records > 0 {
		if err := s.applyDocuments(ctx, ev, keep, &st); err != nil {
			return st, err
		}
		if err := s.applyTerms(ctx, off, ev, keep, &st); err != nil {
			return st, err
		}
		if err := s.applyStats(ctx, off, ev, keep, &st); err != nil {
			return st, err
		}
	}
	next := Checkpoint{Offset: off, Sources: slices.Clone(cp.Sources)}
	next.advance(ev.Topic, ev.Partition, ev.LastOffset)
	if err := s.beforeWrite(); err != nil {
		return st, err
	}
	_, err := s.checkpoints.ReplaceOne(ctx, bson.D{{Key: "_id", Value: checkpointID}},
		bson.D{{Key: "_id", Value: checkpointID}, {Key: "offset", Value: next.Offset}, {Key: "sources", Value: next.Sources}},
		options.Replace().SetUpsert(true))
	if err != nil {
		return st, fmt.Errorf("write checkpoint: %w", err)
	}
	st.Writes++
	*cp = next
	if !s.clean {
		// The checkpoint covers the journal now; a failure to remove it is
		// repaired by the next recover.
		if err := s.clearJournal(ctx); err != nil {
			s.log.Warn().Err(err).Int64("offset", off).Msg("journal not cleared")
		} else {
			st.Writes++
			s.clean = true
		}
	}
	return st, nil
}

func (s *Store) applyDocuments(ctx context.Context, ev *dirtyterms.Event, keep []bool, st *ApplyStats) error {
	// The last kept record of each document wins.
	last := map[string]int{}
	for i, r := range ev.Records {
		if keep[i] {
			last[r.Index+"/"+r.ID] = i
		}
	}
	keys := make([]string, 0, len(last))
	for k := range last {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var docs []any
	for _, k := range keys {
		r := ev.Records[last[k]]
		if !r.Deleted {
			docs = append(docs, storedDoc{ID: k, Index: r.Index, DocID: r.ID, Source: string(r.Source), Offset: r.Offset})
		}
	}
	return s.replace(ctx, s.docs, keys, docs, st)
}

// replace makes the documents with ids be exactly docs (a subset of ids;
// the others are deleted): one delete of every id, then one unordered
// insert. FerretDB's SQLite backend pushes down only single-_id filters, so
// one upsert per document costs a table scan each, while this costs one
// scan and one bulk insert. A crash between the two leaves the ids missing;
// the persister then replays the event from its checkpoint, which writes
// them again.
func (s *Store) replace(ctx context.Context, c *mongo.Collection, ids []string, docs []any, st *ApplyStats) error {
	const step = 1000
	for rest := ids; len(rest) > 0; {
		n := min(step, len(rest))
		if err := s.beforeWrite(); err != nil {
			return err
		}
		if _, err := c.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: rest[:n]}}}}); err != nil {
			return fmt.Errorf("delete %s: %w", c.Name(), err)
		}
		st.Writes++
		rest = rest[n:]
	}
	for len(docs) > 0 {
		n := min(step, len(docs))
		if err := s.beforeWrite(); err != nil {
			return err
		}
		if _, err := c.InsertMany(ctx, docs[:n], options.InsertMany().SetOrdered(false)); err != nil {
			return fmt.Errorf("insert %s: %w", c.Name(), err)
		}
		st.Writes++
		docs = docs[n:]
	}
	return nil
}

// bulk sends models unordered (they touch distinct documents).
func (s *Store) bulk(ctx context.Context, c *mongo.Collection, models []mongo.WriteModel, st *ApplyStats) error {
	const step = 1000
	for len(models) > 0 {
		n := min(step, len(models))
		if err := s.beforeWrite(); err != nil {
			return err
		}
		if _, err := c.BulkWrite(ctx, models[:n], options.BulkWrite().SetOrdered(false)); err != nil {
			return fmt.Errorf("bulk write %s: %w", c.Name(), err)
		}
		st.Writes += n
		models = models[n:]
	}
	return nil
}

type termWork struct {
	key          string
	index, field string
	term         string
	ops          []posting.Op
	head         *headDoc
}

func (s *Store) applyTerms(ctx context.Context, off int64, ev *dirtyterms.Event, keep []bool, st *ApplyStats) error {
	work := make([]*termWork, 0, len(ev.Terms))
	byKey := map[string]*termWork{}
	for _, t := range ev.Terms {
		var ops []posting.Op
		for _, op := range t.Ops {
			if keep[op.Rec] {
				ops = append(ops, posting.Op{Doc: ev.Records[op.Rec].ID, TF: op.TF, Length: op.Length})
			}
		}
		if len(ops) == 0 {
			continue
		}
		key := TermKey(t.Index, t.Field, t.Term)
		if w := byKey[key]; w != nil {
			w.ops = append(w.ops, ops...)
			continue
		}
		w := &termWork{key: key, index: t.Index, field: t.Field, term: t.Term, ops: ops}
		byKey[key] = w
		work = append(work, w)
	}
	if len(work) == 0 {
		return nil
	}
	keys := make([]string, len(work))
	for i, w := range work {
		keys[i] = w.key
	}
	st.Reads++
	if err := findByIDs(ctx, s.terms, keys, func(h headDoc) {
		if w := byKey[h.ID]; w != nil {
			w.head = &h
		}
	}); err != nil {
		return err
	}

	// Which chunks each term's ops touch; load them.
	type target struct {
		w     *termWork
		meta  int // index in head.Chunks
		chunk posting.Chunk
		ops   []posting.Op
	}
	var targets []*target
	var chunkIDs []string
	byChunk := map[string]*target{}
	for _, w := range work {
		if w.head == nil {
			// A new term: one chunk over the whole hash space. Whatever a
			// crashed earlier attempt left under that id is not trusted.
			w.head = &headDoc{ID: w.key, Index: w.index, Field: w.field, Term: w.term,
				Chunks: []chunkMeta{{Lo: 0, Hi: int64(-1)}}}
			t := &target{w: w, meta: 0, chunk: posting.Chunk{Lo: 0, Hi: math.MaxUint64}, ops: w.ops}
			targets = append(targets, t)
			continue
		}
		local := map[int]*target{}
		for _, op := range w.ops {
			h := posting.Hash(op.Doc)
			i := sort.Search(len(w.head.Chunks), func(i int) bool { return uint64(w.head.Chunks[i].Hi) >= h })
			if i == len(w.head.Chunks) {
				return fmt.Errorf("term %q: chunks do not cover hash %x", w.key, h)
			}
			t := local[i]
			if t == nil {
				m := w.head.Chunks[i]
				t = &target{w: w, meta: i, chunk: posting.Chunk{Lo: uint64(m.Lo), Hi: uint64(m.Hi)}}
				local[i] = t
				targets = append(targets, t)
				id := chunkID(w.key, uint64(m.Lo), uint64(m.Hi))
				byChunk[id] = t
				chunkIDs = append(chunkIDs, id)
			}
			t.ops = append(t.ops, op)
		}
	}
	if len(chunkIDs) > 0 {
		st.Reads++
		var decodeErr error
		if err := findByIDs(ctx, s.chunks, chunkIDs, func(c chunkDoc) {
			t := byChunk[c.ID]
			if t == nil {
				return
			}
			ps, err := posting.Decode(nil, c.P)
			if err != nil && decodeErr == nil {
				decodeErr = fmt.Errorf("chunk %q: %w", c.ID, err)
			}
			t.chunk.Postings = ps
		}); err != nil {
			return err
		}
		if decodeErr != nil {
			return decodeErr
		}
	}

	// Apply and split; gather the writes.
	var tw termWrites
	newMeta := map[*termWork]map[int][]chunkMeta{}
	for _, t := range targets {
		if !t.chunk.Apply(t.ops) && t.w.head.N > 0 {
			continue
		}
		parts := posting.Split(t.chunk, s.maxChunk)
		metas := make([]chunkMeta, len(parts))
		for i, p := range parts {
			metas[i] = chunkMeta{Lo: int64(p.Lo), Hi: int64(p.Hi), N: int64(len(p.Postings))}
			id := chunkID(t.w.key, p.Lo, p.Hi)
			tw.ChunkIDs = append(tw.ChunkIDs, id)
			tw.Chunks = append(tw.Chunks, chunkDoc{ID: id, TK: t.w.key, Index: t.w.index, Lo: int64(p.Lo), Hi: int64(p.Hi),
				N: int64(len(p.Postings)), P: posting.Encode(nil, p.Postings)})
		}
		if len(parts) > 1 {
			tw.ChunkDeletes = append(tw.ChunkDeletes, chunkID(t.w.key, t.chunk.Lo, t.chunk.Hi))
		}
		if newMeta[t.w] == nil {
			newMeta[t.w] = map[int][]chunkMeta{}
		}
		newMeta[t.w][t.meta] = metas
	}
	for _, w := range work {
		repl := newMeta[w]
		if repl == nil {
			continue
		}
		st.Terms++
		var metas []chunkMeta
		var n int64
		for i, m := range w.head.Chunks {
			if r, ok := repl[i]; ok {
				metas = append(metas, r...)
			} else {
				metas = append(metas, m)
			}
		}
		for _, m := range metas {
			n += m.N
		}
		if n == 0 {
			// The term has no postings left: remove it and every chunk it had.
			tw.HeadDeletes = append(tw.HeadDeletes, w.key)
			tw.TermChunkDeletes = append(tw.TermChunkDeletes, w.key)
			continue
		}
		tw.HeadIDs = append(tw.HeadIDs, w.key)
		tw.Heads = append(tw.Heads, headDoc{ID: w.key, Index: w.index, Field: w.field, Term: w.term, N: n, Chunks: metas})
	}
	if tw.empty() {
		return nil
	}
	// The writes below are not atomic, and a replay after a crash among
	// them would read a half-written term (a head deleted but not yet
	// inserted reads as a new term). So they are journaled first and, after
	// a crash or a failed attempt, redone from the journal before anything
	// is read again (see recover).
	if err := s.writeJournal(ctx, off, &tw, st); err != nil {
		return err
	}
	return s.writeTerms(ctx, &tw, st)
}

// termWrites are the term and chunk writes of one event, in the order
// writeTerms performs them. Every step sets documents to a final value, so
// redoing all of them after a partial run ends in the same state.
type termWrites struct {
	ChunkIDs         []string   `bson:"chunkIDs,omitempty"` // chunks replaced by Chunks
	Chunks           []chunkDoc `bson:"chunks,omitempty"`
	HeadIDs          []string   `bson:"headIDs,omitempty"` // heads replaced by Heads
	Heads            []headDoc  `bson:"heads,omitempty"`
	HeadDeletes      []string   `bson:"headDeletes,omitempty"`      // emptied terms
	ChunkDeletes     []string   `bson:"chunkDeletes,omitempty"`     // chunks replaced by a split
	TermChunkDeletes []string   `bson:"termChunkDeletes,omitempty"` // every chunk of an emptied term
}

func (tw *termWrites) empty() bool {
	return len(tw.ChunkIDs) == 0 && len(tw.HeadIDs) == 0 && len(tw.HeadDeletes) == 0
}

// writeTerms performs tw: chunks, then heads, then deletions, so a reader
// following a head always finds its chunks.
func (s *Store) writeTerms(ctx context.Context, tw *termWrites, st *ApplyStats) error {
	chunks := make([]any, len(tw.Chunks))
	for i := range tw.Chunks {
		chunks[i] = tw.Chunks[i]
	}
	heads := make([]any, len(tw.Heads))
	for i := range tw.Heads {
		heads[i] = tw.Heads[i]
	}
	st.Chunks += len(chunks)
	if err := s.replace(ctx, s.chunks, tw.ChunkIDs, chunks, st); err != nil {
		return err
	}
	if err := s.replace(ctx, s.terms, tw.HeadIDs, heads, st); err != nil {
		return err
	}
	// Heads of emptied terms go before their chunks, so no head ever lists
	// a missing chunk.
	var headDeletes, chunkDeletes []mongo.WriteModel
	for _, id := range tw.HeadDeletes {
		headDeletes = append(headDeletes, mongo.NewDeleteOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}))
	}
	for _, id := range tw.ChunkDeletes {
		chunkDeletes = append(chunkDeletes, mongo.NewDeleteOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}))
	}
	for _, tk := range tw.TermChunkDeletes {
		chunkDeletes = append(chunkDeletes, mongo.NewDeleteManyModel().SetFilter(bson.D{{Key: "tk", Value: tk}}))
	}
	st.Chunks += len(chunkDeletes)
	if err := s.bulk(ctx, s.terms, headDeletes, st); err != nil {
		return err
	}
	return s.bulk(ctx, s.chunks, chunkDeletes, st)
}

func (s *Store) applyStats(ctx context.Context, off int64, ev *dirtyterms.Event, keep []bool, st *ApplyStats) error {
	type fkey struct{ index, field string }
	docs := map[string]int64{}
	fields := map[fkey][2]int64{}
	for i, r := range ev.Records {
		if !keep[i] {
			continue
		}
		docs[r.Index] += r.Count
		for _, f := range r.Fields {
			k := fkey{r.Index, f.Field}
			v := fields[k]
			fields[k] = [2]int64{v[0] + f.Docs, v[1] + f.Length}
		}
	}
	guard := func(id string) bson.D {
		return bson.D{{Key: "_id", Value: id}, {Key: "off", Value: bson.D{{Key: "$lt", Value: off}}}}
	}
	var im, fm []mongo.WriteModel
	indexes := make([]string, 0, len(docs))
	for ix := range docs {
		indexes = append(indexes, ix)
	}
	sort.Strings(indexes)
	for _, ix := range indexes {
		im = append(im, mongo.NewUpdateOneModel().SetFilter(guard(ix)).SetUpsert(true).SetUpdate(bson.D{
			{Key: "$inc", Value: bson.D{{Key: "docs", Value: docs[ix]}}},
			{Key: "$set", Value: bson.D{{Key: "off", Value: off}}},
		}))
	}
	fks := make([]fkey, 0, len(fields))
	for k := range fields {
		fks = append(fks, k)
	}
	sort.Slice(fks, func(i, j int) bool {
		if fks[i].index != fks[j].index {
			return fks[i].index < fks[j].index
		}
		return fks[i].field < fks[j].field
	})
	for _, k := range fks {
		v := fields[k]
		fm = append(fm, mongo.NewUpdateOneModel().SetFilter(guard(k.index+"|"+k.field)).SetUpsert(true).SetUpdate(bson.D{
			{Key: "$inc", Value: bson.D{{Key: "docs", Value: v[0]}, {Key: "len", Value: v[1]}}},
			{Key: "$set", Value: bson.D{{Key: "off", Value: off}, {Key: "index", Value: k.index}, {Key: "field", Value: k.field}}},
		}))
	}
	if err := s.guardedBulk(ctx, s.indexStats, im, st); err != nil {
		return err
	}
	return s.guardedBulk(ctx, s.fieldStats, fm, st)
}

// guardedBulk sends upserts whose filter includes an offset guard: on a
// document already stamped with this event's offset the filter misses, the
// upsert tries an insert of the same _id and fails with a duplicate key,
// which means "applied before" and is not an error.
func (s *Store) guardedBulk(ctx context.Context, c *mongo.Collection, models []mongo.WriteModel, st *ApplyStats) error {
	if len(models) == 0 {
		return nil
	}
	if err := s.beforeWrite(); err != nil {
		return err
	}
	_, err := c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
	st.Writes += len(models)
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && bwe.WriteConcernError == nil {
		for _, we := range bwe.WriteErrors {
			if !mongo.IsDuplicateKeyError(we) {
				return fmt.Errorf("bulk write %s: %w", c.Name(), err)
			}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("bulk write %s: %w", c.Name(), err)
	}
	return nil
}
