package indexer

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/analysis"
	"github.com/termflow/termflow/pkg/dirtyterms"
	"github.com/termflow/termflow/pkg/document"
	"github.com/termflow/termflow/pkg/pebblestore"
	"github.com/termflow/termflow/pkg/progress"
)

// forwardReader reads the forward index as of the start of a batch.
type forwardReader interface {
	Forwards(docs []pebblestore.DocRef) ([]*pebblestore.Forward, error)
}

// decoded is a record decoded and analyzed.
type decoded struct {
	rec *kgo.Record
	env document.Envelope
	an  analysis.Document
	op  string
	seq int
	// hasOp: the record belongs to an operation.
	hasOp bool
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

type fieldKey struct{ index, field string }

type docKey struct{ index, id string }

// termOp is a posting change of the batch: op on term number term.
type termOp struct {
	term int32
	op   dirtyterms.Op
}

// batchTerms collects a batch's posting changes. Terms are numbered in the
// order they are first seen, through a map per (index, field), so a lookup
// hashes one string; the changes go to one flat slice, in record order.
type batchTerms struct {
	fields map[fieldKey]map[string]int32
	keys   []termKey
	ops    []termOp
	// last field looked up, which is nearly always the next one asked for.
	lastKey fieldKey
	last    map[string]int32
	// hints size a field's map: the field's term occurrences in the
	// batch's new entries, which bound its distinct terms.
	hints map[fieldKey]int
}

func (bt *batchTerms) field(index, field string) map[string]int32 {
	if k := (fieldKey{index, field}); bt.last != nil && k == bt.lastKey {
		return bt.last
	}
	k := fieldKey{index, field}
	m := bt.fields[k]
	if m == nil {
		m = make(map[string]int32, bt.hints[k])
		bt.fields[k] = m
	}
	bt.lastKey, bt.last = k, m
	return m
}

func (bt *batchTerms) add(index, field string, m map[string]int32, term string, op dirtyterms.Op) {
	id, ok := m[term]
	if !ok {
		id = int32(len(bt.keys))
		m[term] = id
		bt.keys = append(bt.keys, termKey{index, field, term})
	}
	bt.ops = append(bt.ops, termOp{term: id, op: op})
}

// sorted returns the term numbers in (index, field, term) order.
func (bt *batchTerms) sorted() []int32 {
	fks := make([]fieldKey, 0, len(bt.fields))
	for fk := range bt.fields {
		fks = append(fks, fk)
	}
	slices.SortFunc(fks, func(a, b fieldKey) int {
		if c := strings.Compare(a.index, b.index); c != 0 {
			return c
		}
		return strings.Compare(a.field, b.field)
	})
	// The terms are sorted with their numbers beside them, not through
	// keys: a comparison then reads two adjacent entries.
	type numbered struct {
		term string
		id   int32
	}
	var buf []numbered
	order := make([]int32, 0, len(bt.keys))
	for _, fk := range fks {
		buf = buf[:0]
		for t, id := range bt.fields[fk] {
			buf = append(buf, numbered{t, id})
		}
		slices.SortFunc(buf, func(a, b numbered) int { return strings.Compare(a.term, b.term) })
		for _, n := range buf {
			order = append(order, n.id)
		}
	}
	return order
}

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
			FirstOffset: recs[0].Offset, LastOffset: recs[len(recs)-1].Offset,
			Records: make([]dirtyterms.Record, 0, len(recs))},
		indexed: progress.Collector{},
		failed:  map[string][]progress.Failure{},
	}
	bt := &batchTerms{fields: map[fieldKey]map[string]int32{}, hints: map[fieldKey]int{}}

	// Decode and analyze every record; dead-letter the ones that fail.
	docs := make([]decoded, 0, len(recs))
	occurrences := 0
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
		docs = append(docs, decoded{rec: r, env: env, an: an, op: op, seq: seq, hasOp: hasOp})
		for _, fl := range an.Fields {
			bt.hints[fieldKey{env.Index, fl.Name}] += len(fl.Terms)
			occurrences += len(fl.Terms)
		}
	}
	bt.ops = make([]termOp, 0, occurrences)

	// The forward entries as of the start of the batch, read in one pass;
	// after that, the overlay holds each document's entry after the
	// batch's records so far.
	refs := make([]pebblestore.DocRef, 0, len(docs))
	overlay := make(map[docKey]*pebblestore.Forward, len(docs))
	for _, d := range docs {
		dk := docKey{d.env.Index, d.env.ID}
		if _, dup := overlay[dk]; !dup {
			overlay[dk] = nil
			refs = append(refs, pebblestore.DocRef{Index: d.env.Index, ID: d.env.ID})
		}
	}
	stored, err := fr.Forwards(refs)
	if err != nil {
		return nil, err
	}
	for i, r := range refs {
		overlay[docKey{r.Index, r.ID}] = stored[i]
	}

	for i := range docs {
		d := &docs[i]
		env := d.env
		dk := docKey{env.Index, env.ID}
		old := overlay[dk]
		var next *pebblestore.Forward
		if !env.Delete {
			next = forwardOf(d.an)
		}
		if old != nil {
			// A diff walks both entries in term order. A new document,
			// the bulk of a load, needs no order: its entry is stored
			// as analysis left it and sorted if it is ever diffed.
			sortForward(old)
			sortForward(next)
		}
		rec := dirtyterms.Record{Offset: d.rec.Offset, Index: env.Index, ID: env.ID, Deleted: env.Delete}
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
		diffForward(old, next, func(field, term string, tf, length uint32) {
			bt.add(env.Index, field, bt.field(env.Index, field), term, dirtyterms.Op{Rec: ri, TF: tf, Length: length})
		})
		pb.SetForward(env.Index, env.ID, next)
		overlay[dk] = next
		res.docs++
		if d.hasOp {
			res.indexed.Add(d.op, d.seq)
		}
	}

	// The event's terms in a deterministic order (the event is compared in
	// tests and replays), each with its changes in record order: a counting
	// sort of the flat change list by term.
	order := bt.sorted()
	start := make([]int32, len(bt.keys)+1) // by term number: first slot, after counting
	for _, o := range bt.ops {
		start[o.term+1]++
	}
	pos := int32(0)
	slot := make([]int32, len(bt.keys))
	for _, t := range order {
		slot[t] = pos
		pos += start[t+1]
	}
	ops := make([]dirtyterms.Op, len(bt.ops))
	for _, o := range bt.ops {
		ops[slot[o.term]] = o.op
		slot[o.term]++
	}
	res.event.Terms = make([]dirtyterms.Term, len(order))
	var ps []pebblestore.Posting
	pos = 0
	for i, t := range order {
		k := bt.keys[t]
		n := start[t+1]
		tops := ops[pos : pos+n : pos+n]
		pos += n
		res.event.Terms[i] = dirtyterms.Term{Index: k.index, Field: k.field, Term: k.term, Ops: tops}
		ps = ps[:0]
		for _, op := range tops {
			ps = append(ps, pebblestore.Posting{ID: res.event.Records[op.Rec].ID, TF: op.TF, Length: op.Length})
		}
		pb.MergePostings(k.index, k.field, k.term, ps)
	}
	pb.SetApplied(topic, partition, res.event.LastOffset)
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

func compareTermFreqs(a, b pebblestore.TermFreq) int { return strings.Compare(a.Term, b.Term) }

func compareForwardFields(a, b pebblestore.ForwardField) int { return strings.Compare(a.Name, b.Name) }

// forwardOf is the forward entry of an analyzed document: its fields
// themselves (pebblestore.ForwardField is analysis.Field), in name order as
// analysis returns them, each field's terms in order of first occurrence
// (sortForward puts them in term order). Copying every new document's terms
// out of maps and sorting them had been a tenth of the indexer's CPU on
// godoc, for a diff only a replacement needs.
func forwardOf(d analysis.Document) *pebblestore.Forward {
	return &pebblestore.Forward{Fields: d.Fields}
}

// sortForward puts f's fields in name order and each field's terms in term
// order, in place, as diffForward needs of two entries it compares. Entries
// the indexer writes keep their terms in analysis order (see forwardOf), and
// every entry is a fresh copy: read from Pebble for the batch or built by
// it.
func sortForward(f *pebblestore.Forward) {
	if f == nil {
		return
	}
	if !slices.IsSortedFunc(f.Fields, compareForwardFields) {
		slices.SortStableFunc(f.Fields, compareForwardFields)
	}
	for _, fl := range f.Fields {
		if !slices.IsSortedFunc(fl.Terms, compareTermFreqs) {
			slices.SortFunc(fl.Terms, compareTermFreqs)
		}
	}
}

// diffForward calls fn with every posting change from old to next (either
// may be nil; fields in name order; when both are there, terms in term
// order, see sortForward): tf 0 for a term the document
// lost, the new tf and field length for a term it gained or whose tf or
// field length changed.
func diffForward(old, next *pebblestore.Forward, fn func(field, term string, tf, length uint32)) {
	var of, nf []pebblestore.ForwardField
	if old != nil {
		of = old.Fields
	}
	if next != nil {
		nf = next.Fields
	}
	for len(of) > 0 || len(nf) > 0 {
		var c int
		switch {
		case len(of) == 0:
			c = 1
		case len(nf) == 0:
			c = -1
		default:
			c = strings.Compare(of[0].Name, nf[0].Name)
		}
		switch {
		case c < 0: // the field is gone
			for _, t := range of[0].Terms {
				fn(of[0].Name, t.Term, 0, 0)
			}
			of = of[1:]
		case c > 0: // a new field
			for _, t := range nf[0].Terms {
				fn(nf[0].Name, t.Term, t.TF, nf[0].Length)
			}
			nf = nf[1:]
		default:
			diffField(of[0], nf[0], fn)
			of, nf = of[1:], nf[1:]
		}
	}
}

func diffField(o, n pebblestore.ForwardField, fn func(field, term string, tf, length uint32)) {
	ot, nt := o.Terms, n.Terms
	for len(ot) > 0 || len(nt) > 0 {
		var c int
		switch {
		case len(ot) == 0:
			c = 1
		case len(nt) == 0:
			c = -1
		default:
			c = strings.Compare(ot[0].Term, nt[0].Term)
		}
		switch {
		case c < 0:
			fn(o.Name, ot[0].Term, 0, 0)
			ot = ot[1:]
		case c > 0:
			fn(n.Name, nt[0].Term, nt[0].TF, n.Length)
			nt = nt[1:]
		default:
			if ot[0].TF != nt[0].TF || o.Length != n.Length {
				fn(n.Name, nt[0].Term, nt[0].TF, n.Length)
			}
			ot, nt = ot[1:], nt[1:]
		}
	}
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
