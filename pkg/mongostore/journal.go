package mongostore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The journal makes a structural batch's splits and removals atomic: the
// writes of the terms it splits into new chunks or removes (the ids it
// writes depend on its boundaries, and a replay could not find what to
// delete; every other write needs no journal, see ApplyBatch). ApplyBatch
// writes those terms' planned values (termWrites) into the journal
// collection before it starts writing the batch, and removes the journal
// after the batch's checkpoint is written. After a crash or a failed
// attempt, recover redoes a complete journal of a batch the stored
// checkpoint does not cover yet, before anything is read again; the batch
// is then replayed from the checkpoint, and finds those terms already in
// their new state. Redoing is safe because every journaled write sets a
// final value.
//
//	journal {_id: "<offset, 20 digits>/<part, 4 digits>", off, parts, w: termWrites}
//
// A journal spans several documents when its writes are large (each part
// stays far below MongoDB's 16 MiB document limit). It is complete when all
// its parts are present; an incomplete one was cut short before any of its
// writes started and is dropped. (Journals written by earlier versions also
// hold the batch's statistics and checkpoint, in part 0, and every term it
// wrote; recover redoes those whole, checkpoint included.)
type journal struct {
	Off        int64
	W          *termWrites
	Stats      *statWrites // only in journals of older versions
	Checkpoint *Checkpoint // only in journals of older versions
}

type journalPart struct {
	ID         string      `bson:"_id"`
	Off        int64       `bson:"off"`
	Parts      int         `bson:"parts"`
	W          termWrites  `bson:"w"`
	Stats      *statWrites `bson:"stats,omitempty"`
	Checkpoint *Checkpoint `bson:"cp,omitempty"`
}

// journalPartBytes bounds the estimated size of one journal document (tests
// lower Store.journalPartMax to split small journals).
const journalPartBytes = 4 << 20

func (s *Store) writeJournal(ctx context.Context, j *journal, st *ApplyStats) error {
	defer func(start time.Time) { st.Write += time.Since(start) }(time.Now())
	tw := j.W
	var parts []*termWrites
	cur, size := &termWrites{}, 0
	next := func(n int) {
		if size+n > s.journalPartMax && size > 0 {
			parts = append(parts, cur)
			cur, size = &termWrites{}, 0
		}
		size += n
	}
	for i, c := range tw.Chunks {
		next(len(c.P) + 2*len(c.ID) + 2*len(c.TK) + 96)
		cur.ChunkIDs = append(cur.ChunkIDs, tw.ChunkIDs[i])
		cur.Chunks = append(cur.Chunks, c)
	}
	for i, h := range tw.Heads {
		next(3*len(h.ID) + 48*len(h.Chunks) + len(h.P) + 96)
		cur.HeadIDs = append(cur.HeadIDs, tw.HeadIDs[i])
		cur.Heads = append(cur.Heads, h)
	}
	for _, id := range tw.HeadDeletes {
		next(len(id) + 16)
		cur.HeadDeletes = append(cur.HeadDeletes, id)
	}
	for _, id := range tw.ChunkDeletes {
		next(len(id) + 16)
		cur.ChunkDeletes = append(cur.ChunkDeletes, id)
	}
	parts = append(parts, cur)
	docs := make([]any, len(parts))
	for i, p := range parts {
		docs[i] = journalPart{ID: fmt.Sprintf("%020d/%04d", j.Off, i), Off: j.Off, Parts: len(parts), W: *p}
	}
	s.clean = false
	if err := s.beforeWrite(); err != nil {
		return err
	}
	if err := s.insertMany(ctx, s.journal, docs); err != nil {
		return err
	}
	st.Writes++
	return nil
}

// redo performs a journal's writes: terms, and the statistics and
// checkpoint of a journal of an older version.
func (s *Store) redo(ctx context.Context, j *journal, st *ApplyStats) error {
	if err := s.writeTerms(ctx, j.W, st); err != nil {
		return err
	}
	if j.Checkpoint == nil {
		return nil
	}
	if j.Stats != nil {
		if err := s.writeStats(ctx, j.Stats, st); err != nil {
			return err
		}
	}
	return s.writeCheckpoint(ctx, *j.Checkpoint, st)
}

// recover brings the term collections to a consistent state: it redoes the
// complete journal of an event the stored checkpoint does not cover and
// removes every journal. It returns the stored checkpoint.
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
	if len(parts) == 0 {
		s.clean = true
		return cp, nil
	}
	byOff := map[int64][]journalPart{}
	for _, p := range parts {
		byOff[p.Off] = append(byOff[p.Off], p)
	}
	for off, ps := range byOff {
		if off <= cp.Offset || len(ps) != ps[0].Parts {
			continue // covered by the checkpoint, or cut short before any write
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
		j := &journal{Off: off, W: &termWrites{}}
		for _, p := range ps {
			if p.Checkpoint != nil {
				j.Stats, j.Checkpoint = p.Stats, p.Checkpoint
			}
			w := j.W
			w.ChunkIDs = append(w.ChunkIDs, p.W.ChunkIDs...)
			w.Chunks = append(w.Chunks, p.W.Chunks...)
			w.HeadIDs = append(w.HeadIDs, p.W.HeadIDs...)
			w.Heads = append(w.Heads, p.W.Heads...)
			w.HeadDeletes = append(w.HeadDeletes, p.W.HeadDeletes...)
			w.ChunkDeletes = append(w.ChunkDeletes, p.W.ChunkDeletes...)
		}
		if j.Checkpoint != nil && j.Checkpoint.Offset != off {
			return cp, fmt.Errorf("journal of batch %d: its checkpoint is of batch %d", off, j.Checkpoint.Offset)
		}
		var st ApplyStats
		if err := s.redo(ctx, j, &st); err != nil {
			return cp, fmt.Errorf("redo journal of batch %d: %w", off, err)
		}
		if j.Checkpoint != nil {
			cp = *j.Checkpoint
		}
		s.log.Info().Int64("offset", off).Int("chunks", len(j.W.Chunks)).Int("terms", len(j.W.Heads)+len(j.W.HeadDeletes)).
			Msg("journal redone")
	}
	if err := s.clearJournal(ctx); err != nil {
		return cp, err
	}
	s.clean = true
	return cp, nil
}

func (s *Store) clearJournal(ctx context.Context) error {
	if err := s.beforeWrite(); err != nil {
		return err
	}
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
	// The documents of a batch are written while its terms are read.
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	if err != nil {
		docs = 0
	}
	s.commandHook(Command{Collection: coll, Kind: kind, Docs: docs})
}

// insertMany sends one ordered insert command (the journal's parts).
// Every write of the apply path goes
// through insertMany, insertRaw, replaceRaw, deleteMany or writeCheckpoint,
// which run the write hook first and report the command after.
func (s *Store) insertMany(ctx context.Context, c *mongo.Collection, docs []any) error {
	if err := s.beforeWrite(); err != nil {
		return err
	}
	res, err := c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(true))
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
		s.hookMu.Lock()
		defer s.hookMu.Unlock()
		return s.writeHook()
	}
	return nil
}
