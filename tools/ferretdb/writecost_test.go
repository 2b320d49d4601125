package main

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// BenchmarkWriteCosts measures what one document costs the embedded
// FerretDB (patched as the launcher builds it) per kind of write, in a
// collection of 20,000 documents of ~300 bytes: unordered insertMany of
// 1000, bulk writes of 50 replaceOne (upsert) and of 50 updateOne $set,
// bulk writes of 1000 deleteOne, and single finds, all by _id. The
// persister's write path is shaped by these ratios (docs/design.md):
//
//	cd tools/ferretdb && GOWORK=off go test -mod=vendor -overlay "$(../../scripts/ferretdb.sh overlay)" \
//	  -run '^$' -bench WriteCosts -benchtime 1x .
func BenchmarkWriteCosts(b *testing.B) {
	for range b.N {
		writeCosts(b)
	}
}

func writeCosts(b *testing.B) {
	ctx := context.Background()
	client := startEmbedded(b, slog.New(slog.DiscardHandler))
	c := client.Database("w").Collection("c")
	payload := bson.Binary{Data: make([]byte, 300)}
	id := func(i int) string { return fmt.Sprintf("k%06d", i) }
	const n, m = 20000, 1000
	per := func(name string, docs int, fn func() error) {
		start := time.Now()
		if err := fn(); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(docs), name+"-ms/doc")
	}
	per("insert", n, func() error {
		for first := 0; first < n; first += 1000 {
			docs := make([]any, 1000)
			for i := range docs {
				docs[i] = bson.D{{Key: "_id", Value: id(first + i)}, {Key: "p", Value: payload}}
			}
			if _, err := c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
				return err
			}
		}
		return nil
	})
	bulk := func(step int, model func(i int) mongo.WriteModel) func() error {
		return func() error {
			for first := 0; first < m; first += step {
				models := make([]mongo.WriteModel, step)
				for i := range models {
					models[i] = model(first + i)
				}
				if _, err := c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	per("replace", m, bulk(50, func(i int) mongo.WriteModel {
		k := id(i * 7 % n)
		return mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: k}}).
			SetReplacement(bson.D{{Key: "_id", Value: k}, {Key: "p", Value: payload}, {Key: "v", Value: 2}}).SetUpsert(true)
	}))
	per("replace1000", m, bulk(1000, func(i int) mongo.WriteModel {
		k := id(i*11%n + 1)
		return mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: k}}).
			SetReplacement(bson.D{{Key: "_id", Value: k}, {Key: "p", Value: payload}, {Key: "v", Value: 2}}).SetUpsert(true)
	}))
	per("update", m, bulk(50, func(i int) mongo.WriteModel {
		return mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: id(i * 7 % n)}}).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: 3}}}})
	}))
	per("delete", m, bulk(1000, func(i int) mongo.WriteModel {
		return mongo.NewDeleteOneModel().SetFilter(bson.D{{Key: "_id", Value: id(i * 3 % n)}})
	}))
	ids := func(from, step int) bson.A {
		a := make(bson.A, m)
		for i := range a {
			a[i] = id((from + i*step) % n)
		}
		return a
	}
	per("deletein", m, func() error {
		r, err := c.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids(1, 3)}}}})
		if err == nil && r.DeletedCount != m {
			err = fmt.Errorf("deleted %d of %d", r.DeletedCount, m)
		}
		return err
	})
	per("findin", m, func() error {
		cur, err := c.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids(5, 13)}}}})
		if err != nil {
			return err
		}
		var docs []bson.M
		if err := cur.All(ctx, &docs); err != nil {
			return err
		}
		if len(docs) < m/2 {
			return fmt.Errorf("found %d of %d", len(docs), m)
		}
		return nil
	})
	per("find", m, func() error {
		for i := range m {
			var d bson.M
			if err := c.FindOne(ctx, bson.D{{Key: "_id", Value: id(n - 1 - i)}}).Decode(&d); err != nil {
				return err
			}
		}
		return nil
	})
}
