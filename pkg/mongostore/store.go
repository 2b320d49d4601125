// Package mongostore is Termflow's MongoDB layout: the persister writes it,
// the ingest service searches it. The layout is described in
// docs/data-model.md; in short:
//
//	documents   {_id: "index/id", index, id, src: JSON text, o: source offset}
//	terms       {_id: term key, index, field, term, n: postings, chunks: [{lo, hi, n}], p: inline postings}
//	chunks      {_id: term key#lo-hi, tk: term key, index, lo, hi, n, p: binary postings} (terms of more than one chunk)
//	indexstats  {_id: index, docs}
//	fieldstats  {_id: index|field, index, field, docs, len}
//	checkpoints {_id: "persister", offset, sources: [{topic, partition, offset}]}
//	journal     {_id: "offset/part", off, parts, w, stats, cp}: a batch's planned writes (journal.go)
//
// A term key is "index|term|field": index names and terms never hold "|",
// so the key is unambiguous whatever the field name is.
package mongostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/termflow/termflow/pkg/posting"
)

// Collection names.
const (
	CollDocuments   = "documents"
	CollTerms       = "terms"
	CollChunks      = "chunks"
	CollIndexStats  = "indexstats"
	CollFieldStats  = "fieldstats"
	CollCheckpoints = "checkpoints"
	CollJournal     = "journal"
)

// Store is a Termflow database.
type Store struct {
	client *mongo.Client
	db     *mongo.Database
	log    zerolog.Logger

	docs, terms, chunks, indexStats, fieldStats, checkpoints, journal *mongo.Collection

	// clean is false until recover found no half-done journal, and from
	// the start of an event's journaled writes until its checkpoint. Apply
	// is called by one goroutine only (the persister is the single writer).
	clean bool
	// maxChunk is posting.MaxChunk; tests lower it to split small lists.
	maxChunk int
	// journalPartMax is journalPartBytes; tests lower it to split journals.
	journalPartMax int
	// writeStep is the most documents a write command carries (0:
	// stepDocs); tests lower it so a batch's writes take several commands
	// in flight at once.
	writeStep int
	// writeHook, when set (tests), runs before every write and fails it by
	// returning an error: a crash at that point.
	writeHook func() error
	// commandHook, when set (the persister's metrics), sees every command.
	commandHook func(Command)
	hookMu      sync.Mutex // serializes the hooks' calls
	// known is what the writer remembers of the term collections (see
	// known.go); nil until loaded and after any failed batch.
	known *known
}

// Open connects to uri and prepares the database's indexes. extra client
// options (a service's command monitor) apply after the store's own.
func Open(ctx context.Context, uri, database string, log zerolog.Logger, extra ...*options.ClientOptions) (*Store, error) {
	client, err := mongo.Connect(append([]*options.ClientOptions{options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(10 * time.Second).
		SetTimeout(2 * time.Minute)}, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to mongodb: %w", err)
	}
	db := client.Database(database)
	s := &Store{
		client: client, db: db, log: log,
		docs: db.Collection(CollDocuments), terms: db.Collection(CollTerms), chunks: db.Collection(CollChunks),
		indexStats: db.Collection(CollIndexStats), fieldStats: db.Collection(CollFieldStats),
		checkpoints: db.Collection(CollCheckpoints), journal: db.Collection(CollJournal),
		maxChunk: posting.MaxChunk, journalPartMax: journalPartBytes,
	}
	if err := s.dropLegacyIndexes(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	return s, nil
}

// legacyIndexes are the secondary indexes earlier versions created. Every
// read is by _id or by an _id range (every _id starts with its index name
// and a separator: IndexFilter), so they were only write cost: a
// secondary-index entry for every document, term head and chunk written.
var legacyIndexes = []struct{ coll, name string }{
	{CollChunks, "tk_1"}, {CollTerms, "index_1"}, {CollDocuments, "index_1"}, {CollFieldStats, "index_1"},
}

// dropLegacyIndexes drops the secondary indexes of a database written by
// an earlier version. A drop that fails is logged, not fatal: the index
// only slows writes down.
func (s *Store) dropLegacyIndexes(ctx context.Context) error {
	for _, l := range legacyIndexes {
		err := s.db.Collection(l.coll).Indexes().DropOne(ctx, l.name)
		var ce mongo.CommandError
		switch {
		case err == nil:
			s.log.Info().Str("collection", l.coll).Str("index", l.name).Msg("dropped a secondary index earlier versions created")
		case errors.As(err, &ce) && (ce.Code == codeNamespaceNotFound || ce.Code == codeIndexNotFound):
		default:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.log.Warn().Err(err).Str("collection", l.coll).Str("index", l.name).Msg("could not drop a legacy secondary index")
		}
	}
	return nil
}

// MongoDB error codes.
const (
	codeNamespaceNotFound = 26
	codeIndexNotFound     = 27
)

// IndexFilter selects the documents of collection coll (one of the Coll
// names) that belong to the given indexes, by _id alone: a document's _id
// is "index/id" (docKey), a term's, chunk's and field statistic's start with
// "index|", and an index's statistics are under its name. So the query is a
// range scan of the _id index on MongoDB, and needs no other index. No
// indexes selects nothing.
func IndexFilter(coll string, indexes ...string) bson.D {
	if coll == CollIndexStats {
		return bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: indexes}}}}
	}
	sep := "|"
	if coll == CollDocuments {
		sep = "/"
	}
	ranges := make(bson.A, len(indexes))
	for i, index := range indexes {
		// The separators are ASCII below 0x7f: the next byte ends the range.
		ranges[i] = bson.D{{Key: "_id", Value: bson.D{{Key: "$gte", Value: index + sep}, {Key: "$lt", Value: index + string(sep[0]+1)}}}}
	}
	switch len(ranges) {
	case 0:
		return bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{}}}}}
	case 1:
		return ranges[0].(bson.D)
	}
	return bson.D{{Key: "$or", Value: ranges}}
}

// Close disconnects.
func (s *Store) Close(ctx context.Context) error { return s.client.Disconnect(ctx) }

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error { return s.client.Ping(ctx, nil) }

// Database returns the underlying database (for tests and verification).
func (s *Store) Database() *mongo.Database { return s.db }

// docKey is the _id of a stored document (IndexFilter reads its index's
// documents as the range of this prefix).
func docKey(index, id string) string { return index + "/" + id }

// TermKey is the key of a term's head document and the prefix of its chunks.
func TermKey(index, field, term string) string { return index + "|" + term + "|" + field }

// SplitTermKey is the inverse of TermKey. Index names and terms never
// contain "|"; a field name may, so it is the rest of the key.
func SplitTermKey(key string) (index, term, field string, ok bool) {
	index, rest, ok := strings.Cut(key, "|")
	if !ok {
		return "", "", "", false
	}
	term, field, ok = strings.Cut(rest, "|")
	return index, term, field, ok
}

func chunkID(tk string, lo, hi uint64) string { return fmt.Sprintf("%s#%016x-%016x", tk, lo, hi) }

// headDoc is a term's head document. A term whose postings fit in one
// chunk keeps them in the head itself (P, inline): one document per term
// for the long tail of a vocabulary, written once per batch that changes
// it. Its Chunks then has the one whole-range entry and no chunk document
// exists. A term that outgrows one chunk moves its postings to chunk
// documents (P empty) and stays that way.
//
// A head's field and term are in its key (SplitTermKey), so neither is
// kept, in memory or stored. In memory an inline head lists its one
// whole-range chunk; stored (MarshalBSON), it does not, since its postings
// imply it. Most heads are inline terms of the long tail, and the server's
// cost of a head grows with its fields: on the project's FerretDB the slim
// head is a third cheaper to insert or replace (docs/design.md).
// UnmarshalBSON lists the chunk again, and reads the full heads of earlier
// versions (with field, term and the chunk stored) as well.
type headDoc struct {
	ID     string
	Index  string
	N      int64
	Chunks []chunkMeta
	P      []byte
}

// headWire is a head as stored (see headDoc).
type headWire struct {
	ID     string      `bson:"_id"`
	Index  string      `bson:"index"`
	N      int64       `bson:"n"`
	Chunks []chunkMeta `bson:"chunks,omitempty"` // none for an inline term
	P      []byte      `bson:"p,omitempty"`
}

// MarshalBSON stores h without its inline chunk: the bytes bson.Marshal
// writes for its headWire, appended by hand (a bulk load writes a hundred
// thousand heads, and the reflecting encoder was a third of their cost;
// TestHeadMarshalMatchesWire keeps the two identical).
func (h headDoc) MarshalBSON() ([]byte, error) {
	size := 64 + len(h.ID) + len(h.Index) + len(h.P)
	if !h.inline() {
		size += 40 * len(h.Chunks)
	}
	idx, b := bsoncore.AppendDocumentStart(make([]byte, 0, size))
	b = bsoncore.AppendStringElement(b, "_id", h.ID)
	b = bsoncore.AppendStringElement(b, "index", h.Index)
	b = bsoncore.AppendInt64Element(b, "n", h.N)
	if !h.inline() && len(h.Chunks) > 0 {
		var arr int32
		arr, b = bsoncore.AppendArrayElementStart(b, "chunks")
		for i, c := range h.Chunks {
			var ci int32
			ci, b = bsoncore.AppendDocumentElementStart(b, strconv.Itoa(i))
			b = bsoncore.AppendInt64Element(b, "lo", c.Lo)
			b = bsoncore.AppendInt64Element(b, "hi", c.Hi)
			b = bsoncore.AppendInt64Element(b, "n", c.N)
			b, _ = bsoncore.AppendDocumentEnd(b, ci)
		}
		b, _ = bsoncore.AppendArrayEnd(b, arr)
	}
	if len(h.P) > 0 {
		b = bsoncore.AppendBinaryElement(b, "p", 0, h.P)
	}
	return bsoncore.AppendDocumentEnd(b, idx)
}

// UnmarshalBSON reads a stored head, slim or full.
func (h *headDoc) UnmarshalBSON(b []byte) error {
	var w headWire
	if err := bson.Unmarshal(b, &w); err != nil {
		return err
	}
	if _, _, _, ok := SplitTermKey(w.ID); !ok {
		return fmt.Errorf("term head %q: not a term key", w.ID)
	}
	*h = headDoc{ID: w.ID, Index: w.Index, N: w.N, Chunks: w.Chunks, P: w.P}
	if h.inline() && len(h.Chunks) == 0 {
		h.Chunks = []chunkMeta{{Lo: 0, Hi: -1, N: h.N}}
	}
	return nil
}

// inline reports whether the head holds its postings itself.
func (h *headDoc) inline() bool { return len(h.P) > 0 }

type chunkMeta struct {
	Lo int64 `bson:"lo"` // uint64 bits
	Hi int64 `bson:"hi"`
	N  int64 `bson:"n"`
}

type chunkDoc struct {
	ID    string `bson:"_id"`
	TK    string `bson:"tk"`
	Index string `bson:"index"`
	Lo    int64  `bson:"lo"`
	Hi    int64  `bson:"hi"`
	N     int64  `bson:"n"`
	P     []byte `bson:"p"`
}

type storedDoc struct {
	ID     string `bson:"_id"`
	Index  string `bson:"index"`
	DocID  string `bson:"id"`
	Source string `bson:"src"`
	Offset int64  `bson:"o"`
}

// findIDs is findByIDs on the apply path: it reports each query to the
// command hook.
func findIDs[T any](ctx context.Context, s *Store, c *mongo.Collection, ids []string, fn func(T)) error {
	return findByIDs(ctx, c, ids, fn, func(err error) { s.sent(c.Name(), "find", err, 0) })
}

// lookupStep is how many ids one find of findByIDs asks for.
const lookupStep = 1000

// findByIDs calls fn for each document found with one of the ids (in no
// particular order): one find {_id: {$in: ids}} per lookupStep ids, an
// index search on MongoDB and on the project's FerretDB (its patch of the
// SQLite backend pushes _id $in down, tools/ferretdb/_patch; upstream
// FerretDB 1.24 reads the whole collection for it). sent, if not nil, is
// told of each query.
func findByIDs[T any](ctx context.Context, c *mongo.Collection, ids []string, fn func(T), sent ...func(error)) error {
	for rest := ids; len(rest) > 0; {
		n := min(lookupStep, len(rest))
		err := findIn(ctx, c, rest[:n], fn)
		for _, f := range sent {
			f(err)
		}
		if err != nil {
			return fmt.Errorf("find %s: %w", c.Name(), err)
		}
		rest = rest[n:]
	}
	return nil
}

func findIn[T any](ctx context.Context, c *mongo.Collection, ids []string, fn func(T)) error {
	cur, err := c.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return err
	}
	defer func() { _ = cur.Close(context.WithoutCancel(ctx)) }()
	for cur.Next(ctx) {
		var v T
		if err := cur.Decode(&v); err != nil {
			return err
		}
		fn(v)
	}
	return cur.Err()
}
