package mongostore

import (
	"context"
	"fmt"
	"sort"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The journal makes an event's term writes redoable. Apply writes the
// planned writes (termWrites) into the journal collection before it starts
// them, and removes them after the checkpoint covers the event. After a
// crash or a failed attempt, recover redoes a complete journal of an event
// the checkpoint does not cover yet, before anything is read again, so the
// replayed event reads the terms exactly as that event left them (its
// posting operations are set operations: applying them again changes
// nothing).
//
//	journal {_id: "<offset, 20 digits>/<part, 4 digits>", off, parts, w: termWrites}
//
// A journal spans several documents when its writes are large (each part
// stays far below MongoDB's 16 MiB document limit). It is complete when all
// its parts are present; an incomplete one was cut short before any term
// write started and is dropped.
type journalPart struct {
	ID    string     `bson:"_id"`
	Off   int64      `bson:"off"`
	Parts int        `bson:"parts"`
	W     termWrites `bson:"w"`
}

// journalPartBytes bounds the estimated size of one journal document.
const journalPartBytes = 4 << 20

func (s *Store) writeJournal(ctx context.Context, off int64, tw *termWrites, st *ApplyStats) error {
	var parts []*termWrites
	cur, size := &termWrites{}, 0
	next := func(n int) {
		if size+n > journalPartBytes && size > 0 {
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
		next(3*len(h.ID) + 48*len(h.Chunks) + 96)
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
	for _, id := range tw.TermChunkDeletes {
		next(len(id) + 16)
		cur.TermChunkDeletes = append(cur.TermChunkDeletes, id)
	}
	parts = append(parts, cur)
	docs := make([]any, len(parts))
	for i, p := range parts {
		docs[i] = journalPart{ID: fmt.Sprintf("%020d/%04d", off, i), Off: off, Parts: len(parts), W: *p}
	}
	s.clean = false
	if err := s.beforeWrite(); err != nil {
		return err
	}
	if _, err := s.journal.InsertMany(ctx, docs, options.InsertMany().SetOrdered(true)); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	st.Writes++
	return nil
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
		var tw termWrites
		for _, p := range ps {
			tw.ChunkIDs = append(tw.ChunkIDs, p.W.ChunkIDs...)
			tw.Chunks = append(tw.Chunks, p.W.Chunks...)
			tw.HeadIDs = append(tw.HeadIDs, p.W.HeadIDs...)
			tw.Heads = append(tw.Heads, p.W.Heads...)
			tw.HeadDeletes = append(tw.HeadDeletes, p.W.HeadDeletes...)
			tw.ChunkDeletes = append(tw.ChunkDeletes, p.W.ChunkDeletes...)
			tw.TermChunkDeletes = append(tw.TermChunkDeletes, p.W.TermChunkDeletes...)
		}
		var st ApplyStats
		if err := s.writeTerms(ctx, &tw, &st); err != nil {
			return cp, fmt.Errorf("redo journal of event %d: %w", off, err)
		}
		s.log.Info().Int64("offset", off).Int("chunks", len(tw.Chunks)).Int("terms", len(tw.Heads)+len(tw.HeadDeletes)).
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
	if _, err := s.journal.DeleteMany(ctx, bson.D{}); err != nil {
		return fmt.Errorf("clear journal: %w", err)
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
