package indexer

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/analysis"
	"github.com/termflow/termflow/pkg/dirtyterms"
	"github.com/termflow/termflow/pkg/document"
	"github.com/termflow/termflow/pkg/pebblestore"
	"github.com/termflow/termflow/pkg/progress"
)

// forwardReader reads the forward index as of the start of a batch.
type forwardReader interface {
	Forward(index, id string) (*pebblestore.Forward, error)
}

// batchResult is everything one batch produces: the Pebble writes, the
// dirty-terms event, progress messages and dead letters.
type batchResult struct {
	event    *dirtyterms.Event
	failures []deadLetter
	indexed  progress.Collector
	failed   map[string][]progress.Failure
	docs     int // documents indexed (upserts and deletes)
}

type deadLetter struct {
	rec    *kgo.Record
	reason string
}

type termKey struct{ index, field, term string }

// indexBatch analyzes recs (one partition, offset order, none applied yet),
// writes their postings, forward entries and the applied offset into pb, and
// builds the batch's event. Each record's changes are computed against the
// state left by the records before it, read through the batch's own overlay,
// so the event's per-record deltas are exact even when a batch changes the
// same document twice.
func indexBatch(fr forwardReader, pb *pebblestore.Batch, indexerID, topic string, partition int32,
	recs []*kgo.Record, maxDocBytes int) (*batchResult, error) {
	res := &batchResult{
		event: &dirtyterms.Event{V: dirtyterms.Version, Indexer: indexerID, Topic: topic, Partition: partition,
			FirstOffset: recs[0].Offset, LastOffset: recs[len(recs)-1].Offset},
		indexed: progress.Collector{},
		failed:  map[string][]progress.Failure{},
	}
	overlay := map[string]*pebblestore.Forward{} // index/id → entry after this batch's records so far
	inOverlay := map[string]bool{}
	terms := map[termKey]*dirtyterms.Term{}
	var order []termKey
	addOp := func(k termKey, op dirtyterms.Op) {
		t := terms[k]
		if t == nil {
			t = &dirtyterms.Term{Index: k.index, Field: k.field, Term: k.term}
			terms[k] = t
			order = append(order, k)
		}
		t.Ops = append(t.Ops, op)
	}

	for _, r := range recs {
		op, seq, hasOp := operationOf(r)
		env, err := document.Decode(r.Key, r.Value, maxDocBytes)
		var an analysis.Document
		if err == nil && !env.Delete {
			an, err = analysis.AnalyzeJSON(env.Doc)
			if err != nil {
				err = fmt.Errorf("invalid document JSON: %w", err)
			}
		}
		if err != nil {
			res.failures = append(res.failures, deadLetter{rec: r, reason: err.Error()})
			if hasOp {
				// A record that cannot be decoded still names its
				// document by its key.
				id := env.ID
				if id == "" {
					if _, kid, kerr := document.ParseKey(r.Key); kerr == nil {
						id = kid
					}
				}
				res.failed[op] = append(res.failed[op], progress.Failure{Seq: seq, ID: id, Reason: err.Error(),
					Partition: r.Partition, Offset: r.Offset})
			}
			continue
		}
		docKey := env.Index + "/" + env.ID
		old := overlay[docKey]
		if !inOverlay[docKey] {
			if old, err = fr.Forward(env.Index, env.ID); err != nil {
				return nil, err
			}
		}
		var next *pebblestore.Forward
		if !env.Delete {
			next = forwardOf(an)
		}
		rec := dirtyterms.Record{Offset: r.Offset, Index: env.Index, ID: env.ID, Deleted: env.Delete}
		if !env.Delete {
			rec.Source = env.Doc
		}
		switch {
		case old == nil && next != nil:
			rec.Count = 1
		case old != nil && next == nil:
			rec.Count = -1
		}
		rec.Fields = fieldDeltas(old, next)
		ri := len(res.event.Records)
		res.event.Records = append(res.event.Records, rec)

		// Posting changes: remove terms the document no longer has, set the
		// ones that are new or whose (tf, field length) changed.
		oldP := postingsOf(old)
		newP := postingsOf(next)
		for k, v := range oldP {
			if _, still := newP[k]; !still {
				addOp(termKey{env.Index, k.field, k.term}, dirtyterms.Op{Rec: ri})
				pb.SetPosting(env.Index, k.field, k.term, env.ID, 0, 0)
			} else if newP[k] == v {
				delete(newP, k)
			}
			_ = v
		}
		for k, v := range newP {
			addOp(termKey{env.Index, k.field, k.term}, dirtyterms.Op{Rec: ri, TF: v[0], Length: v[1]})
			pb.SetPosting(env.Index, k.field, k.term, env.ID, v[0], v[1])
		}
		pb.SetForward(env.Index, env.ID, next)
		overlay[docKey] = next
		inOverlay[docKey] = true
		res.docs++
		if hasOp {
			res.indexed.Add(op, seq)
		}
	}
	pb.SetApplied(topic, partition, res.event.LastOffset)

	// Deterministic term order (the event is compared in tests and replays).
	sort.Slice(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.index != b.index {
			return a.index < b.index
		}
		if a.field != b.field {
			return a.field < b.field
		}
		return a.term < b.term
	})
	res.event.Terms = make([]dirtyterms.Term, 0, len(order))
	for _, k := range order {
		t := terms[k]
		sort.SliceStable(t.Ops, func(i, j int) bool { return t.Ops[i].Rec < t.Ops[j].Rec })
		res.event.Terms = append(res.event.Terms, *t)
	}
	res.event.Progress = res.indexed.Messages(progress.Indexed)
	return res, nil
}

// operationOf reads the operation headers of a record.
func operationOf(r *kgo.Record) (op string, seq int, ok bool) {
	seq = -1
	for _, h := range r.Headers {
		switch h.Key {
		case document.HeaderOperation:
			op = string(h.Value)
		case document.HeaderSeq:
			n, err := strconv.Atoi(string(h.Value))
			if err == nil && n >= 0 {
				seq = n
			}
		}
	}
	return op, seq, op != "" && seq >= 0
}

func forwardOf(d analysis.Document) *pebblestore.Forward {
	f := &pebblestore.Forward{Fields: make([]pebblestore.ForwardField, 0, len(d.Fields))}
	for _, fl := range d.Fields {
		ff := pebblestore.ForwardField{Name: fl.Name, Length: fl.Length, Terms: make([]pebblestore.TermFreq, 0, len(fl.Terms))}
		for t, tf := range fl.Terms {
			ff.Terms = append(ff.Terms, pebblestore.TermFreq{Term: t, TF: tf})
		}
		sort.Slice(ff.Terms, func(i, j int) bool { return ff.Terms[i].Term < ff.Terms[j].Term })
		f.Fields = append(f.Fields, ff)
	}
	return f
}

type fieldTerm struct{ field, term string }

// postingsOf maps each (field, term) of a document to (tf, field length).
func postingsOf(f *pebblestore.Forward) map[fieldTerm][2]uint32 {
	if f == nil {
		return nil
	}
	m := map[fieldTerm][2]uint32{}
	for _, fl := range f.Fields {
		for _, t := range fl.Terms {
			m[fieldTerm{fl.Name, t.Term}] = [2]uint32{t.TF, fl.Length}
		}
	}
	return m
}

// fieldDeltas is the change of per-field statistics from old to next.
func fieldDeltas(old, next *pebblestore.Forward) []dirtyterms.FieldDelta {
	d := map[string]*dirtyterms.FieldDelta{}
	get := func(name string) *dirtyterms.FieldDelta {
		if d[name] == nil {
			d[name] = &dirtyterms.FieldDelta{Field: name}
		}
		return d[name]
	}
	if old != nil {
		for _, f := range old.Fields {
			x := get(f.Name)
			x.Docs--
			x.Length -= int64(f.Length)
		}
	}
	if next != nil {
		for _, f := range next.Fields {
			x := get(f.Name)
			x.Docs++
			x.Length += int64(f.Length)
		}
	}
	out := make([]dirtyterms.FieldDelta, 0, len(d))
	for _, x := range d {
		if x.Docs != 0 || x.Length != 0 {
			out = append(out, *x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}
