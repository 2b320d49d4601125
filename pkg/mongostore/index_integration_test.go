//go:build integration

package mongostore

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// indexNames lists a collection's indexes.
func indexNames(t *testing.T, c *mongo.Collection) []string {
	t.Helper()
	specs, err := c.Indexes().ListSpecifications(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	return names
}

// A store keeps no index besides _id's: Open drops the secondary indexes
// earlier versions created, and creates none, on a fresh database as on
// one written before.
func TestOpenDropsLegacyIndexes(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	for _, l := range legacyIndexes {
		key := "index"
		if l.name == "tk_1" {
			key = "tk"
		}
		if _, err := s.db.Collection(l.coll).Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: key, Value: 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := indexNames(t, s.terms); !slices.Equal(got, []string{"_id_", "index_1"}) {
		t.Fatalf("terms indexes before: %v", got)
	}
	// Open again, as a newer version does on a database written before.
	again, err := Open(ctx, os.Getenv("TERMFLOW_TEST_MONGO_URI"), s.db.Name(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close(ctx)
	for _, l := range legacyIndexes {
		if got := indexNames(t, s.db.Collection(l.coll)); !slices.Equal(got, []string{"_id_"}) {
			t.Errorf("%s indexes after Open: %v, want only _id_", l.coll, got)
		}
	}
	// And once more: nothing to drop is no error.
	if err := again.dropLegacyIndexes(ctx); err != nil {
		t.Fatal(err)
	}
}

// IndexFilter selects exactly one index's documents by _id range, in every
// collection, among indexes whose names share a prefix.
func TestIndexFilter(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	names := []string{"a", "a-b", "a_b", "ab", "a0", "b"}
	for _, coll := range []string{CollDocuments, CollTerms, CollChunks, CollFieldStats, CollIndexStats} {
		var docs []any
		for _, n := range names {
			switch coll {
			case CollDocuments:
				docs = append(docs, bson.D{{Key: "_id", Value: n + "/1"}}, bson.D{{Key: "_id", Value: n + "/x|y"}})
			case CollTerms, CollFieldStats:
				docs = append(docs, bson.D{{Key: "_id", Value: TermKey(n, "body", "go")}}, bson.D{{Key: "_id", Value: n + "|title"}})
			case CollChunks:
				docs = append(docs, bson.D{{Key: "_id", Value: TermKey(n, "body", "go") + "#0-1"}})
			case CollIndexStats:
				docs = append(docs, bson.D{{Key: "_id", Value: n}})
			}
		}
		if _, err := s.db.Collection(coll).InsertMany(ctx, docs); err != nil {
			t.Fatal(err)
		}
		for _, want := range [][]string{{"a"}, {"a", "ab"}, {"b", "a-b"}, {}} {
			cur, err := s.db.Collection(coll).Find(ctx, IndexFilter(coll, want...))
			if err != nil {
				t.Fatal(err)
			}
			var got []struct {
				ID string `bson:"_id"`
			}
			if err := cur.All(ctx, &got); err != nil {
				t.Fatal(err)
			}
			perIndex := len(docs) / len(names)
			if len(got) != perIndex*len(want) {
				t.Errorf("%s, indexes %v: %d documents %v, want %d", coll, want, len(got), got, perIndex*len(want))
			}
			for _, d := range got {
				index := d.ID
				if i := strings.IndexAny(d.ID, "/|"); i >= 0 {
					index = d.ID[:i]
				}
				if !slices.Contains(want, index) {
					t.Errorf("%s, indexes %v: got %q", coll, want, d.ID)
				}
			}
		}
	}
}
