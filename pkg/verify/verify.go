// Package verify is the oracle of Termflow's fault tests: it recomputes the
// index that the documents topic implies and compares it with what MongoDB
// (and optionally the indexers' Pebble stores) hold.
//
// Expected state. Every partition of the documents topic is read from its
// start to the high watermark taken when verification starts. Each record is
// decoded exactly as the indexer decodes it (document.Decode, then
// analysis.AnalyzeJSON): a record that fails is a dead letter and changes
// nothing, a nil value (tombstone) or an envelope with "delete": true removes
// the document, anything else replaces it. Within a partition the latest
// record of a document wins (a key always maps to one partition). The live
// documents give, per index, the document count, the per-field statistics
// (documents having the field, total field length) and, per (index, field,
// term), the postings {document id → (tf, field length)}, derived the way the
// indexer derives them (its forward entries: per field the length and each
// term's frequency).
//
// Actual state. MongoDB's collections (docs/data-model.md) are read with one
// unfiltered query each, or one filtered by index when Config.Indexes is set:
// FerretDB's SQLite backend pushes down only single-_id equality filters, so
// every other query is a full scan and a query per term would cost a scan
// per term.
//
// Comparison (Compare). Every difference is reported with a kind (the Kind
// constants): documents missing, extra or with another body or offset;
// document counts and field statistics; terms missing or extra; postings
// missing, extra or with another tf or field length; a term head whose n is
// not the sum of its chunks' n; a chunk whose n disagrees with its head or
// its postings, with more than posting.MaxChunk postings, with postings
// outside its hash range or out of (hash, id) order; a document id in two
// chunks of a term; chunk ranges that overlap or leave gaps in the hash
// space; chunks a head lists but that do not exist, and chunks no head lists
// (orphans). With Config.PebbleDirs the union of the stores' postings and
// forward entries is compared too: each partition is taken from the store
// with the highest applied offset for it.
//
// Verification expects a quiet pipeline: records produced while it runs are
// ignored, but documents the persister has not applied yet show up as
// differences.
package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/termflow/termflow/pkg/document"
	"github.com/termflow/termflow/pkg/kclient"
	"github.com/termflow/termflow/pkg/pebblestore"
	"github.com/termflow/termflow/pkg/topic"
)

// Default values of Config.
const (
	DefaultBrokers  = "127.0.0.1:9092"
	DefaultMongoURI = "mongodb://127.0.0.1:27017"
	DefaultDatabase = "termflow"
	DefaultMaxDiffs = 20
)

// Config says what to verify.
type Config struct {
	// Brokers are the Kafka seed brokers. The default value is
	// ["127.0.0.1:9092"].
	Brokers []string
	// Kafka holds the SASL and TLS settings for the brokers (its Brokers
	// field is ignored). The default value is none: plaintext.
	Kafka kclient.Config
	// DocumentsTopic is the documents topic. The default value is
	// "termflow.documents".
	DocumentsTopic string
	// MongoURI is the MongoDB connection string. The default value is
	// "mongodb://127.0.0.1:27017".
	MongoURI string
	// Database is the persister's database. The default value is "termflow".
	Database string
	// PebbleDirs are indexer Pebble directories (DATA_DIR/<instance>/pebble)
	// to compare as well, opened read-only: their indexers must be stopped.
	// The default value is none.
	PebbleDirs []string
	// Indexes restricts verification to these indexes. The default value,
	// empty, verifies every index.
	Indexes []string
	// MaxDiffs bounds the differences listed per kind (all are counted).
	// The default value (0) is 20; a negative value lists all.
	MaxDiffs int
	// MaxDocumentBytes is the indexer's record size limit: larger records
	// are dead letters. The default value is document.DefaultMaxBytes.
	MaxDocumentBytes int
}

func (c Config) withDefaults() Config {
	if len(c.Brokers) == 0 {
		c.Brokers = []string{DefaultBrokers}
	}
	if c.DocumentsTopic == "" {
		c.DocumentsTopic = topic.Defaults().Documents
	}
	if c.MongoURI == "" {
		c.MongoURI = DefaultMongoURI
	}
	if c.Database == "" {
		c.Database = DefaultDatabase
	}
	if c.MaxDiffs == 0 {
		c.MaxDiffs = DefaultMaxDiffs
	}
	if c.MaxDocumentBytes <= 0 {
		c.MaxDocumentBytes = document.DefaultMaxBytes
	}
	return c
}

// Validate checks the configuration after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	for _, b := range c.Brokers {
		if strings.TrimSpace(b) == "" {
			return errors.New("empty Kafka broker address")
		}
	}
	for _, ix := range c.Indexes {
		if err := document.ValidateIndex(ix); err != nil {
			return err
		}
	}
	for _, d := range c.PebbleDirs {
		if d == "" {
			return errors.New("empty pebble directory")
		}
	}
	return nil
}

// Report is the outcome of a verification.
type Report struct {
	// Expected counts: live documents, terms and postings. Chunks is the
	// number of chunk documents checked in MongoDB.
	Documents int `json:"documents"`
	Terms     int `json:"terms"`
	Postings  int `json:"postings"`
	Chunks    int `json:"chunks"`
	// Records is the number of documents-topic records read; DeadLetters
	// the ones that failed decoding or analysis.
	Records     int `json:"records"`
	DeadLetters int `json:"deadLetters"`
	// Diffs lists differences, at most Config.MaxDiffs per kind, grouped
	// by kind. Each starts with its kind: "posting missing: ...".
	Diffs []string `json:"diffs"`
	// DiffCount is the number of differences, listed or not; Kinds counts
	// them per kind (the Kind constants).
	DiffCount int            `json:"diffCount"`
	Kinds     map[string]int `json:"kinds,omitempty"`
	// Warnings are observations that are not differences (a partition
	// whose end could not be reached, for instance).
	Warnings []string `json:"warnings,omitempty"`
	// Elapsed is how long Run took.
	Elapsed time.Duration `json:"elapsedNs"`
}

// OK reports whether no difference was found.
func (r *Report) OK() bool { return r.DiffCount == 0 }

// Run reads the documents topic, MongoDB and the Pebble stores of cfg and
// compares them. A non-nil error is an operational failure (Kafka or MongoDB
// unreachable, a Pebble store that cannot be opened); differences are in the
// report.
func Run(ctx context.Context, cfg Config, log zerolog.Logger) (*Report, error) {
	start := time.Now()
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}

	// Pebble first: a store still locked by its indexer fails fast.
	stores := make([]*pebblestore.Store, 0, len(cfg.PebbleDirs))
	defer func() {
		for _, s := range stores {
			_ = s.Close()
		}
	}()
	for _, dir := range cfg.PebbleDirs {
		s, err := pebblestore.OpenReadOnly(dir, pebblestore.Options{})
		if err != nil {
			return nil, fmt.Errorf("%w (is its indexer stopped?)", err)
		}
		stores = append(stores, s)
	}

	exp := NewExpected(cfg.MaxDocumentBytes, cfg.Indexes)
	var act *Actual
	var warnings []string
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		kc := cfg.Kafka
		kc.Brokers = strings.Join(cfg.Brokers, ",")
		opts := kclient.Options(kc, "verify", log, nil)
		w, err := readTopic(gctx, opts, cfg.DocumentsTopic, exp, log)
		warnings = w
		return err
	})
	g.Go(func() error {
		var err error
		act, err = readMongo(gctx, cfg.MongoURI, cfg.Database, cfg.Indexes)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	kafkaMongo := time.Since(start)

	var pebbles []*PebbleStore
	if len(stores) > 0 {
		var err error
		if pebbles, err = readPebbles(stores, cfg.PebbleDirs, cfg.DocumentsTopic, exp); err != nil {
			return nil, err
		}
	}
	rep := Compare(exp, act, pebbles, cfg.MaxDiffs)
	rep.Warnings = append(warnings, rep.Warnings...)
	rep.Elapsed = time.Since(start)
	log.Debug().Dur("read", kafkaMongo).Dur("took", rep.Elapsed).Int("differences", rep.DiffCount).Msg("verified")
	return rep, nil
}

// readMongo connects and reads the collections.
func readMongo(ctx context.Context, uri, database string, indexes []string) (*Actual, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(10 * time.Second).
		SetTimeout(5 * time.Minute))
	if err != nil {
		return nil, fmt.Errorf("connect to mongodb: %w", err)
	}
	defer client.Disconnect(context.Background())
	if err := client.Ping(ctx, nil); err != nil {
		return nil, fmt.Errorf("connect to mongodb %s: %w", redactURI(uri), err)
	}
	return ReadMongo(ctx, client.Database(database), indexes)
}

// redactURI drops the credentials of a connection string for messages.
func redactURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return uri
	}
	if at := strings.LastIndexByte(strings.SplitN(rest, "/", 2)[0], '@'); at >= 0 {
		rest = "…@" + rest[at+1:]
	}
	return scheme + "://" + rest
}

// readPebbles reads the stores' applied offsets, decides which store holds
// each partition, and loads from each store only the postings and forward
// entries of the partitions it holds (and of documents the topic never
// had, which are extra wherever they are).
func readPebbles(stores []*pebblestore.Store, names []string, topic string, exp *Expected) ([]*PebbleStore, error) {
	out := make([]*PebbleStore, len(stores))
	for i, s := range stores {
		applied, err := s.AppliedOffsets(topic)
		if err != nil {
			return nil, fmt.Errorf("pebble %q: %w", names[i], err)
		}
		out[i] = &PebbleStore{Name: names[i], Applied: applied}
	}
	owner := owners(out)
	g := errgroup.Group{}
	for i, s := range stores {
		g.Go(func() error {
			keep := func(index, id string) bool {
				p, known := exp.partitionOf(index, id)
				return !known || owner[p] == i
			}
			if err := out[i].load(s, keep); err != nil {
				return fmt.Errorf("pebble %q: %w", names[i], err)
			}
			return nil
		})
	}
	return out, g.Wait()
}

// owners maps each partition to the store with the highest applied offset
// for it (the first one on a tie).
func owners(stores []*PebbleStore) map[int32]int {
	owner := map[int32]int{}
	for i, s := range stores {
		parts := make([]int32, 0, len(s.Applied))
		for p := range s.Applied {
			parts = append(parts, p)
		}
		slices.Sort(parts)
		for _, p := range parts {
			if o, ok := owner[p]; !ok || s.Applied[p] > stores[o].Applied[p] {
				owner[p] = i
			}
		}
	}
	return owner
}
