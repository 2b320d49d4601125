// Command termflow-opsim measures what a MongoDB server charges per term
// head for the writes of the benchmark's 5000-document operations, without
// the pipeline: it computes, from the same synthetic corpus and analyzer,
// the term heads each operation writes (one per (term, field), with
// inline postings of the size the persister would store), inserts the new
// ones and replaces the stored ones with the persister's command shapes
// (unordered insertMany, unordered bulk writes of replaceOne upserts, up to
// 10,000 per command, sorted by _id), and prints the time per document of
// each kind. It isolates the server's side of the operations' growth (the
// later ones replace more stored heads) from everything else.
//
//	termflow-opsim -uri mongodb://127.0.0.1:27018 [-in-flight 2] [-ops 3] [-skip 17850] [-full-heads]
//
// It writes to the database termflow_opsim, dropped first and last.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/termflow/termflow/bench/corpus"
	"github.com/termflow/termflow/pkg/analysis"
)

func main() {
	uri := flag.String("uri", os.Getenv("MONGO_URI"), "MongoDB URI (default $MONGO_URI)")
	inFlight := flag.Int("in-flight", 2, "commands of a kind in flight at once (the persister's sendsInFlight)")
	ops := flag.Int("ops", 3, "operations of 5000 documents")
	skip := flag.Int("skip", 17850, "corpus documents before the first operation's (the benchmark's latency run takes them)")
	seed := flag.Uint64("seed", 1, "seed of the synthetic corpus")
	full := flag.Bool("full-heads", false, "write heads as versions before the ninth session did (with field, term and an inline term's chunk list)")
	indexOnIndex := flag.Bool("index-on-index", false, "keep a secondary index on the heads' index field, as versions before the eleventh session did")
	flag.Parse()
	if err := run(*uri, *inFlight, *ops, *skip, *seed, *full, *indexOnIndex); err != nil {
		fmt.Fprintln(os.Stderr, "termflow-opsim:", err)
		os.Exit(1)
	}
}

func run(uri string, inFlight, ops, skip int, seed uint64, full, indexOnIndex bool) error {
	if uri == "" {
		return fmt.Errorf("no -uri and no MONGO_URI")
	}
	ctx := context.Background()
	cl, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return err
	}
	defer cl.Disconnect(ctx)
	db := cl.Database("termflow_opsim")
	if err := db.Drop(ctx); err != nil {
		return err
	}
	defer db.Drop(ctx)
	coll := db.Collection("terms")
	// mongostore keeps no secondary index; earlier versions had one here.
	if indexOnIndex {
		if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "index", Value: 1}}}); err != nil {
			return err
		}
	}
	c := corpus.Zipf(seed, skip+ops*5000)
	postings := map[string]int{}
	for op := range ops {
		touched := map[string]int{}
		for i := skip + op*5000; i < skip+(op+1)*5000; i++ {
			a, err := analysis.AnalyzeJSON(c.Doc(i).JSON)
			if err != nil {
				return err
			}
			for _, f := range a.Fields {
				for _, t := range f.Terms {
					touched["op5000|"+t.Term+"|"+f.Name]++
				}
			}
		}
		keys := make([]string, 0, len(touched))
		for k := range touched {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var ins []any
		var upd []mongo.WriteModel
		for _, k := range keys {
			before := postings[k]
			postings[k] += touched[k]
			if before == 0 {
				ins = append(ins, head(k, postings[k], full))
			} else {
				upd = append(upd, mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: k}}).
					SetReplacement(head(k, postings[k], full)).SetUpsert(true))
			}
		}
		ti, err := inSteps(len(ins), inFlight, func(from, to int) error {
			_, err := coll.InsertMany(ctx, ins[from:to], options.InsertMany().SetOrdered(false))
			return err
		})
		if err != nil {
			return err
		}
		tu, err := inSteps(len(upd), inFlight, func(from, to int) error {
			_, err := coll.BulkWrite(ctx, upd[from:to], options.BulkWrite().SetOrdered(false))
			return err
		})
		if err != nil {
			return err
		}
		fmt.Printf("operation %d: %d heads inserted in %v (%.1f µs each), %d replaced in %v (%.1f µs each)\n",
			op+1, len(ins), ti.Round(time.Millisecond), perDoc(ti, len(ins)), len(upd), tu.Round(time.Millisecond), perDoc(tu, len(upd)))
	}
	return nil
}

// head is a term head as the persister stores an inline term of n postings
// (about 11 bytes each: an id of the corpus, tf and field length); full, as
// versions before the ninth session stored it (with its field, term and
// one-chunk list).
func head(key string, n int, full bool) bson.D {
	parts := strings.SplitN(key, "|", 3)
	if !full {
		return bson.D{{Key: "_id", Value: key}, {Key: "index", Value: parts[0]}, {Key: "n", Value: n},
			{Key: "p", Value: bson.Binary{Data: make([]byte, 2+n*11)}}}
	}
	return bson.D{{Key: "_id", Value: key}, {Key: "index", Value: parts[0]}, {Key: "field", Value: parts[2]}, {Key: "term", Value: parts[1]},
		{Key: "n", Value: n}, {Key: "chunks", Value: bson.A{bson.D{{Key: "lo", Value: 0}, {Key: "hi", Value: -1}, {Key: "n", Value: n}}}},
		{Key: "p", Value: bson.Binary{Data: make([]byte, 2+n*11)}}}
}

// inSteps runs send over [0, n) in commands of 10,000, inFlight at once,
// and returns the time they took.
func inSteps(n, inFlight int, send func(from, to int) error) (time.Duration, error) {
	start := time.Now()
	var g errgroup.Group
	g.SetLimit(max(inFlight, 1))
	for from := 0; from < n; from += 10000 {
		g.Go(func() error { return send(from, min(from+10000, n)) })
	}
	err := g.Wait()
	return time.Since(start), err
}

func perDoc(d time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(n)
}
