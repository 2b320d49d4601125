package stages

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/termflow/termflow/bench/corpus"
	"github.com/termflow/termflow/pkg/mongostore"
	"github.com/termflow/termflow/pkg/posting"
)

// MongoShape is how a trial writes: insert commands of BatchSize
// documents, InFlight of them at once.
type MongoShape struct {
	BatchSize int
	InFlight  int
}

// DefaultMongoShapes are the shapes Mongo tries: one call at a time of
// 100, 1000 and 10,000 documents, and two at a time of the larger sizes
// (the persister keeps two write commands in flight, so its rate is
// compared with the server's best at that too).
var DefaultMongoShapes = []MongoShape{{100, 1}, {1000, 1}, {10000, 1}, {1000, 2}, {10000, 2}}

// MongoWrite is one kind of MongoDB document written with unordered
// insertMany. Bytes are the documents' BSON sizes.
type MongoWrite struct {
	Throughput
	// Postings held by the documents: every posting, counted with the
	// chunks (terms of one chunk hold theirs in their heads).
	Postings       int64   `json:"postings"`
	PostingsPerSec float64 `json:"postings_per_sec"`
	// Requests are the insertMany calls made.
	Requests int `json:"requests"`
}

// MongoTrial writes everything once with one shape of insertMany calls.
type MongoTrial struct {
	BatchSize int        `json:"batch_size"`
	InFlight  int        `json:"in_flight"` // calls at once (0 in results of earlier versions: 1)
	Chunks    MongoWrite `json:"chunks"`
	Heads     MongoWrite `json:"heads"`
	Documents MongoWrite `json:"documents"`
	// Combined is the three written one after the other (the order the
	// persister writes a batch in: documents, chunks, heads).
	Combined MongoWrite `json:"combined"`
	// CorpusDocsPerSec is corpus documents per second of Combined: the
	// rate to compare the persister's with.
	CorpusDocsPerSec float64 `json:"corpus_docs_per_sec"`
}

// MongoResult is the MongoDB limit: the documents the persister ends up
// with for a bulk load of the corpus, bulk-inserted into a fresh database.
type MongoResult struct {
	Corpus   string `json:"corpus"`
	Docs     int    `json:"docs"`
	Database string `json:"database"`
	MaxChunk int    `json:"max_chunk"`
	// Trials, one per shape; each starts from a fresh database with
	// the persister's indexes (made by mongostore.Open).
	Trials []MongoTrial `json:"trials"`
	// Best is the trial with the highest combined rate.
	Best MongoTrial `json:"best"`
}

// Mongo is MongoBatches with DefaultMongoShapes.
func Mongo(ctx context.Context, uri, database string, c corpus.Corpus, n int) (MongoResult, error) {
	return MongoBatches(ctx, uri, database, c, n, DefaultMongoShapes)
}

// MongoBatches builds the chunk, term-head and document bodies the persister
// stores for the first n documents of c (n <= 0: all), then, per shape,
// writes them into database (dropped before and after) with unordered
// insertMany calls of that shape, timing each kind separately.
// The documents are BSON-encoded before the timer starts.
func MongoBatches(ctx context.Context, uri, database string, c corpus.Corpus, n int, shapes []MongoShape) (MongoResult, error) {
	n = limit(c, n)
	res := MongoResult{Corpus: c.Name(), Docs: n, Database: database, MaxChunk: posting.MaxChunk}
	if len(shapes) == 0 {
		return res, fmt.Errorf("no trial shapes")
	}
	// Every trial drops the database after it: it must be this run's own.
	if err := checkNoDatabase(ctx, uri, database); err != nil {
		return res, err
	}
	set, err := persistedDocuments(c, n, posting.MaxChunk)
	if err != nil {
		return res, err
	}
	for _, sh := range shapes {
		if sh.BatchSize < 1 || sh.InFlight < 1 {
			return res, fmt.Errorf("batch size %d, %d in flight: want at least 1 of each", sh.BatchSize, sh.InFlight)
		}
		t, err := mongoTrial(ctx, uri, database, set, sh)
		if err != nil {
			return res, fmt.Errorf("batch size %d, %d in flight: %w", sh.BatchSize, sh.InFlight, err)
		}
		res.Trials = append(res.Trials, t)
	}
	res.Best = slices.MaxFunc(res.Trials, func(a, b MongoTrial) int {
		return cmp.Compare(a.CorpusDocsPerSec, b.CorpusDocsPerSec)
	})
	return res, nil
}

func mongoTrial(ctx context.Context, uri, database string, set *mongoSet, sh MongoShape) (t MongoTrial, err error) {
	// mongostore.Open makes the persister's indexes.
	s, err := mongostore.Open(ctx, uri, database, zerolog.Nop())
	if err != nil {
		return MongoTrial{BatchSize: sh.BatchSize, InFlight: sh.InFlight}, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if derr := s.Database().Drop(dctx); derr != nil {
			err = errors.Join(err, fmt.Errorf("drop database %q: %w", database, derr))
		}
		_ = s.Close(dctx)
	}()
	t, err = writeSet(ctx, s.Database(), set, sh)
	t.CorpusDocsPerSec = rate(int64(len(set.docs)), t.Combined.Seconds)
	return t, err
}

// writeSet inserts set into db with insertMany calls of shape sh and
// checks that each collection holds what was inserted.
func writeSet(ctx context.Context, db *mongo.Database, set *mongoSet, sh MongoShape) (MongoTrial, error) {
	t := MongoTrial{BatchSize: sh.BatchSize, InFlight: sh.InFlight}
	kinds := []struct {
		coll     string
		docs     []bson.Raw
		postings int64
		w        *MongoWrite
	}{
		{mongostore.CollDocuments, set.docs, 0, &t.Documents},
		{mongostore.CollChunks, set.chunks, set.postings, &t.Chunks},
		{mongostore.CollTerms, set.heads, 0, &t.Heads},
	}
	var all time.Duration
	for _, k := range kinds {
		c := db.Collection(k.coll)
		start := time.Now()
		reqs, err := insertAll(ctx, c, k.docs, sh)
		if err != nil {
			return t, err
		}
		d := time.Since(start)
		all += d
		*k.w = mongoWrite(len(k.docs), rawBytes(k.docs), k.postings, reqs, d)
		got, err := c.CountDocuments(ctx, bson.D{})
		if err != nil {
			return t, fmt.Errorf("count %s: %w", k.coll, err)
		}
		if got != int64(len(k.docs)) {
			return t, fmt.Errorf("%s holds %d documents after inserting %d", k.coll, got, len(k.docs))
		}
	}
	t.Combined = mongoWrite(t.Chunks.Docs+t.Heads.Docs+t.Documents.Docs, t.Chunks.Bytes+t.Heads.Bytes+t.Documents.Bytes,
		set.postings, t.Chunks.Requests+t.Heads.Requests+t.Documents.Requests, all)
	return t, nil
}

func mongoWrite(docs int, bytes, postings int64, reqs int, d time.Duration) MongoWrite {
	w := MongoWrite{Throughput: throughput(docs, bytes, d), Postings: postings, Requests: reqs}
	w.PostingsPerSec = rate(postings, w.Seconds)
	return w
}

// insertAll inserts docs with unordered insert commands of at most
// sh.BatchSize documents, sh.InFlight at once, split and sent as the
// persister sends them (mongostore.Steps, mongostore.InsertRaw), and
// returns the number of commands.
func insertAll(ctx context.Context, c *mongo.Collection, docs []bson.Raw, sh MongoShape) (int, error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(sh.InFlight, 1))
	steps := mongostore.Steps(docs, sh.BatchSize)
	for _, part := range steps {
		g.Go(func() error {
			_, err := mongostore.InsertRaw(gctx, c, part)
			return err
		})
	}
	return len(steps), g.Wait()
}

func rawBytes(docs []bson.Raw) int64 {
	var n int64
	for _, d := range docs {
		n += int64(len(d))
	}
	return n
}

// mongoSet is the MongoDB documents of a bulk load, BSON-encoded.
type mongoSet struct {
	chunks, heads, docs []bson.Raw
	postings            int64
}

// The persister's MongoDB documents (pkg/mongostore store.go: chunkDoc,
// headDoc, chunkMeta, storedDoc; docs/data-model.md). mongostore keeps these
// types unexported; persistedDocuments is the one place that restates them.
type (
	benchChunk struct {
		ID    string `bson:"_id"`
		TK    string `bson:"tk"`
		Index string `bson:"index"`
		Lo    int64  `bson:"lo"`
		Hi    int64  `bson:"hi"`
		N     int64  `bson:"n"`
		P     []byte `bson:"p"`
	}
	benchChunkMeta struct {
		Lo int64 `bson:"lo"`
		Hi int64 `bson:"hi"`
		N  int64 `bson:"n"`
	}
	benchHead struct { // as stored: no field or term, no chunk list when inline
		ID     string           `bson:"_id"`
		Index  string           `bson:"index"`
		N      int64            `bson:"n"`
		Chunks []benchChunkMeta `bson:"chunks,omitempty"`
		P      []byte           `bson:"p,omitempty"`
	}
	benchStored struct {
		ID     string `bson:"_id"`
		Index  string `bson:"index"`
		DocID  string `bson:"id"`
		Source string `bson:"src"`
		Offset int64  `bson:"o"`
	}
)

// persistedDocuments builds what MongoDB holds after the persister applied
// a bulk load of the first n documents of c (document i at offset i of one
// partition): every term's postings, sorted by (hash, id) and split into
// hash-range chunks of at most maxChunk postings by posting.Split, encoded
// by posting.Encode; the term heads listing them (a term of one chunk holds
// its postings in its head and has no chunk document); the stored
// documents.
// A persister that grew the lists batch by batch may have cut its chunks at
// other hashes; their number and sizes are about the same.
func persistedDocuments(c corpus.Corpus, n, maxChunk int) (*mongoSet, error) {
	type hashed struct {
		h uint64
		p posting.Posting
	}
	type termAcc struct {
		key string
		ps  []hashed
	}
	terms := map[string]*termAcc{}
	var order []*termAcc
	seen := make(map[string]struct{}, n)
	set := &mongoSet{}
	for i := range n {
		d := c.Doc(i)
		src, an, err := analyzeDoc(i, d, seen)
		if err != nil {
			return nil, err
		}
		h := posting.Hash(d.ID)
		for _, f := range an.Fields {
			for _, tf := range f.Terms {
				k := mongostore.TermKey(Index, f.Name, tf.Term)
				t := terms[k]
				if t == nil {
					t = &termAcc{key: k}
					terms[k] = t
					order = append(order, t)
				}
				t.ps = append(t.ps, hashed{h, posting.Posting{Doc: d.ID, TF: tf.TF, Length: f.Length}})
			}
		}
		raw, err := bson.Marshal(benchStored{ID: Index + "/" + d.ID, Index: Index, DocID: d.ID,
			Source: string(src), Offset: int64(i)})
		if err != nil {
			return nil, fmt.Errorf("corpus document %d: %w", i, err)
		}
		set.docs = append(set.docs, raw)
	}
	slices.SortFunc(order, func(a, b *termAcc) int { return cmp.Compare(a.key, b.key) })
	for _, t := range order {
		slices.SortFunc(t.ps, func(a, b hashed) int {
			if c := cmp.Compare(a.h, b.h); c != 0 {
				return c
			}
			return cmp.Compare(a.p.Doc, b.p.Doc)
		})
		ps := make([]posting.Posting, len(t.ps))
		for i, x := range t.ps {
			ps[i] = x.p
		}
		t.ps = nil
		parts := posting.Split(posting.Chunk{Lo: 0, Hi: math.MaxUint64, Postings: ps}, maxChunk)
		head := benchHead{ID: t.key, Index: Index, N: int64(len(ps))}
		if len(parts) == 1 {
			// A term of one chunk keeps its postings in its head.
			head.P = posting.Encode(nil, ps)
			parts = nil
		}
		for _, p := range parts {
			ch := benchChunk{ID: fmt.Sprintf("%s#%016x-%016x", t.key, p.Lo, p.Hi), TK: t.key, Index: Index,
				Lo: int64(p.Lo), Hi: int64(p.Hi), N: int64(len(p.Postings)), P: posting.Encode(nil, p.Postings)}
			raw, err := bson.Marshal(ch)
			if err != nil {
				return nil, fmt.Errorf("chunk %s: %w", ch.ID, err)
			}
			set.chunks = append(set.chunks, raw)
			head.Chunks = append(head.Chunks, benchChunkMeta{Lo: ch.Lo, Hi: ch.Hi, N: ch.N})
		}
		raw, err := bson.Marshal(head)
		if err != nil {
			return nil, fmt.Errorf("head %s: %w", head.ID, err)
		}
		set.heads = append(set.heads, raw)
		set.postings += int64(len(ps))
	}
	return set, nil
}

// checkNoDatabase fails if database holds a collection on the server at
// uri. (It asks for the collections of that database only: listing the
// databases makes FerretDB size every one of them.)
func checkNoDatabase(ctx context.Context, uri, database string) error {
	cl, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(10 * time.Second))
	if err != nil {
		return fmt.Errorf("connect to mongodb: %w", err)
	}
	defer cl.Disconnect(context.WithoutCancel(ctx))
	names, err := cl.Database(database).ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("list collections of %q: %w", database, err)
	}
	if len(names) > 0 {
		return fmt.Errorf("database %q exists already (collections %v): the MongoDB stage creates and drops its own", database, names)
	}
	return nil
}
