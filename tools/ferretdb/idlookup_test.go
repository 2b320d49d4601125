package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestIDLookupUsesIndex runs the embedded FerretDB (built with the
// launcher's patches: scripts/ferretdb.sh overlay) and asks it to explain a
// find by _id: SQLite must plan it with the collection's _id index, not a
// scan. Without the patch in _patch/internal/backends/sqlite/metadata/metadata.go
// the plan is "SCAN".
func TestIDLookupUsesIndex(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := startEmbedded(t, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))

	c := client.Database("idx").Collection("c")
	docs := make([]any, 2000)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: fmt.Sprintf("k%05d", i)}, {Key: "n", Value: i}}
	}
	if _, err := c.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	var res bson.M
	err := client.Database("idx").RunCommand(ctx, bson.D{{Key: "explain", Value: bson.D{
		{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "_id", Value: "k00042"}}}}}}).Decode(&res)
	if err != nil {
		t.Fatal(err)
	}
	plan := fmt.Sprint(res["queryPlanner"])
	if !strings.Contains(plan, "USING INDEX") || res["filterPushdown"] != true {
		t.Fatalf("find by _id is not an index lookup: queryPlanner %s, filterPushdown %v", plan, res["filterPushdown"])
	}
	// The lookup, a replace and a delete by _id work.
	var got bson.M
	if err := c.FindOne(ctx, bson.D{{Key: "_id", Value: "k00042"}}).Decode(&got); err != nil || got["n"] != int32(42) {
		t.Fatalf("find by _id: %v, %v", got, err)
	}
	if r, err := c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: "k00042"}}, bson.D{{Key: "n", Value: -1}}); err != nil || r.MatchedCount != 1 {
		t.Fatalf("replace by _id: %+v, %v", r, err)
	}
	if r, err := c.DeleteOne(ctx, bson.D{{Key: "_id", Value: "k00043"}}); err != nil || r.DeletedCount != 1 {
		t.Fatalf("delete by _id: %+v, %v", r, err)
	}
	if n, err := c.CountDocuments(ctx, bson.D{}); err != nil || n != 1999 {
		t.Fatalf("count: %d, %v", n, err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// startEmbedded runs an embedded FerretDB (SQLite in a temporary directory,
// built with the launcher's patches) for the test and returns a client of
// it; both stop when the test ends.
func startEmbedded(tb testing.TB, logger *slog.Logger) *mongo.Client {
	tb.Helper()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: (&url.URL{Scheme: "file", Path: filepath.ToSlash(tb.TempDir()) + "/"}).String(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	run, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(run) }()
	tb.Cleanup(func() { stop(); <-done })
	client, err := mongo.Connect(options.Client().ApplyURI(f.MongoDBURI()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client
}
