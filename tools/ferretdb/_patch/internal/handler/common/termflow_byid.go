// Termflow patch (tools/ferretdb/_patch, applied with go build -overlay by
// scripts/ferretdb.sh): a file added to FerretDB's handler/common package.

package common

import (
	"context"
	"errors"
	"fmt"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/iterator"
	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// UpdateByIDsResult is what UpdateByIDs did: the counts of an update
// command's reply and its upserted array.
type UpdateByIDsResult struct {
	Matched  int32
	Modified int32
	Upserted *types.Array
}

// maxUpdateByIDs bounds the ids of one lookup (SQLite allows 32766 host
// parameters in a statement).
const maxUpdateByIDs = 10_000

// UpdateByIDs applies an update command whose statements each address a
// single document by an _id of its own (filter {_id: string or ObjectID},
// multi false; replacements and update operators alike): one lookup of all
// the ids (_id $in, an index search with the Termflow patch of the SQLite
// backend's Query), the statements applied in memory in order, then one
// UpdateAll of the changed documents and one InsertAll of the upserted ones,
// each a single SQLite transaction. Upstream runs every statement as its own
// query and its own transaction, which made a bulk of replaceOne by _id
// about 18 times as expensive per document as insertMany on the SQLite
// backend, where MongoDB charges them alike.
//
// It reports ok false, having written nothing, when the command has another
// shape or a statement fails before any write (an immutable _id, invalid
// data): the caller then runs upstream's statement-by-statement path, which
// applies the statements before the failing one and reports its error, as
// before. Distinct ids make the statements independent of one another, so
// applying them together gives the documents the statement-by-statement
// path gives. The upserted array holds each upsert's statement index (as
// MongoDB does; upstream numbers its upserts from 0).
func UpdateByIDs(ctx context.Context, c backends.Collection, cmd string, updates []Update) (*UpdateByIDsResult, bool, error) {
	if len(updates) < 2 || len(updates) > maxUpdateByIDs {
		return nil, false, nil
	}

	keys := make([]string, len(updates))
	index := make(map[string]int, len(updates))
	ids := types.MakeArray(len(updates))

	for i, u := range updates {
		if u.Multi || u.Filter == nil || u.Filter.Len() != 1 || u.Update == nil {
			return nil, false, nil
		}

		id, err := u.Filter.Get("_id")
		if err != nil {
			return nil, false, nil
		}

		k, ok := idKey(id)
		if !ok {
			return nil, false, nil
		}

		if _, dup := index[k]; dup {
			return nil, false, nil
		}

		keys[i], index[k] = k, i
		ids.Append(id)
	}

	if r, ok, err := replaceByIDs(ctx, c, updates); ok {
		return r, true, err
	}

	res, err := c.Query(ctx, &backends.QueryParams{
		Filter: must.NotFail(types.NewDocument("_id", must.NotFail(types.NewDocument("$in", ids)))),
	})
	if err != nil {
		return nil, false, lazyerrors.Error(err)
	}

	found := make([]*types.Document, len(updates))

	for {
		_, doc, err := res.Iter.Next()
		if errors.Is(err, iterator.ErrIteratorDone) {
			break
		}

		if err != nil {
			res.Iter.Close()
			return nil, false, lazyerrors.Error(err)
		}

		id, _ := doc.Get("_id")
		if k, ok := idKey(id); ok {
			if i, ok := index[k]; ok {
				found[i] = doc
			}
		}
	}

	res.Iter.Close()

	r := &UpdateByIDsResult{Upserted: types.MakeArray(0)}

	var changed, inserted []*types.Document

	for i, u := range updates {
		doc, upsert := found[i], false

		if doc == nil {
			if !u.Upsert {
				continue
			}

			upsert, doc = true, must.NotFail(types.NewDocument())
			if err = processFilterEqualityCondition(doc, u.Filter); err != nil {
				return nil, false, nil
			}
		}

		var modified bool
		if !u.HasUpdateOperators {
			modified, err = processReplacementDoc(cmd, doc, u.Update)
		} else {
			modified, err = processUpdateOperator(cmd, doc, u.Update, upsert)
		}

		if err != nil {
			return nil, false, nil
		}

		if !doc.Has("_id") {
			doc.Set("_id", types.NewObjectID())
		}

		if err = doc.ValidateData(); err != nil {
			return nil, false, nil
		}

		switch {
		case upsert:
			inserted = append(inserted, doc)
			r.Upserted.Append(must.NotFail(types.NewDocument(
				"index", int32(i),
				"_id", must.NotFail(doc.Get("_id")),
			)))
			r.Matched++ // as upstream: an upsert counts as matched
		case modified:
			changed = append(changed, doc)
			r.Matched++
			r.Modified++
		default:
			r.Matched++
		}
	}

	if len(changed) > 0 {
		if _, err = c.UpdateAll(ctx, &backends.UpdateAllParams{Docs: changed}); err != nil {
			return nil, true, lazyerrors.Error(err)
		}
	}

	if len(inserted) > 0 {
		if _, err = c.InsertAll(ctx, &backends.InsertAllParams{Docs: inserted}); err != nil {
			return nil, true, lazyerrors.Error(err)
		}
	}

	return r, true, nil
}

// idKey returns a map key of an _id UpdateByIDs and the Query pushdown
// handle (a string or an ObjectID).
func idKey(id any) (string, bool) {
	switch id := id.(type) {
	case string:
		return "s" + id, true
	case types.ObjectID:
		return fmt.Sprintf("o%x", id[:]), true
	default:
		return "", false
	}
}

// replaceByIDs is UpdateByIDs for a command of replacements only, on a
// backend that upserts (the patched SQLite backend, see
// backends.UpdateAllParams.Upsert): the new documents are built from the
// statements alone ({_id, the replacement's other fields in order}, what
// upstream's processReplacementDoc makes of any stored document) and
// written in one transaction without reading or decoding the stored ones.
// A replacement equal to the stored document leaves it unchanged (matched,
// not modified, as on MongoDB). It reports ok false, having written
// nothing, when the command has other statements, the backend cannot, or a
// replacement names another _id or holds invalid data.
func replaceByIDs(ctx context.Context, c backends.Collection, updates []Update) (*UpdateByIDsResult, bool, error) {
	for _, u := range updates {
		if u.HasUpdateOperators {
			return nil, false, nil
		}
	}

	probe, err := c.UpdateAll(ctx, &backends.UpdateAllParams{Upsert: []bool{}})
	if err != nil || probe.Outcomes == nil {
		return nil, false, nil
	}

	docs := make([]*types.Document, len(updates))
	upsert := make([]bool, len(updates))

	for i, u := range updates {
		id := must.NotFail(u.Filter.Get("_id"))
		doc := must.NotFail(types.NewDocument("_id", id))

		for _, k := range u.Update.Keys() {
			v := must.NotFail(u.Update.Get(k))
			if k == "_id" {
				if types.Compare(v, id) != types.Equal {
					return nil, false, nil // upstream reports the immutable _id
				}

				continue
			}

			doc.Set(k, v)
		}

		if err = doc.ValidateData(); err != nil {
			return nil, false, nil
		}

		docs[i], upsert[i] = doc, u.Upsert
	}

	res, err := c.UpdateAll(ctx, &backends.UpdateAllParams{Docs: docs, Upsert: upsert})
	if err != nil {
		return nil, true, lazyerrors.Error(err)
	}

	if len(res.Outcomes) != len(docs) {
		return nil, true, lazyerrors.Errorf("upsert of %d documents reported %d outcomes", len(docs), len(res.Outcomes))
	}

	r := &UpdateByIDsResult{Upserted: types.MakeArray(0)}

	for i, o := range res.Outcomes {
		switch o {
		case backends.UpdateReplaced:
			r.Matched++
			r.Modified++
		case backends.UpdateUnchanged:
			r.Matched++
		case backends.UpdateInserted:
			r.Matched++ // as upstream: an upsert counts as matched
			r.Upserted.Append(must.NotFail(types.NewDocument("index", int32(i), "_id", must.NotFail(docs[i].Get("_id")))))
		case backends.UpdateMissing:
		}
	}

	return r, true, nil
}
