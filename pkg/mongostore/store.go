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
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

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
	// writeHook, when set (tests), runs before every write and fails it by
	// returning an error: a crash at that point.
	writeHook func() error
	// commandHook, when set (the persister's metrics), sees every command.
	commandHook func(Command)
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
	if err := s.ensureIndexes(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	return s, nil
}

func (s *Store) ensureIndexes(ctx context.Context) error {
	idx := []struct {
		c   *mongo.Collection
		key string
	}{{s.chunks, "tk"}, {s.terms, "index"}, {s.docs, "index"}, {s.fieldStats, "index"}}
	for _, i := range idx {
		_, err := i.c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: i.key, Value: 1}}})
		if err != nil {
			return fmt.Errorf("create index %s.%s: %w", i.c.Name(), i.key, err)
		}
	}
	return nil
}

// Close disconnects.
func (s *Store) Close(ctx context.Context) error { return s.client.Disconnect(ctx) }

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error { return s.client.Ping(ctx, nil) }

// Database returns the underlying database (for tests and verification).
func (s *Store) Database() *mongo.Database { return s.db }

// TermKey is the key of a term's head document and the prefix of its chunks.
func TermKey(index, field, term string) string { return index + "|" + term + "|" + field }

func chunkID(tk string, lo, hi uint64) string { return fmt.Sprintf("%s#%016x-%016x", tk, lo, hi) }

// headDoc is a term's head document. A term whose postings fit in one
// chunk keeps them in the head itself (P, inline): one document per term
// for the long tail of a vocabulary, written once per batch that changes
// it. Its Chunks then has the one whole-range entry and no chunk document
// exists. A term that outgrows one chunk moves its postings to chunk
// documents (P empty) and stays that way.
type headDoc struct {
	ID     string      `bson:"_id"`
	Index  string      `bson:"index"`
	Field  string      `bson:"field"`
	Term   string      `bson:"term"`
	N      int64       `bson:"n"`
	Chunks []chunkMeta `bson:"chunks"`
	P      []byte      `bson:"p,omitempty"`
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

// findIDs is findByIDs on the apply path: it reports each lookup to the
// command hook.
func findIDs[T any](ctx context.Context, s *Store, c *mongo.Collection, ids []string, fn func(T)) error {
	err := findByIDs(ctx, c, ids, fn)
	for range ids {
		s.sent(c.Name(), "find", err, 0)
	}
	return err
}

// lookupWorkers is how many single-_id finds findByIDs keeps in flight.
const lookupWorkers = 8

// findByIDs calls fn for each document found with one of the ids (in no
// particular order, never concurrently). It sends one find per id,
// lookupWorkers at a time, rather than one find with $in: a single _id is
// an index lookup on MongoDB and on FerretDB (see tools/ferretdb/idindex.go),
// while FerretDB answers any other filter, $in included, by reading and
// decoding every document of the collection. On FerretDB/SQLite 1000 ids
// of a 30,000-document collection take 6.3 s as one $in and about 0.8 s as
// single lookups, and the lookups do not slow down as the collection grows.
func findByIDs[T any](ctx context.Context, c *mongo.Collection, ids []string, fn func(T)) error {
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	for range min(lookupWorkers, len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ids) || ctx.Err() != nil {
					return
				}
				var v T
				err := c.FindOne(ctx, bson.D{{Key: "_id", Value: ids[i]}}).Decode(&v)
				if errors.Is(err, mongo.ErrNoDocuments) {
					continue
				}
				mu.Lock()
				switch {
				case first != nil:
				case err != nil:
					first = fmt.Errorf("find %s: %w", c.Name(), err)
					cancel()
				default:
					fn(v)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}
