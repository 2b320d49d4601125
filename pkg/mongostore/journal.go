package mongostore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The journal makes a batch's writes undoable. FerretDB has no
// transactions, and a document rewritten in place is deleted and inserted
// again, so a crash in the middle of a batch can leave it half applied with
// earlier values lost. Before its first write, ApplyBatch stores in the
// journal collection what undoes the batch: the ids of the heads and chunks
// it creates and the values before the batch of those it rewrites or
// deletes, and of the statistics it sets. New documents, the bulk of a
// load, cost only their ids. After the checkpoint, the journal is removed
// (with the chunks no head lists any more: garbage).
//
// recover, run before anything is read after a crash or a failed attempt:
//   - a journal of a batch the stored checkpoint covers: deletes its garbage
//     and removes it;
//   - a complete journal of a batch it does not cover: deletes the ids the
//     batch created and puts the old values back, and the batch is
//     replayed; documents are then replaced (not inserted blindly) until the
//     checkpoint passes that batch (the docs-unsafe marker);
//   - an incomplete journal was cut short before any other write: dropped.
//
// Undoing is safe to repeat: each step deletes ids and inserts old values.
//
//	journal {_id: "<offset, 20 digits>/<part, 4 digits>", off, parts, u: undo, garbage}
//	journal {_id: "docs-unsafe", off}
//
// A journal spans several documents when it is large (each part stays far
// below MongoDB's 16 MiB document limit); the statistics are in part 0.
type journal struct {
	Off     int64
	Undo    *undo
	Garbage []string
}

// undo is what puts the term and statistics collections back as they were
// before a batch.
type undo struct {
	NewHeads   []string       `bson:"newHeads,omitempty"`  // heads the batch creates
	NewChunks  []string       `bson:"newChunks,omitempty"` // chunks the batch creates
	Heads      []headDoc      `bson:"heads,omitempty"`     // heads it rewrites or deletes, as they were
	Chunks     []chunkDoc     `bson:"chunks,omitempty"`    // chunks it rewrites, as they were
	IndexIDs   []string       `bson:"indexIDs,omitempty"`  // statistics it sets
	IndexStats []indexStatDoc `bson:"indexStats,omitempty"`
	FieldIDs   []string       `bson:"fieldIDs,omitempty"`
	FieldStats []fieldStatDoc `bson:"fieldStats,omitempty"`
}

type journalPart struct {
	ID      string   `bson:"_id"`
	Off     int64    `bson:"off"`
	Parts   int      `bson:"parts"`
	U       undo     `bson:"u"`
	Garbage []string `bson:"garbage,omitempty"`
}

// docsUnsafeID is the journal document that marks, after an undo, the
// checkpoint below which documents are replaced rather than inserted.
const docsUnsafeID = "docs-unsafe"

// journalPartBytes bounds the estimated size of one journal document (tests
// lower Store.journalPartMax to split small journals).
const journalPartBytes = 4 << 20

func (s *Store) writeJournal(ctx context.Context, j *journal, st *ApplyStats) error {
	u := j.Undo
	first := journalPart{U: undo{IndexIDs: u.IndexIDs, IndexStats: u.IndexStats, FieldIDs: u.FieldIDs, FieldStats: u.FieldStats}}
	parts := []*journalPart{&first}
	cur, size := &first, 0
	next := func(n int) *journalPart {
		if size+n > s.journalPartMax && size > 0 {
			cur, size = &journalPart{}, 0
			parts = append(parts, cur)
		}
		size += n
		return cur
	}
	for _, id := range u.NewHeads {
		p := next(len(id) + 16)
		p.U.NewHeads = append(p.U.NewHeads, id)
	}
	for _, id := range u.NewChunks {
		p := next(len(id) + 16)
		p.U.NewChunks = append(p.U.NewChunks, id)
	}
	for _, h := range u.Heads {
		p := next(3*len(h.ID) + 48*len(h.Chunks) + len(h.P) + 96)
		p.U.Heads = append(p.U.Heads, h)
	}
	for _, c := range u.Chunks {
		p := next(len(c.P) + 2*len(c.ID) + 96)
		p.U.Chunks = append(p.U.Chunks, c)
	}
	for _, id := range j.Garbage {
		p := next(len(id) + 16)
		p.Garbage = append(p.Garbage, id)
	}
	docs := make([]any, len(parts))
	for i, p := range parts {
		p.ID, p.Off, p.Parts = fmt.Sprintf("%020d/%04d", j.Off, i), j.Off, len(parts)
		docs[i] = p
	}
	s.clean = false
	if err := s.insertMany(ctx, s.journal, docs, true); err != nil {
		return err
	}
	st.Writes++
	return nil
}

// finish completes a batch the checkpoint covers: its garbage is deleted
// and its journal removed (the docs-unsafe marker too once passed).
func (s *Store) finish(ctx context.Context, j *journal, cp int64, st *ApplyStats) error {
	if err := s.deleteIDs(ctx, s.chunks, j.Garbage, st); err != nil {
		return err
	}
	if cp >= s.docsUnsafe {
		s.docsUnsafe = -1
		return s.clearJournal(ctx)
	}
	return s.deleteMany(ctx, s.journal, bson.D{{Key: "off", Value: j.Off}, {Key: "parts", Value: bson.D{{Key: "$gt", Value: 0}}}})
}

// undoJournal puts back what a batch's journal says it overwrote.
func (s *Store) undoJournal(ctx context.Context, u *undo) error {
	var st ApplyStats
	ids := slices.Clone(u.NewHeads)
	docs := make([]any, 0, len(u.Heads))
	for _, h := range u.Heads {
		ids, docs = append(ids, h.ID), append(docs, h)
	}
	if err := s.replace(ctx, s.terms, ids, docs, &st); err != nil {
		return err
	}
	ids = slices.Clone(u.NewChunks)
	docs = make([]any, 0, len(u.Chunks))
	for _, c := range u.Chunks {
		ids, docs = append(ids, c.ID), append(docs, c)
	}
	if err := s.replace(ctx, s.chunks, ids, docs, &st); err != nil {
		return err
	}
	docs = make([]any, 0, len(u.IndexStats))
	for _, d := range u.IndexStats {
		docs = append(docs, d)
	}
	if err := s.replace(ctx, s.indexStats, u.IndexIDs, docs, &st); err != nil {
		return err
	}
	docs = make([]any, 0, len(u.FieldStats))
	for _, d := range u.FieldStats {
		docs = append(docs, d)
	}
	return s.replace(ctx, s.fieldStats, u.FieldIDs, docs, &st)
}

// recover brings the collections back to the stored checkpoint's state (see
// the journal above) and removes every journal. It returns the stored
// checkpoint.
func (s *Store) recover(ctx context.Context) (Checkpoint, error) {
	cp, err := s.LoadCheckpoint(ctx)
	if err != nil {
		return cp, err
	}
	cur, err := s.journal.Find(ctx, bson.D{})
	s.sent(CollJournal, "find", err, 0)
	if err != nil {
		return cp, fmt.Errorf("read journal: %w", err)
	}
	var parts []journalPart
	if err := cur.All(ctx, &parts); err != nil {
		return cp, fmt.Errorf("read journal: %w", err)
	}
	s.docsUnsafe = -1
	byOff := map[int64][]journalPart{}
	for _, p := range parts {
		if p.ID == docsUnsafeID {
			s.docsUnsafe = max(s.docsUnsafe, p.Off)
			continue
		}
		byOff[p.Off] = append(byOff[p.Off], p)
	}
	var st ApplyStats
	for _, off := range slices.Sorted(maps.Keys(byOff)) {
		ps := byOff[off]
		if len(ps) != ps[0].Parts {
			continue // cut short before any other write
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
		u, garbage := &undo{}, []string(nil)
		for _, p := range ps {
			u.NewHeads = append(u.NewHeads, p.U.NewHeads...)
			u.NewChunks = append(u.NewChunks, p.U.NewChunks...)
			u.Heads = append(u.Heads, p.U.Heads...)
			u.Chunks = append(u.Chunks, p.U.Chunks...)
			u.IndexIDs = append(u.IndexIDs, p.U.IndexIDs...)
			u.IndexStats = append(u.IndexStats, p.U.IndexStats...)
			u.FieldIDs = append(u.FieldIDs, p.U.FieldIDs...)
			u.FieldStats = append(u.FieldStats, p.U.FieldStats...)
			garbage = append(garbage, p.Garbage...)
		}
		if off <= cp.Offset {
			// Done but not finished: delete its garbage.
			if err := s.deleteIDs(ctx, s.chunks, garbage, &st); err != nil {
				return cp, fmt.Errorf("finish batch %d: %w", off, err)
			}
			continue
		}
		// Documents of the batch may be written: mark them before the
		// journal goes.
		if off > s.docsUnsafe {
			if err := s.deleteIDs(ctx, s.journal, []string{docsUnsafeID}, &st); err != nil {
				return cp, err
			}
			if err := s.insertMany(ctx, s.journal, []any{journalPart{ID: docsUnsafeID, Off: off}}, true); err != nil {
				return cp, err
			}
			s.docsUnsafe = off
		}
		if err := s.undoJournal(ctx, u); err != nil {
			return cp, fmt.Errorf("undo batch %d: %w", off, err)
		}
		s.log.Info().Int64("offset", off).Int("terms", len(u.NewHeads)+len(u.Heads)).Msg("batch undone")
	}
	if cp.Offset >= s.docsUnsafe {
		s.docsUnsafe = -1
		if err := s.clearJournal(ctx); err != nil {
			return cp, err
		}
	} else if err := s.deleteMany(ctx, s.journal, bson.D{{Key: "_id", Value: bson.D{{Key: "$ne", Value: docsUnsafeID}}}}); err != nil {
		return cp, err
	}
	s.clean = true
	return cp, nil
}

func (s *Store) clearJournal(ctx context.Context) error {
	return s.deleteMany(ctx, s.journal, bson.D{})
}

// Command is one MongoDB command the store sent while applying: the
// collection, the kind of command (insert, delete, update, find) and the
// documents it inserted, deleted or updated.
type Command struct {
	Collection string
	Kind       string
	Docs       int
}

// SetCommandHook installs fn to run after every command ApplyBatch and
// LoadCheckpoint send, reads included, whether it failed or not (the
// persister counts them). Not safe to call while Apply runs.
func (s *Store) SetCommandHook(fn func(Command)) { s.commandHook = fn }

// sent reports a command to the hook; docs counts only if it succeeded.
func (s *Store) sent(coll, kind string, err error, docs int) {
	if s.commandHook == nil {
		return
	}
	if err != nil {
		docs = 0
	}
	s.commandHook(Command{Collection: coll, Kind: kind, Docs: docs})
}

// insertMany sends one insert command. Every write of the apply path goes
// through insertMany, deleteMany or writeCheckpoint, which run the write
// hook first and report the command after.
func (s *Store) insertMany(ctx context.Context, c *mongo.Collection, docs []any, ordered bool) error {
	if err := s.beforeWrite(); err != nil {
		return err
	}
	res, err := c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(ordered))
	n := 0
	var bwe mongo.BulkWriteException
	switch {
	case err == nil:
		n = len(docs)
	case errors.As(err, &bwe) && res != nil:
		n = len(res.InsertedIDs) - len(bwe.WriteErrors) // per-document failures
	}
	s.sent(c.Name(), "insert", nil, n)
	if err != nil {
		return fmt.Errorf("insert %s: %w", c.Name(), err)
	}
	return nil
}

// deleteMany sends one delete command.
func (s *Store) deleteMany(ctx context.Context, c *mongo.Collection, filter bson.D) error {
	if err := s.beforeWrite(); err != nil {
		return err
	}
	res, err := c.DeleteMany(ctx, filter)
	n := 0
	if res != nil {
		n = int(res.DeletedCount)
	}
	s.sent(c.Name(), "delete", nil, n)
	if err != nil {
		return fmt.Errorf("delete %s: %w", c.Name(), err)
	}
	return nil
}

// SetWriteHook installs fn to run before every write Apply sends; an error
// from fn fails the write. Fault tests use it to crash a persister between
// any two MongoDB writes. Not safe to call while Apply runs.
func (s *Store) SetWriteHook(fn func() error) { s.writeHook = fn }

// beforeWrite runs the test hook, if any, before each write to MongoDB.
func (s *Store) beforeWrite() error {
	if s.writeHook != nil {
		return s.writeHook()
	}
	return nil
}
