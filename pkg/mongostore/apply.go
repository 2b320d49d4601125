package mongostore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

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
	Journaled  bool // the batch split or removed documents, so it went through the journal
	// Plan is the time spent reading and computing what to write; Write
	// the time writes were in flight. The documents are written while the
	// terms are planned, so the two can add up to more than the batch's
	// time.
	Plan, Write time.Duration
}

func (st *ApplyStats) add(o ApplyStats) {
	st.Writes += o.Writes
	st.Reads += o.Reads
	st.Write += o.Write
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
//  1. documents are set from the events (blind writes: a replay writes the
//     same values again);
//  2. term heads, chunks and statistics are read, and their new values
//     computed (final values, never increments);
//  3. if the batch splits a chunk or removes a head or chunk, the new
//     values of the terms it splits or removes are written to the journal;
//  4. chunks, then heads, then deletions of split or emptied chunks, then
//     statistics, then the checkpoint are written; the journal is removed.
//
// A batch cut short after 3 has its journal redone by recover before
// anything is read again: the split or removed terms reach their new
// state whole. The checkpoint stays where it was, and the batch is
// replayed like any other.
//
// Every other write needs no journal (which costs as much as the writes
// themselves): it sets one document, under an id that does not depend on
// the batch's boundaries, to a value computed from the stored state and
// the events' posting changes, which set a document's posting to a value
// rather than add to it. A replay after a crash at any write therefore
// reads some documents already written, applies the same changes to them
// again, and ends in the same state, even with other batch boundaries (a
// shorter replay may set a posting back to an older value for a moment;
// the following batch sets it forward again). A head whose chunk was
// written but not the head is rewritten because its count disagrees with
// the chunk's. Statistics are the one sum: each statistics document
// carries the offset of the last event it counts, and a replay adds only
// the records of later events.
//
// Chunks are written before the heads that list them, so a reader
// following a head always finds its chunks. ApplyBatch must not be called
// concurrently (the persister is the single writer).
func (s *Store) ApplyBatch(ctx context.Context, items []Item, cp *Checkpoint) (_ ApplyStats, err error) {
	var st ApplyStats
	// What the writer remembers is trusted only while every write
	// succeeded; after a failure the next attempt reads it again.
	defer func() {
		if err != nil {
			s.known = nil
		}
	}()
	// A crash or a failed attempt may have left a batch's writes half done:
	// recover finishes them before anything is read. The stored checkpoint
	// is authoritative: a caller's copy can be behind it (an attempt whose
	// checkpoint write succeeded but was reported failed), and applying
	// statistics twice would count twice.
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
	ev, recOff, next := merge(items, cp, &st)
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
	// The documents are written while the terms and statistics are
	// planned: the planning only reads the term and statistics
	// collections, and every write still goes out one at a time, in the
	// order below (documents before the heads that list them).
	var dst ApplyStats
	docsDone := make(chan error, 1)
	go func() {
		start := time.Now()
		err := s.applyDocuments(ctx, ev, &dst)
		dst.Write = time.Since(start)
		docsDone <- err
	}()
	tw, sw, err := s.plan(ctx, ev, recOff, next.Offset, &st)
	derr := <-docsDone
	st.add(dst)
	if err = cmp.Or(derr, err); err != nil {
		return st, err
	}
	jw := tw.journaled()
	if jw == nil {
		// Every write sets one document to a value a replay computes
		// again from whatever this attempt left (see ApplyBatch): no
		// journal.
		if err := s.writeRemembering(ctx, tw, sw, next, &st); err != nil {
			return st, err
		}
		*cp = next
		return st, nil
	}
	st.Journaled = true
	if err := s.writeJournal(ctx, &journal{Off: next.Offset, W: jw}, &st); err != nil {
		return st, err
	}
	if err := s.writeRemembering(ctx, tw, sw, next, &st); err != nil {
		return st, err
	}
	*cp = next
	// The checkpoint covers the journal now; a failure to remove it is
	// repaired by the next recover.
	if err := s.clearJournal(ctx); err != nil {
		s.log.Warn().Err(err).Int64("offset", next.Offset).Msg("journal not cleared")
	} else {
		st.Writes++
		s.clean = true
	}
	return st, nil
}

// plan reads what the batch's terms and statistics are now and computes
// their new values.
func (s *Store) plan(ctx context.Context, ev *dirtyterms.Event, recOff []int64, off int64, st *ApplyStats) (_ *termWrites, _ *statWrites, err error) {
	defer func(start time.Time) { st.Plan += time.Since(start) }(time.Now())
	if s.known == nil || s.known.full() {
		if s.known, err = s.loadKnown(ctx, st); err != nil {
			return nil, nil, err
		}
	}
	tw, err := s.planTerms(ctx, ev, st)
	if err != nil {
		return nil, nil, err
	}
	sw, err := s.planStats(ctx, ev, recOff, off, st)
	if err != nil {
		return nil, nil, err
	}
	return tw, sw, nil
}

// writeRemembering performs the writes (write) while the writer records
// tw's heads and chunks as written (known.wrote: CPU work, 45 ms of a
// zipf-10k batch, that followed the writes' round trips). Remembering
// before the acknowledgements is safe: when a write fails, ApplyBatch
// forgets everything remembered, so nothing unwritten is trusted.
func (s *Store) writeRemembering(ctx context.Context, tw *termWrites, sw *statWrites, cp Checkpoint, st *ApplyStats) error {
	remembered := make(chan struct{})
	go func() {
		defer close(remembered)
		s.known.wrote(tw)
	}()
	err := s.write(ctx, tw, sw, cp, st)
	<-remembered
	return err
}

// write performs a batch's term writes, then its statistics, then its
// checkpoint.
func (s *Store) write(ctx context.Context, tw *termWrites, sw *statWrites, cp Checkpoint, st *ApplyStats) error {
	defer func(start time.Time) { st.Write += time.Since(start) }(time.Now())
	if err := s.writeTerms(ctx, tw, st); err != nil {
		return err
	}
	if err := s.writeStats(ctx, sw, st); err != nil {
		return err
	}
	return s.writeCheckpoint(ctx, cp, st)
}

// merge joins the events above the checkpoint into one event holding only
// the records not applied before, in order, and returns it with the
// checkpoint that covers the batch.
func merge(items []Item, cp *Checkpoint, st *ApplyStats) (*dirtyterms.Event, []int64, Checkpoint) {
	next := Checkpoint{Offset: cp.Offset, Sources: slices.Clone(cp.Sources)}
	// Sized once from the events (records applied before make it an
	// upper bound): growing them by append copied a zipf-10k batch's
	// terms and ops several times over.
	nrec, nterm, nops := 0, 0, 0
	for _, it := range items {
		if it.Offset > cp.Offset {
			nrec, nterm = nrec+len(it.Event.Records), nterm+len(it.Event.Terms)
			for _, t := range it.Event.Terms {
				nops += len(t.Ops)
			}
		}
	}
	out := &dirtyterms.Event{V: dirtyterms.Version, Records: make([]dirtyterms.Record, 0, nrec), Terms: make([]dirtyterms.Term, 0, nterm)}
	recOff := make([]int64, 0, nrec) // the dirty-terms offset of each out record's event
	opBuf := make([]dirtyterms.Op, 0, nops)
	var remap []int
	for _, it := range items {
		if it.Offset <= next.Offset {
			continue
		}
		ev := it.Event
		applied := next.Applied(ev.Topic, ev.Partition)
		remap = slices.Grow(remap[:0], len(ev.Records))[:len(ev.Records)]
		for i, r := range ev.Records {
			if r.Offset <= applied {
				remap[i] = -1
				st.Duplicates++
				continue
			}
			remap[i] = len(out.Records)
			out.Records = append(out.Records, r)
			recOff = append(recOff, it.Offset)
			st.Records++
		}
		for _, t := range ev.Terms {
			from := len(opBuf)
			for _, op := range t.Ops {
				if op.Rec >= 0 && op.Rec < len(remap) && remap[op.Rec] >= 0 {
					op.Rec = remap[op.Rec]
					opBuf = append(opBuf, op)
				}
			}
			if len(opBuf) == from {
				continue
			}
			// A term of several events appears once per event: planTerms
			// joins them, in order.
			out.Terms = append(out.Terms, dirtyterms.Term{Index: t.Index, Field: t.Field, Term: t.Term, Ops: opBuf[from:len(opBuf):len(opBuf)]})
		}
		next.Offset = it.Offset
		next.advance(ev.Topic, ev.Partition, ev.LastOffset)
		st.Events++
	}
	return out, recOff, next
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

func (s *Store) applyDocuments(ctx context.Context, ev *dirtyterms.Event, st *ApplyStats) error {
	// The last record of each document wins.
	last := map[string]int{}
	for i, r := range ev.Records {
		last[docKey(r.Index, r.ID)] = i
	}
	keys := make([]string, 0, len(last))
	for k := range last {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var docs []any
	var docIDs []string
	fresh := map[string]bool{}
	for _, k := range keys {
		r := ev.Records[last[k]]
		if !r.Deleted {
			docs = append(docs, storedDoc{ID: k, Index: r.Index, DocID: r.ID, Source: string(r.Source), Offset: r.Offset})
			docIDs = append(docIDs, k)
			// A document new to its indexer is new here too, unless an
			// attempt that failed wrote it: insertFresh then replaces it.
			fresh[k] = r.Count > 0
		}
	}
	return s.replace(ctx, s.docs, keys, docs, docIDs, fresh, st)
}

// replace makes the documents with ids be exactly docs (a subset of ids;
// docIDs are their ids; the others are deleted). Documents fresh marks new
// are inserted in bulk; the rest are replaced in place (upserts), so a
// reader never finds a listed document missing; deletions come last. Every
// write addresses one _id, an index lookup on MongoDB and on the project's
// FerretDB, whose patch applies such a bulk write with one lookup and one
// SQLite transaction (tools/ferretdb/_patch). A document marked fresh that
// is stored after all (an attempt that failed wrote it) is replaced.
//
// Documents are encoded one command ahead of the one in flight (see
// encodeAhead), and a command carries up to stepDocs documents or
// stepBytes of them.
func (s *Store) replace(ctx context.Context, c *mongo.Collection, ids []string, docs []any, docIDs []string, fresh map[string]bool, st *ApplyStats) error {
	var ins, upd []any
	var insIDs, updIDs []string
	has := make(map[string]bool, len(docIDs))
	for i, d := range docs {
		has[docIDs[i]] = true
		if fresh[docIDs[i]] {
			ins, insIDs = append(ins, d), append(insIDs, docIDs[i])
		} else {
			upd, updIDs = append(upd, d), append(updIDs, docIDs[i])
		}
	}
	// The commands of each kind go out sendsInFlight at a time; mu guards
	// what they share.
	var mu sync.Mutex
	if err := encodeAhead(ctx, ins, insIDs, s.writeStep, sendsInFlight, func(docs []bson.Raw, ids []string) error {
		again, againIDs, err := s.insertFresh(ctx, c, docs, ids)
		mu.Lock()
		defer mu.Unlock()
		st.Writes++
		for _, d := range again {
			upd = append(upd, d)
		}
		updIDs = append(updIDs, againIDs...)
		return err
	}); err != nil {
		return err
	}
	if err := encodeAhead(ctx, upd, updIDs, s.writeStep, sendsInFlight, func(docs []bson.Raw, ids []string) error {
		if err := s.replaceRaw(ctx, c, ids, docs); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		st.Writes++
		return nil
	}); err != nil {
		return err
	}
	var del []string
	for _, id := range ids {
		if !has[id] {
			del = append(del, id)
		}
	}
	return s.deleteIDs(ctx, c, del, st)
}

// A write command carries at most stepDocs documents and, past its first
// document, at most stepBytes of them. On FerretDB a command is one SQLite
// transaction, so fewer, larger commands cost less (an insert of 10,000
// term heads takes about 15 % less time than ten of 1000); MongoDB takes up
// to 100,000 writes and 48 MB in one message.
const (
	stepDocs  = 10000
	stepBytes = 8 << 20
)

// sendsInFlight is how many write commands of one kind replace has in
// flight at once. The documents of one replace are distinct and each write
// sets one of them, so their commands may complete in any order; two keep
// the server busy while it decodes one command and writes the other (on
// the project's FerretDB, where SQLite takes one writer at a time, a
// replacement of a stored term head costs about a third less this way:
// docs/design.md).
const sendsInFlight = 2

// encodeAhead encodes docs to BSON and hands them to send in steps of at
// most maxDocs documents (stepDocs if 0) and stepBytes, with their ids.
// Encoding runs on its own goroutine, ahead of the sends, so the client's
// encoding overlaps the server's writing. Up to inFlight steps are sent at
// once (send must then be safe for concurrent use, and the steps' writes
// must not depend on one another's order); with inFlight 1 they are sent
// one after another, in order. The first error, of either side, stops
// further sends; encodeAhead returns it once the sends in flight have
// returned.
func encodeAhead(ctx context.Context, docs []any, ids []string, maxDocs, inFlight int, send func(docs []bson.Raw, ids []string) error) error {
	if len(docs) == 0 {
		return nil
	}
	if maxDocs <= 0 {
		maxDocs = stepDocs
	}
	type step struct {
		docs []bson.Raw
		ids  []string
		err  error
	}
	steps := make(chan step, 1)
	stop, stopped := make(chan struct{}), make(chan struct{})
	defer func() { close(stop); <-stopped }() // no goroutine outlives the call
	go func() {
		defer close(stopped)
		defer close(steps)
		var cur step
		size := 0
		emit := func() bool {
			select {
			case steps <- cur:
				cur, size = step{}, 0
				return true
			case <-stop:
				return false
			}
		}
		for i, d := range docs {
			raw, ok := d.(bson.Raw)
			if !ok {
				b, err := marshal(d)
				if err != nil {
					// The documents before it go first, then the error.
					if len(cur.docs) > 0 && !emit() {
						return
					}
					cur.err = fmt.Errorf("encode %q: %w", ids[i], err)
					emit()
					return
				}
				raw = b
			}
			if len(cur.docs) > 0 && (len(cur.docs) >= maxDocs || size+len(raw) > stepBytes) {
				if !emit() {
					return
				}
			}
			cur.docs, cur.ids = append(cur.docs, raw), append(cur.ids, ids[i])
			size += len(raw)
		}
		emit()
	}()
	// Up to inFlight sends at once (with 1, one after another, in order).
	// Once one fails, the sends not started yet do nothing.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(inFlight, 1))
	var halt error // an encoding error, or ctx's
	for sp := range steps {
		if halt = cmp.Or(sp.err, ctx.Err()); halt != nil || gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if gctx.Err() != nil {
				return nil // a send failed: no more
			}
			return send(sp.docs, sp.ids)
		})
	}
	return cmp.Or(g.Wait(), halt, ctx.Err())
}

// marshal encodes d, through its own MarshalBSON when it has one: the
// encoder would call that too, then copy what it returned.
func marshal(d any) ([]byte, error) {
	if m, ok := d.(bson.Marshaler); ok {
		return m.MarshalBSON()
	}
	return bson.Marshal(d)
}

// insertFresh inserts docs (ids their ids) with one unordered insert and
// returns the ones that were stored already, to be replaced.
func (s *Store) insertFresh(ctx context.Context, c *mongo.Collection, docs []bson.Raw, ids []string) ([]bson.Raw, []string, error) {
	err := s.insertRaw(ctx, c, docs)
	if err == nil {
		return nil, nil, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return nil, nil, err
	}
	var again []bson.Raw
	var againIDs []string
	for _, we := range bwe.WriteErrors {
		if !mongo.IsDuplicateKeyError(we) || we.Index < 0 || we.Index >= len(docs) {
			return nil, nil, err
		}
		again = append(again, docs[we.Index])
		againIDs = append(againIDs, ids[we.Index])
	}
	s.log.Debug().Str("collection", c.Name()).Int("documents", len(again)).Msg("stored already: replacing")
	return again, againIDs, nil
}

// deleteIDs deletes the documents with the given ids: one deleteMany
// {_id: {$in: ids}} per deleteStep ids (an index search, see findByIDs).
func (s *Store) deleteIDs(ctx context.Context, c *mongo.Collection, ids []string, st *ApplyStats) error {
	const deleteStep = 1000
	for rest := ids; len(rest) > 0; {
		n := min(deleteStep, len(rest))
		if err := s.deleteMany(ctx, c, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: rest[:n]}}}}); err != nil {
			return err
		}
		st.Writes++
		rest = rest[n:]
	}
	return nil
}

type termWork struct {
	key     string
	index   string
	ops     []posting.Op
	existed bool // stored with postings before the batch
	head    *headDoc
	// inline: the term is new or keeps its postings in its head; it
	// stays inline while they fit in one chunk.
	inline bool
	// splits: the chunks of the head the batch changed, with what
	// replaces each (a slice, not a map: most terms change one chunk, and
	// a batch plans a hundred thousand terms).
	splits []chunkSplit
}

// chunkSplit is what replaces one chunk of a term's head: the chunk's new
// parts (one, or several when it split) and their metadata.
type chunkSplit struct {
	meta   int // index of the replaced chunk in the head
	metas  []chunkMeta
	parts  []posting.Chunk // ranges, and the postings of a split's parts
	blocks [][]byte        // or each part's postings in binary form already
	old    string          // the chunk the parts replace, if a split
}

// block returns part i's postings in binary form.
func (sp *chunkSplit) block(i int) []byte {
	if i < len(sp.blocks) && sp.blocks[i] != nil {
		return sp.blocks[i]
	}
	return posting.Encode(nil, sp.parts[i].Postings)
}

// replaced returns the metadata of what replaces the head's chunk i, if the
// batch changed it.
func (w *termWork) replaced(i int) ([]chunkMeta, bool) {
	for _, sp := range w.splits {
		if sp.meta == i {
			return sp.metas, true
		}
	}
	return nil, false
}

// planTerms reads the heads and chunks of the event's terms and computes
// their new values.
func (s *Store) planTerms(ctx context.Context, ev *dirtyterms.Event, st *ApplyStats) (*termWrites, error) {
	work := make([]*termWork, 0, len(ev.Terms))
	byKey := make(map[string]*termWork, len(ev.Terms))
	// A term appears once per event of the batch: joined here, in order,
	// found by its parts (no key built per event).
	type termID struct{ index, field, term string }
	byID := make(map[termID]int, len(ev.Terms))
	owner := make([]int, len(ev.Terms)) // index in work, -1 for none
	var nops []int                      // by index in work: ops once joined
	for i, t := range ev.Terms {
		owner[i] = -1
		if len(t.Ops) == 0 {
			continue
		}
		id := termID{t.Index, t.Field, t.Term}
		j, ok := byID[id]
		if !ok {
			key := TermKey(t.Index, t.Field, t.Term)
			w := &termWork{key: key, index: t.Index}
			j, byID[id], byKey[key] = len(work), len(work), w
			work, nops = append(work, w), append(nops, 0)
		}
		owner[i] = j
		nops[j] += len(t.Ops)
	}
	// Each term's ops in one allocation (a common term has an entry in
	// nearly every event).
	for i, t := range ev.Terms {
		j := owner[i]
		if j < 0 {
			continue
		}
		w := work[j]
		if w.ops == nil {
			w.ops = make([]posting.Op, 0, nops[j])
		}
		for _, op := range t.Ops {
			w.ops = append(w.ops, posting.Op{Doc: ev.Records[op.Rec].ID, TF: op.TF, Length: op.Length})
		}
		// Joined: the merged event's copy is not needed any more (ev is
		// merge's, built for this attempt).
		ev.Terms[i].Ops = nil
	}
	if len(work) == 0 {
		return &termWrites{}, nil
	}
	// In key order, so the heads and chunks are written in _id order: the
	// server's _id index grows at its end instead of at random pages
	// (SQLite's B-tree on FerretDB, WiredTiger's on MongoDB). On zipf-10k
	// this alone took the persister's insert commands from 3.4-3.5 s to
	// 3.0 s (bench partial runs, two each).
	slices.SortFunc(work, func(a, b *termWork) int { return strings.Compare(a.key, b.key) })
	// Heads: remembered ones as they are, unseen keys are new terms, the
	// rest are looked up.
	var keys []string
	for _, w := range work {
		switch h := s.known.heads[w.key]; {
		case h != nil:
			w.head = h
		case s.known.mayExist(w.key):
			keys = append(keys, w.key)
		}
	}
	if len(keys) > 0 {
		st.Reads++
		if err := findIDs(ctx, s, s.terms, keys, func(h headDoc) {
			if w := byKey[h.ID]; w != nil {
				w.head = &h
			}
		}); err != nil {
			return nil, err
		}
	}
	fresh := map[string]bool{}

	// Which chunks each term's ops touch; load them.
	// A target keeps its stored postings encoded (raw, from the head, the
	// remembered chunks or the server) until its term is planned: decoded,
	// a batch's postings took several times their encoded size, and all of
	// them were live at once (zipf-100k: a third of the persister's heap).
	type target struct {
		w     *termWork
		meta  int // index in head.Chunks
		chunk posting.Chunk
		ops   []posting.Op
		raw   []byte // the chunk's stored postings, encoded; nil: none
		src   rawSource
	}
	var targets []*target
	// firsts[k]: the index in targets of work[k]'s first target (a term's
	// targets are consecutive); firsts[len(work)] = len(targets).
	firsts := make([]int, len(work)+1)
	var chunkIDs []string
	byChunk := map[string]*target{}
	for k, w := range work {
		firsts[k] = len(targets)
		if w.head == nil {
			// A new term: inline, one chunk over the whole hash space.
			// Whatever a crashed earlier attempt left under its key is not
			// trusted (insertFresh replaces it).
			w.head = &headDoc{ID: w.key, Index: w.index,
				Chunks: []chunkMeta{{Lo: 0, Hi: int64(-1)}}}
			w.inline = true
			fresh[w.key] = true
			t := &target{w: w, meta: 0, chunk: posting.Chunk{Lo: 0, Hi: math.MaxUint64}, ops: w.ops}
			targets = append(targets, t)
			continue
		}
		if w.head.inline() {
			// An inline term: its one chunk is in the head.
			if len(w.head.Chunks) != 1 {
				return nil, fmt.Errorf("term %q: inline postings and %d chunks", w.key, len(w.head.Chunks))
			}
			w.inline = true
			m := w.head.Chunks[0]
			t := &target{w: w, meta: 0, chunk: posting.Chunk{Lo: uint64(m.Lo), Hi: uint64(m.Hi)}, ops: w.ops,
				raw: w.head.P, src: fromHead}
			targets = append(targets, t)
			continue
		}
		local := map[int]*target{}
		for _, op := range w.ops {
			h := posting.Hash(op.Doc)
			i := sort.Search(len(w.head.Chunks), func(i int) bool { return uint64(w.head.Chunks[i].Hi) >= h })
			if i == len(w.head.Chunks) {
				return nil, fmt.Errorf("term %q: chunks do not cover hash %x", w.key, h)
			}
			t := local[i]
			if t == nil {
				m := w.head.Chunks[i]
				t = &target{w: w, meta: i, chunk: posting.Chunk{Lo: uint64(m.Lo), Hi: uint64(m.Hi)}}
				local[i] = t
				targets = append(targets, t)
				id := chunkID(w.key, uint64(m.Lo), uint64(m.Hi))
				if p, ok := s.known.chunks[id]; ok {
					t.raw, t.src = p, fromKnown
				} else {
					byChunk[id] = t
					chunkIDs = append(chunkIDs, id)
				}
			}
			t.ops = append(t.ops, op)
		}
	}
	firsts[len(work)] = len(targets)
	if len(chunkIDs) > 0 {
		st.Reads++
		if err := findIDs(ctx, s, s.chunks, chunkIDs, func(c chunkDoc) {
			if t := byChunk[c.ID]; t != nil {
				t.raw, t.src = c.P, fromServer // the driver copies binary values
			}
		}); err != nil {
			return nil, err
		}
	}
	byChunk = nil

	// Apply and split. A term's chunk writes are kept until its new total
	// is known: a term left without postings writes no chunk at all.
	// Term by term, in key order: decode its chunks, apply, split and
	// encode, then let go of the decoded postings before the next term.
	tw := termWrites{HeadIDs: make([]string, 0, len(work)), Heads: make([]headDoc, 0, len(work))}
	structural := map[string]bool{} // keys of the terms split or removed
	for k, w := range work {
		w.existed = w.head.N > 0
		for i, t := range targets[firsts[k]:firsts[k+1]] {
			targets[firsts[k]+i] = nil
			if err := s.planChunk(w, t.meta, t.chunk, t.ops, t.raw, t.src); err != nil {
				return nil, err
			}
		}
		s.termWrite(w, &tw, structural, fresh, st)
		w.splits, w.ops = nil, nil
	}
	tw.fresh, tw.structural = fresh, structural
	return &tw, nil
}

// rawSource is where a chunk's encoded postings came from (for errors).
type rawSource uint8

const (
	fromHead   rawSource = iota // an inline term's head
	fromKnown                   // the chunks remembered from earlier batches
	fromServer                  // read in this batch
)

// planChunk applies ops to one stored chunk of w (chunk, with its postings
// still encoded in raw) and records what replaces it in w.splits, unless
// nothing changed.
func (s *Store) planChunk(w *termWork, meta int, chunk posting.Chunk, ops []posting.Op, raw []byte, src rawSource) error {
	// In the binary form: the stored postings are copied, not decoded
	// (BenchmarkPlanChunk: 2.5-3x faster, 2 allocations instead of one per
	// posting).
	out, n, changed, err := posting.ApplyEncoded(nil, raw, ops)
	switch {
	case err != nil && src == fromHead:
		return fmt.Errorf("term %q: inline postings: %w", w.key, err)
	case err != nil && src == fromKnown:
		return fmt.Errorf("chunk %q (remembered): %w", chunkID(w.key, chunk.Lo, chunk.Hi), err)
	case err != nil:
		return fmt.Errorf("chunk %q: %w", chunkID(w.key, chunk.Lo, chunk.Hi), err)
	}
	// Unchanged and counted right in its head: nothing to write. (A
	// replay after a crash finds the chunks this batch wrote already
	// changed, but their heads maybe not yet.)
	if !changed && w.existed && int64(n) == w.head.Chunks[meta].N {
		return nil
	}
	sp := chunkSplit{meta: meta}
	if n <= s.maxChunk {
		sp.metas = []chunkMeta{{Lo: int64(chunk.Lo), Hi: int64(chunk.Hi), N: int64(n)}}
		sp.parts, sp.blocks = []posting.Chunk{{Lo: chunk.Lo, Hi: chunk.Hi}}, [][]byte{out}
		w.splits = append(w.splits, sp)
		return nil
	}
	// Too large: split the decoded postings at their median hashes.
	if chunk.Postings, err = posting.Decode(nil, out); err != nil {
		return fmt.Errorf("term %q: the chunk just merged: %w", w.key, err)
	}
	sp.parts = posting.Split(chunk, s.maxChunk)
	sp.metas = make([]chunkMeta, len(sp.parts))
	for i, p := range sp.parts {
		sp.metas[i] = chunkMeta{Lo: int64(p.Lo), Hi: int64(p.Hi), N: int64(len(p.Postings))}
	}
	if len(sp.parts) > 1 && !w.inline {
		sp.old = chunkID(w.key, chunk.Lo, chunk.Hi)
	}
	w.splits = append(w.splits, sp)
	return nil
}

// termWrite appends to tw the head and chunk writes (or deletions) of a
// planned term, if the batch changed it, and marks its new chunk ids fresh
// and the term structural when it splits or is removed.
func (s *Store) termWrite(w *termWork, tw *termWrites, structural, fresh map[string]bool, st *ApplyStats) {
	if len(w.splits) == 0 {
		return
	}
	st.Terms++
	var metas []chunkMeta
	var n int64
	for i, m := range w.head.Chunks {
		if r, ok := w.replaced(i); ok {
			metas = append(metas, r...)
		} else {
			metas = append(metas, m)
		}
	}
	for _, m := range metas {
		n += m.N
	}
	if n == 0 {
		// The term has no postings left: remove its head and every
		// chunk it listed (a term that never existed has neither).
		if w.existed {
			st.TermChunks += len(w.splits)
			structural[w.key] = true
			tw.HeadDeletes = append(tw.HeadDeletes, w.key)
			if !w.inline {
				for _, m := range w.head.Chunks {
					tw.ChunkDeletes = append(tw.ChunkDeletes, chunkID(w.key, uint64(m.Lo), uint64(m.Hi)))
				}
			}
		}
		return
	}
	head := headDoc{ID: w.key, Index: w.index, N: n, Chunks: metas}
	if w.inline && len(metas) == 1 {
		// Still one chunk: the postings stay in the head.
		st.TermChunks++
		head.P = w.splits[0].block(0)
		tw.HeadIDs = append(tw.HeadIDs, w.key)
		tw.Heads = append(tw.Heads, head)
		return
	}
	for _, sp := range w.splits {
		st.TermChunks += len(sp.parts)
		if len(sp.parts) > 1 {
			structural[w.key] = true
		}
		for k, p := range sp.parts {
			id := chunkID(w.key, p.Lo, p.Hi)
			if sp.old != "" || w.inline {
				fresh[id] = true // a split's parts are new ranges
			}
			tw.ChunkIDs = append(tw.ChunkIDs, id)
			tw.Chunks = append(tw.Chunks, chunkDoc{ID: id, TK: w.key, Index: w.index, Lo: int64(p.Lo), Hi: int64(p.Hi),
				N: sp.metas[k].N, P: sp.block(k)})
		}
		if sp.old != "" {
			tw.ChunkDeletes = append(tw.ChunkDeletes, sp.old)
		}
	}
	tw.HeadIDs = append(tw.HeadIDs, w.key)
	tw.Heads = append(tw.Heads, head)
}

// termWrites are the term and chunk writes of one event, in the order
// writeTerms performs them. Every step sets documents to a final value, so
// redoing all of them after a partial run ends in the same state.
type termWrites struct {
	ChunkIDs     []string   `bson:"chunkIDs,omitempty"` // chunks replaced by Chunks
	Chunks       []chunkDoc `bson:"chunks,omitempty"`
	HeadIDs      []string   `bson:"headIDs,omitempty"` // heads replaced by Heads
	Heads        []headDoc  `bson:"heads,omitempty"`
	HeadDeletes  []string   `bson:"headDeletes,omitempty"`  // emptied terms
	ChunkDeletes []string   `bson:"chunkDeletes,omitempty"` // chunks replaced by a split, and those of emptied terms
	// structural: the keys of the terms split (a chunk, or an inline
	// term, into new chunk documents) or removed. Not journaled.
	structural map[string]bool
	// fresh marks the chunk and head ids planTerms knows are not stored
	// (new terms, the parts of a split): they are inserted without a
	// delete first. Not journaled: a redo deletes everything first.
	fresh map[string]bool
}

// journaled returns the writes of tw's structural terms (split or removed):
// the ones whose ids depend on the batch's boundaries (split points) or
// that a replay could not find to redo (deletions), which go through the
// journal; nil when there are none.
func (tw *termWrites) journaled() *termWrites {
	if len(tw.structural) == 0 {
		return nil
	}
	j := &termWrites{HeadDeletes: tw.HeadDeletes, ChunkDeletes: tw.ChunkDeletes}
	for i, c := range tw.Chunks {
		if tw.structural[c.TK] {
			j.ChunkIDs, j.Chunks = append(j.ChunkIDs, tw.ChunkIDs[i]), append(j.Chunks, c)
		}
	}
	for i, h := range tw.Heads {
		if tw.structural[h.ID] {
			j.HeadIDs, j.Heads = append(j.HeadIDs, tw.HeadIDs[i]), append(j.Heads, h)
		}
	}
	return j
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
	if err := s.replace(ctx, s.chunks, tw.ChunkIDs, chunks, tw.ChunkIDs, tw.fresh, st); err != nil {
		return err
	}
	if err := s.replace(ctx, s.terms, tw.HeadIDs, heads, tw.HeadIDs, tw.fresh, st); err != nil {
		return err
	}
	// Heads of emptied terms go before their chunks, so no head ever lists
	// a missing chunk.
	st.Chunks += len(tw.ChunkDeletes)
	if err := s.deleteIDs(ctx, s.terms, tw.HeadDeletes, st); err != nil {
		return err
	}
	return s.deleteIDs(ctx, s.chunks, tw.ChunkDeletes, st)
}

// statWrites are the new values of an index's statistics documents.
type statWrites struct {
	Indexes []indexStatDoc `bson:"indexes,omitempty"`
	Fields  []fieldStatDoc `bson:"fields,omitempty"`
}

// Statistics documents carry the dirty-terms offset of the last event they
// count (off): a replay adds only the records of later events, so a batch
// whose statistics were written but whose checkpoint was not does not count
// twice, whatever boundaries the replay's batches have.
type indexStatDoc struct {
	ID   string `bson:"_id"` // index
	Docs int64  `bson:"docs"`
	Off  *int64 `bson:"off,omitempty"`
}

type fieldStatDoc struct {
	ID    string `bson:"_id"` // index|field
	Index string `bson:"index"`
	Field string `bson:"field"`
	Docs  int64  `bson:"docs"`
	Len   int64  `bson:"len"`
	Off   *int64 `bson:"off,omitempty"`
}

// counted reports whether a statistics document whose off is off counts
// the records of the event at offset ev already.
func counted(off *int64, ev int64) bool { return off != nil && ev <= *off }

// laterOff returns the later of a statistics document's off and a batch's
// last event.
func laterOff(off *int64, batch int64) *int64 {
	if off != nil && *off > batch {
		return off
	}
	return &batch
}

// planStats reads the statistics the records change and computes their new
// values (final values: the journal can redo them).
// off is the offset of the batch's last event; recOff holds each record's
// event offset.
func (s *Store) planStats(ctx context.Context, ev *dirtyterms.Event, recOff []int64, off int64, st *ApplyStats) (*statWrites, error) {
	indexes := map[string]bool{}
	fieldKeys := map[string]bool{}
	for _, r := range ev.Records {
		indexes[r.Index] = true
		for _, f := range r.Fields {
			fieldKeys[r.Index+"|"+f.Field] = true
		}
	}
	sw := &statWrites{}
	ids := slices.Sorted(maps.Keys(indexes))
	cur := map[string]indexStatDoc{}
	st.Reads++
	if err := findIDs(ctx, s, s.indexStats, ids, func(d indexStatDoc) { cur[d.ID] = d }); err != nil {
		return nil, err
	}
	fids := slices.Sorted(maps.Keys(fieldKeys))
	fcur := map[string]fieldStatDoc{}
	if len(fids) > 0 {
		st.Reads++
		if err := findIDs(ctx, s, s.fieldStats, fids, func(d fieldStatDoc) { fcur[d.ID] = d }); err != nil {
			return nil, err
		}
	}
	// Add the records each document does not count yet.
	idx := map[string]*indexStatDoc{}
	fld := map[string]*fieldStatDoc{}
	for i, r := range ev.Records {
		d := idx[r.Index]
		if d == nil {
			c := cur[r.Index]
			d = &indexStatDoc{ID: r.Index, Docs: c.Docs, Off: c.Off}
			idx[r.Index] = d
		}
		if !counted(cur[r.Index].Off, recOff[i]) {
			d.Docs += r.Count
		}
		for _, f := range r.Fields {
			k := r.Index + "|" + f.Field
			fd := fld[k]
			if fd == nil {
				c := fcur[k]
				fd = &fieldStatDoc{ID: k, Index: r.Index, Field: f.Field, Docs: c.Docs, Len: c.Len, Off: c.Off}
				fld[k] = fd
			}
			if !counted(fcur[k].Off, recOff[i]) {
				fd.Docs += f.Docs
				fd.Len += f.Length
			}
		}
	}
	// A document's off never moves back: a replay whose batch ends before
	// the event an earlier attempt counted up to must not count the events
	// in between a second time.
	for _, ix := range ids {
		d := idx[ix]
		d.Off = laterOff(d.Off, off)
		sw.Indexes = append(sw.Indexes, *d)
	}
	for _, k := range fids {
		d := fld[k]
		d.Off = laterOff(d.Off, off)
		sw.Fields = append(sw.Fields, *d)
	}
	return sw, nil
}

// writeStats sets the statistics documents.
func (s *Store) writeStats(ctx context.Context, sw *statWrites, st *ApplyStats) error {
	ids, docs := make([]string, len(sw.Indexes)), make([]any, len(sw.Indexes))
	for i, d := range sw.Indexes {
		ids[i], docs[i] = d.ID, d
	}
	if err := s.replace(ctx, s.indexStats, ids, docs, ids, nil, st); err != nil {
		return err
	}
	ids, docs = make([]string, len(sw.Fields)), make([]any, len(sw.Fields))
	for i, d := range sw.Fields {
		ids[i], docs[i] = d.ID, d
	}
	return s.replace(ctx, s.fieldStats, ids, docs, ids, nil, st)
}
