package verify

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/analysis"
	"github.com/termflow/termflow/pkg/document"
	"github.com/termflow/termflow/pkg/posting"
)

// termKey names a term of an index.
type termKey struct{ index, field, term string }

func (k termKey) String() string { return k.index + "|" + k.term + "|" + k.field }

func compareTermKeys(a, b termKey) int {
	if c := strings.Compare(a.index, b.index); c != 0 {
		return c
	}
	if c := strings.Compare(a.field, b.field); c != 0 {
		return c
	}
	return strings.Compare(a.term, b.term)
}

// fieldKey names a field of an index.
type fieldKey struct{ index, field string }

// fieldStat is a field's statistics: documents having it, total length.
type fieldStat struct{ docs, length int64 }

// liveDoc is the current version of a document.
type liveDoc struct {
	index, id string
	offset    int64
	src       []byte // the envelope's doc, as the indexer hands it on
	an        analysis.Document
}

// Expected is the index the documents topic implies. Feed it the topic's
// records with Add, each partition in offset order; Compare derives the
// terms, postings and statistics from the documents left alive.
type Expected struct {
	maxDocBytes int
	indexes     map[string]bool // nil: every index

	docs        map[string]*liveDoc // "index/id" → live version
	partOf      map[string]int32    // "index/id" → partition of its records
	lastOffset  map[int32]int64     // per partition, the last record read
	records     int
	deadLetters int

	built    bool
	terms    map[termKey][]posting.Posting // sorted by document id
	counts   map[string]int64              // index → live documents
	fields   map[fieldKey]fieldStat
	postings int
}

// NewExpected starts an empty expected state. maxDocBytes is the indexer's
// record size limit (0: document.DefaultMaxBytes); indexes, when not empty,
// restricts the state to those indexes.
func NewExpected(maxDocBytes int, indexes []string) *Expected {
	e := &Expected{maxDocBytes: maxDocBytes, docs: map[string]*liveDoc{}, partOf: map[string]int32{},
		lastOffset: map[int32]int64{}}
	if len(indexes) > 0 {
		e.indexes = map[string]bool{}
		for _, ix := range indexes {
			e.indexes[ix] = true
		}
	}
	return e
}

// ExpectedFrom builds the expected state of records (offset order within
// each partition).
func ExpectedFrom(records []*kgo.Record, maxDocBytes int, indexes []string) *Expected {
	e := NewExpected(maxDocBytes, indexes)
	for _, r := range records {
		e.Add(r)
	}
	return e
}

func (e *Expected) keep(index string) bool { return e.indexes == nil || e.indexes[index] }

// partitionOf returns the partition whose records name the document.
func (e *Expected) partitionOf(index, id string) (int32, bool) {
	p, ok := e.partOf[index+"/"+id]
	return p, ok
}

// Add applies one record, exactly as the indexer's batch would: decode,
// analyze, and on failure count a dead letter that changes nothing.
func (e *Expected) Add(r *kgo.Record) {
	if r.Attrs.IsControl() {
		return
	}
	if last, ok := e.lastOffset[r.Partition]; !ok || r.Offset > last {
		e.lastOffset[r.Partition] = r.Offset
	}
	e.records++
	env, err := document.Decode(r.Key, r.Value, e.maxDocBytes)
	var an analysis.Document
	if err == nil && !env.Delete {
		an, err = analysis.AnalyzeJSON(env.Doc)
	}
	if err != nil {
		e.deadLetters++
		if index, id, kerr := document.ParseKey(r.Key); kerr == nil {
			e.partOf[index+"/"+id] = r.Partition
		}
		return
	}
	k := env.Index + "/" + env.ID
	e.partOf[k] = r.Partition
	if !e.keep(env.Index) {
		return
	}
	e.built = false
	if env.Delete {
		delete(e.docs, k)
		return
	}
	e.docs[k] = &liveDoc{index: env.Index, id: env.ID, offset: r.Offset, src: env.Doc, an: an}
}

// build derives terms, postings and statistics from the live documents, the
// way the indexer's forward entries give them: per field its length, and
// per term of the field its frequency. Documents are visited in (hash, id)
// order, so every term's postings come out in the order chunks keep them.
func (e *Expected) build() {
	if e.built {
		return
	}
	e.terms = map[termKey][]posting.Posting{}
	e.counts = map[string]int64{}
	e.fields = map[fieldKey]fieldStat{}
	e.postings = 0
	type hashed struct {
		hash uint64
		d    *liveDoc
	}
	docs := make([]hashed, 0, len(e.docs))
	for _, d := range e.docs {
		docs = append(docs, hashed{posting.Hash(d.id), d})
	}
	slices.SortFunc(docs, func(a, b hashed) int { return cmpHashed(a.hash, a.d.id, b.hash, b.d.id) })
	// Per field first, then per term: one string hashed per posting.
	byField := map[fieldKey]map[string][]posting.Posting{}
	for _, h := range docs {
		d := h.d
		e.counts[d.index]++
		for _, f := range d.an.Fields {
			fk := fieldKey{d.index, f.Name}
			st := e.fields[fk]
			st.docs++
			st.length += int64(f.Length)
			e.fields[fk] = st
			terms := byField[fk]
			if terms == nil {
				terms = map[string][]posting.Posting{}
				byField[fk] = terms
			}
			for _, t := range f.Terms {
				terms[t.Term] = append(terms[t.Term], posting.Posting{Doc: d.id, TF: t.TF, Length: f.Length})
			}
			e.postings += len(f.Terms)
		}
	}
	for fk, terms := range byField {
		for t, ps := range terms {
			e.terms[termKey{fk.index, fk.field, t}] = ps
		}
	}
	e.built = true
}

// cmpHashed orders postings the way chunks keep them: by (hash, id).
func cmpHashed(ha uint64, a string, hb uint64, b string) int {
	switch {
	case ha < hb:
		return -1
	case ha > hb:
		return 1
	}
	return strings.Compare(a, b)
}

// comparePostings orders postings by (hash, id), hashing both.
func comparePostings(a, b posting.Posting) int {
	if a.Doc == b.Doc {
		return 0
	}
	return cmpHashed(posting.Hash(a.Doc), a.Doc, posting.Hash(b.Doc), b.Doc)
}
