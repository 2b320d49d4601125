package mongostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// The bulk writes of terms, chunks and documents go out as insert and
// update commands built here from the documents' BSON, which encodeAhead
// made once. The driver's InsertMany decodes every document again to find
// its _id, through a reader with a 4 KiB buffer, and copies it into the
// message; its BulkWrite marshals each replacement and filter anew. On
// zipf-100k that was a fifth of the persister's CPU, on cores it shares
// with the indexer and MongoDB. The commands are the ones the driver sends
// (the server's default write concern, as the store's client sets none),
// without the driver's one retry of a retryable write error: the
// persister retries the whole batch, which the journal makes safe.

// insertRaw sends one insert command of docs (each with an _id) to c.
// Write errors come back as the mongo.BulkWriteException InsertMany
// returns, with the index of each failed document.
func (s *Store) insertRaw(ctx context.Context, c *mongo.Collection, docs []bson.Raw) error {
	if err := s.beforeWrite(); err != nil {
		return err
	}
	n, err := InsertRaw(ctx, c, docs)
	s.sent(c.Name(), "insert", err, n)
	return err
}

// InsertRaw sends one unordered insert command of docs, encoded, to c and
// returns how many it inserted: the command InsertMany sends, without
// decoding and copying every document first, so docs must each have an _id
// and fit one command (16 MiB together). Write errors come back as the
// mongo.BulkWriteException InsertMany returns. The bench's raw bulk-write
// limit writes with it too, so the two compare like with like.
func InsertRaw(ctx context.Context, c *mongo.Collection, docs []bson.Raw) (int, error) {
	size := 64 + len(c.Name())
	for _, d := range docs {
		size += 8 + len(d)
	}
	idx, cmd := bsoncore.AppendDocumentStart(make([]byte, 0, size))
	cmd = bsoncore.AppendStringElement(cmd, "insert", c.Name())
	cmd = bsoncore.AppendBooleanElement(cmd, "ordered", false)
	arr, cmd := bsoncore.AppendArrayElementStart(cmd, "documents")
	for i, d := range docs {
		cmd = appendIndexed(cmd, i, d)
	}
	cmd, _ = bsoncore.AppendArrayEnd(cmd, arr)
	cmd, _ = bsoncore.AppendDocumentEnd(cmd, idx)
	n, err := runWrite(ctx, c, cmd)
	if err != nil {
		return 0, fmt.Errorf("insert %s: %w", c.Name(), err)
	}
	return n, nil
}

// replaceRaw sends one unordered update command that replaces, or inserts,
// the document of each id with docs[i].
func (s *Store) replaceRaw(ctx context.Context, c *mongo.Collection, ids []string, docs []bson.Raw) error {
	if err := s.beforeWrite(); err != nil {
		return err
	}
	size := 64 + len(c.Name())
	for i, d := range docs {
		size += 48 + len(ids[i]) + len(d)
	}
	idx, cmd := bsoncore.AppendDocumentStart(make([]byte, 0, size))
	cmd = bsoncore.AppendStringElement(cmd, "update", c.Name())
	cmd = bsoncore.AppendBooleanElement(cmd, "ordered", false)
	arr, cmd := bsoncore.AppendArrayElementStart(cmd, "updates")
	var stmt []byte
	for i, d := range docs {
		var sidx, q int32
		sidx, stmt = bsoncore.AppendDocumentStart(stmt[:0])
		q, stmt = bsoncore.AppendDocumentElementStart(stmt, "q")
		stmt = bsoncore.AppendStringElement(stmt, "_id", ids[i])
		stmt, _ = bsoncore.AppendDocumentEnd(stmt, q)
		stmt = bsoncore.AppendDocumentElement(stmt, "u", d)
		stmt = bsoncore.AppendBooleanElement(stmt, "upsert", true)
		stmt, _ = bsoncore.AppendDocumentEnd(stmt, sidx)
		cmd = appendIndexed(cmd, i, stmt)
	}
	cmd, _ = bsoncore.AppendArrayEnd(cmd, arr)
	cmd, _ = bsoncore.AppendDocumentEnd(cmd, idx)
	n, err := runWrite(ctx, c, cmd)
	s.sent(c.Name(), "update", err, n)
	if err != nil {
		return fmt.Errorf("bulk write %s: %w", c.Name(), err)
	}
	return nil
}

// Steps splits docs into the commands the store sends: at most maxDocs
// documents each and, past the first, at most stepBytes of them (as
// encodeAhead steps a batch's writes).
func Steps(docs []bson.Raw, maxDocs int) [][]bson.Raw {
	var out [][]bson.Raw
	for len(docs) > 0 {
		k, size := 1, len(docs[0])
		for k < min(maxDocs, len(docs)) && size+len(docs[k]) <= stepBytes {
			size += len(docs[k])
			k++
		}
		out = append(out, docs[:k])
		docs = docs[k:]
	}
	return out
}

// appendIndexed appends doc as element i of a BSON array.
func appendIndexed(dst []byte, i int, doc []byte) []byte {
	dst = append(dst, byte(bsoncore.TypeEmbeddedDocument))
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, 0)
	return append(dst, doc...)
}

// runWrite runs the write command cmd against c's database and returns the
// reply's n. Write errors and a write concern error become a
// mongo.BulkWriteException, as the driver's bulk writes return them.
func runWrite(ctx context.Context, c *mongo.Collection, cmd []byte) (int, error) {
	reply, err := c.Database().RunCommand(ctx, bson.Raw(cmd)).Raw()
	var we mongo.WriteException
	if errors.As(err, &we) {
		bwe := mongo.BulkWriteException{WriteConcernError: we.WriteConcernError, Labels: we.Labels}
		for _, e := range we.WriteErrors {
			bwe.WriteErrors = append(bwe.WriteErrors, mongo.BulkWriteError{WriteError: e})
		}
		return 0, bwe
	}
	if err != nil {
		return 0, err
	}
	n, ok := reply.Lookup("n").AsInt64OK()
	if !ok {
		return 0, fmt.Errorf("write reply without n: %s", reply)
	}
	return int(n), nil
}
