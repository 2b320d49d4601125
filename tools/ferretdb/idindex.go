package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the driver FerretDB's SQLite backend uses
)

// FerretDB 1.24's SQLite backend gives every collection a unique index on
// the expression `_ferretdb_sjson->"_id"`, but the queries it pushes
// down (find, update and delete by one _id, and the delete of the matched
// ids) compare `_ferretdb_sjson->'$._id'`. SQLite uses an expression
// index only for the same expression, so every one of those queries scans
// the whole table: a persister batch then costs time proportional to the
// collection, not to the batch. MongoDB (and FerretDB on PostgreSQL) look
// _id up in an index.
//
// indexIDs closes that gap from outside: it adds to every collection table
// an index on exactly the expression the queries use, as soon as the
// collection exists. The index is invisible to FerretDB's catalog
// (listIndexes does not show it) and goes with the table when the
// collection or database is dropped. -id-index=false turns it off, so the
// difference can be measured.
func indexIDs(ctx context.Context, dir string, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	// A database whose files have not changed since it was last found
	// fully indexed is not opened again: a new collection writes its table
	// to the write-ahead log (or the file) first.
	done := map[string]time.Time{}
	for {
		files, err := filepath.Glob(filepath.Join(dir, "*.sqlite"))
		if err != nil {
			log.Warn("id index: list databases", "err", err)
		}
		for _, f := range files {
			changed := lastChange(f)
			if at, ok := done[f]; ok && !changed.After(at) {
				continue
			}
			n, err := indexFile(ctx, f)
			switch {
			case err != nil:
				log.Debug("id index", "file", f, "err", err)
				delete(done, f)
				continue
			case n > 0:
				log.Info("id index: indexed _id lookups", "file", filepath.Base(f), "tables", n)
			}
			done[f] = lastChange(f)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lastChange is the latest modification time of a database's file and its
// write-ahead log.
func lastChange(path string) time.Time {
	var t time.Time
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil && fi.ModTime().After(t) {
			t = fi.ModTime()
		}
	}
	return t
}

// idIndexSuffix names the added index: <table>_termflow_id.
const idIndexSuffix = "_termflow_id"

// indexFile adds the missing _id indexes in one database file and returns
// how many it added. The file is opened read-write without create (a
// database dropped meanwhile is not brought back) and closed again, so no
// handle outlives a drop.
func indexFile(ctx context.Context, path string) (int, error) {
	u := url.URL{Scheme: "file", Path: path, RawQuery: "mode=rw&_pragma=busy_timeout(10000)"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return 0, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT t.name FROM sqlite_master t
		WHERE t.type = 'table' AND t.sql LIKE '%_ferretdb_sjson%'
		AND NOT EXISTS (SELECT 1 FROM sqlite_master i WHERE i.type = 'index' AND i.name = t.name || ?)`, idIndexSuffix)
	if err != nil {
		return 0, err
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return 0, err
		}
		tables = append(tables, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, tb := range tables {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, tb+idIndexSuffix, tb)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return 0, fmt.Errorf("%s: %w", tb, err)
		}
	}
	return len(tables), nil
}
