package main

import (
	"context"
	"database/sql"
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

// TestIDIndex runs FerretDB embedded with the _id indexer and checks that
// every collection gets the index, that SQLite plans FerretDB's
// pushed-down _id query with it, and that a dropped and re-created
// database gets it again.
func TestIDIndex(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    log,
		Handler:   "sqlite",
		SQLiteURL: (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir) + "/"}).String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	run, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(run) }()
	defer func() { stop(); <-done }()
	go indexIDs(run, dir, 50*time.Millisecond, log)

	client, err := mongo.Connect(options.Client().ApplyURI(f.MongoDBURI()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())

	for round := range 2 {
		db := client.Database("idx")
		for _, coll := range []string{"a", "b"} {
			docs := make([]any, 500)
			for i := range docs {
				docs[i] = bson.D{{Key: "_id", Value: fmt.Sprintf("%s%04d", coll, i)}, {Key: "n", Value: i}}
			}
			if _, err := db.Collection(coll).InsertMany(ctx, docs); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join(dir, "idx.sqlite")
		deadline := time.Now().Add(20 * time.Second)
		for {
			plans, err := idPlans(ctx, path)
			if err == nil && len(plans) == 2 && allUse(plans) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: _id lookups not indexed after 20 s: plans %v, error %v", round, plans, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		var got bson.M
		if err := db.Collection("b").FindOne(ctx, bson.D{{Key: "_id", Value: "b0042"}}).Decode(&got); err != nil || got["n"] != int32(42) {
			t.Fatalf("round %d: find by _id: %v, %v", round, got, err)
		}
		if err := db.Drop(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// idPlans returns, per collection table of the database file, SQLite's plan
// of the query FerretDB sends for a single-_id filter.
func idPlans(ctx context.Context, path string) (map[string]string, error) {
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: path, RawQuery: "mode=ro"}).String())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%_ferretdb_sjson%'`)
	if err != nil {
		return nil, err
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		tables = append(tables, n)
	}
	rows.Close()
	plans := map[string]string{}
	for _, tb := range tables {
		var id, parent, notused int
		var detail string
		q := fmt.Sprintf(`EXPLAIN QUERY PLAN SELECT _ferretdb_sjson FROM %q WHERE _ferretdb_sjson->'$._id' = ?`, tb)
		if err := db.QueryRowContext(ctx, q, `"x"`).Scan(&id, &parent, &notused, &detail); err != nil {
			return nil, err
		}
		plans[tb] = detail
	}
	return plans, nil
}

func allUse(plans map[string]string) bool {
	for tb, p := range plans {
		if !strings.Contains(p, "USING INDEX "+tb+idIndexSuffix) {
			return false
		}
	}
	return true
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(strings.TrimSpace(string(p))); return len(p), nil }
