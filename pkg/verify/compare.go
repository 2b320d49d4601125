package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"

	"github.com/termflow/termflow/pkg/mongostore"
	"github.com/termflow/termflow/pkg/pebblestore"
	"github.com/termflow/termflow/pkg/posting"
)

// Kinds of differences, in the order a report lists them.
const (
	KindDocumentMissing = "document missing" // a live document is not stored
	KindDocumentExtra   = "document extra"   // a stored document is not live
	KindDocumentBody    = "document body"    // src is not the latest version's doc
	KindDocumentFields  = "document fields"  // index, id or offset o disagree
	KindDocumentCount   = "document count"   // indexstats docs
	KindFieldStats      = "field stats"      // fieldstats docs or len
	KindTermMissing     = "term missing"     // no head for an expected term
	KindTermExtra       = "term extra"       // a head for a term with no postings
	KindTermHead        = "term head"        // head n is not the sum of its chunks, or its _id disagrees
	KindPostingMissing  = "posting missing"
	KindPostingExtra    = "posting extra"
	KindPostingValue    = "posting value"     // tf or field length differ
	KindPostingDup      = "posting duplicate" // a document twice in one term's chunks
	KindChunkMissing    = "chunk missing"     // listed by a head, not stored
	KindChunkOrphan     = "chunk orphan"      // stored, listed by no head
	KindChunkOversize   = "chunk oversize"    // more than posting.MaxChunk postings
	KindChunkRange      = "chunk range"       // a posting whose hash is outside [lo, hi]
	KindChunkCoverage   = "chunk coverage"    // a head's ranges overlap or leave gaps
	KindChunkCount      = "chunk count"       // head n, chunk n and postings held disagree
	KindChunkCorrupt    = "chunk corrupt"     // undecodable, out of order, or fields disagree with _id

	KindPebblePartition      = "pebble partition" // no store holds it, or its store is not at the topic's end
	KindPebbleTermMissing    = "pebble term missing"
	KindPebbleTermExtra      = "pebble term extra"
	KindPebblePostingMissing = "pebble posting missing"
	KindPebblePostingExtra   = "pebble posting extra"
	KindPebblePostingValue   = "pebble posting value"
	KindPebbleForwardMissing = "pebble forward missing"
	KindPebbleForwardExtra   = "pebble forward extra"
	KindPebbleForwardValue   = "pebble forward value"
)

var kindOrder = []string{
	KindDocumentMissing, KindDocumentExtra, KindDocumentBody, KindDocumentFields, KindDocumentCount, KindFieldStats,
	KindTermMissing, KindTermExtra, KindTermHead, KindPostingMissing, KindPostingExtra, KindPostingValue, KindPostingDup,
	KindChunkMissing, KindChunkOrphan, KindChunkOversize, KindChunkRange, KindChunkCoverage, KindChunkCount, KindChunkCorrupt,
	KindPebblePartition, KindPebbleTermMissing, KindPebbleTermExtra, KindPebblePostingMissing, KindPebblePostingExtra,
	KindPebblePostingValue, KindPebbleForwardMissing, KindPebbleForwardExtra, KindPebbleForwardValue,
}

// collector gathers differences, listing at most max per kind.
type collector struct {
	max    int
	counts map[string]int
	listed map[string][]string
}

func (c *collector) add(kind, format string, args ...any) {
	c.counts[kind]++
	if c.max >= 0 && c.counts[kind] > c.max {
		return
	}
	c.listed[kind] = append(c.listed[kind], kind+": "+fmt.Sprintf(format, args...))
}

// Compare reports every difference between the expected state, MongoDB's
// collections and, when given, Pebble stores. maxDiffs bounds the
// differences listed per kind (0: DefaultMaxDiffs, negative: no bound).
func Compare(exp *Expected, act *Actual, stores []*PebbleStore, maxDiffs int) *Report {
	if maxDiffs == 0 {
		maxDiffs = DefaultMaxDiffs
	}
	exp.build()
	c := &collector{max: maxDiffs, counts: map[string]int{}, listed: map[string][]string{}}
	rep := &Report{Documents: len(exp.docs), Terms: len(exp.terms), Postings: exp.postings,
		Records: exp.records, DeadLetters: exp.deadLetters}
	if act == nil {
		act = &Actual{}
	}
	compareDocuments(c, exp, act)
	compareStats(c, exp, act)
	rep.Chunks = compareTerms(c, exp, act)
	if len(stores) > 0 {
		comparePebble(c, exp, stores)
	}
	for _, k := range kindOrder {
		rep.Diffs = append(rep.Diffs, c.listed[k]...)
		rep.DiffCount += c.counts[k]
	}
	if rep.DiffCount > 0 {
		rep.Kinds = c.counts
	}
	return rep
}

func compareDocuments(c *collector, exp *Expected, act *Actual) {
	stored := make(map[string]*Document, len(act.Documents))
	for i := range act.Documents {
		d := &act.Documents[i]
		if exp.keep(d.Index) {
			stored[d.ID] = d
		}
	}
	for _, k := range slices.Sorted(maps.Keys(exp.docs)) {
		want, got := exp.docs[k], stored[k]
		if got == nil {
			c.add(KindDocumentMissing, "%s (offset %d)", k, want.offset)
			continue
		}
		if got.Index != want.index || got.DocID != want.id {
			c.add(KindDocumentFields, "%s: index %q id %q", k, got.Index, got.DocID)
		}
		if got.Offset != want.offset {
			c.add(KindDocumentFields, "%s: offset %d, want %d", k, got.Offset, want.offset)
		}
		if !sameJSON(got.Source, want.src) {
			c.add(KindDocumentBody, "%s: %s, want %s", k, clip(got.Source), clip(string(want.src)))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(stored)) {
		if exp.docs[k] == nil {
			c.add(KindDocumentExtra, "%s (offset %d)", k, stored[k].Offset)
		}
	}
}

// sameJSON reports whether the stored source is the document want. The
// persister stores the doc as the dirty-terms event carried it, which
// encoding/json compacted (and HTML-escaped); anything else is compared as
// decoded JSON.
func sameJSON(stored string, want []byte) bool {
	if stored == string(want) {
		return true
	}
	var compact bytes.Buffer
	if json.Compact(&compact, want) == nil {
		if stored == compact.String() {
			return true
		}
		var esc bytes.Buffer
		json.HTMLEscape(&esc, compact.Bytes())
		if stored == esc.String() {
			return true
		}
	}
	a, errA := decodeJSON([]byte(stored))
	b, errB := decodeJSON(want)
	return errA == nil && errB == nil && reflect.DeepEqual(a, b)
}

func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func compareStats(c *collector, exp *Expected, act *Actual) {
	docs := map[string]int64{}
	for _, s := range act.IndexStats {
		if exp.keep(s.ID) {
			docs[s.ID] = s.Docs
		}
	}
	indexes := slices.Collect(maps.Keys(exp.counts))
	for ix := range docs {
		if _, ok := exp.counts[ix]; !ok {
			indexes = append(indexes, ix)
		}
	}
	slices.Sort(indexes)
	for _, ix := range indexes {
		if got, want := docs[ix], exp.counts[ix]; got != want {
			c.add(KindDocumentCount, "index %s: indexstats docs %d, want %d", ix, got, want)
		}
	}

	fields := map[fieldKey]fieldStat{}
	for _, s := range act.FieldStats {
		index, field, ok := strings.Cut(s.ID, "|")
		if !ok || index != s.Index || field != s.Field {
			c.add(KindFieldStats, "_id %q: index %q field %q", s.ID, s.Index, s.Field)
		}
		if exp.keep(index) {
			fields[fieldKey{index, field}] = fieldStat{docs: s.Docs, length: s.Len}
		}
	}
	keys := slices.Collect(maps.Keys(exp.fields))
	for k := range fields {
		if _, ok := exp.fields[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b fieldKey) int {
		if c := strings.Compare(a.index, b.index); c != 0 {
			return c
		}
		return strings.Compare(a.field, b.field)
	})
	for _, k := range keys {
		if got, want := fields[k], exp.fields[k]; got != want {
			c.add(KindFieldStats, "%s|%s: docs %d len %d, want docs %d len %d", k.index, k.field,
				got.docs, got.length, want.docs, want.length)
		}
	}
}

// located is a posting, its hash and the chunk it was found in.
type located struct {
	posting.Posting
	hash  uint64
	chunk int
}

func cmpLocated(a, b located) int { return cmpHashed(a.hash, a.Doc, b.hash, b.Doc) }

// compareTerms checks every head and its chunks, then the postings against
// the expected ones. It returns the number of chunk documents checked.
func compareTerms(c *collector, exp *Expected, act *Actual) int {
	chunks := make(map[string]*Chunk, len(act.Chunks))
	for i := range act.Chunks {
		ch := &act.Chunks[i]
		if exp.keep(ch.Index) {
			chunks[ch.ID] = ch
		}
	}
	referenced := make(map[string]bool, len(chunks))
	heads := make([]*Head, 0, len(act.Terms))
	for i := range act.Terms {
		if h := &act.Terms[i]; exp.keep(h.Index) {
			heads = append(heads, h)
		}
	}
	slices.SortFunc(heads, func(a, b *Head) int {
		return compareTermKeys(termKey{a.Index, a.Field, a.Term}, termKey{b.Index, b.Field, b.Term})
	})
	seen := make(map[termKey]bool, len(heads))
	var all []located
	for _, h := range heads {
		key := termKey{h.Index, h.Field, h.Term}
		tk := mongostore.TermKey(h.Index, h.Field, h.Term)
		if h.ID != tk {
			c.add(KindTermHead, "_id %q holds index %q field %q term %q", h.ID, h.Index, h.Field, h.Term)
		}
		checkCoverage(c, h)
		var sum int64
		for _, m := range h.Chunks {
			sum += m.N
		}
		if sum != h.N {
			c.add(KindTermHead, "%s: n %d, its chunks' n sum to %d", h.ID, h.N, sum)
		}
		all = all[:0]
		if len(h.P) > 0 {
			// Inline postings: the head is its one chunk.
			if len(h.Chunks) != 1 {
				c.add(KindChunkCorrupt, "%s: inline postings and %d chunks", h.ID, len(h.Chunks))
			} else {
				m := h.Chunks[0]
				all = checkChunk(c, h.ID, &Chunk{ID: h.ID + " (inline)", TK: h.ID, Index: h.Index,
					Lo: m.Lo, Hi: m.Hi, N: m.N, P: h.P}, m, 0, all)
			}
		}
		for ci, m := range h.Chunks {
			if len(h.P) > 0 {
				break
			}
			id := chunkID(h.ID, uint64(m.Lo), uint64(m.Hi))
			ch := chunks[id]
			if ch == nil {
				c.add(KindChunkMissing, "%s (%d postings)", id, m.N)
				continue
			}
			referenced[id] = true
			all = checkChunk(c, h.ID, ch, m, ci, all)
		}
		// A document in two chunks (or twice in one). Valid chunks in head
		// order are already sorted by (hash, id).
		if !slices.IsSortedFunc(all, cmpLocated) {
			slices.SortStableFunc(all, cmpLocated)
		}
		got := make([]posting.Posting, 0, len(all))
		for i, p := range all {
			if i > 0 && all[i-1].Doc == p.Doc {
				c.add(KindPostingDup, "%s: doc %q in chunks %s and %s", h.ID, p.Doc,
					rangeOf(h.Chunks[all[i-1].chunk]), rangeOf(h.Chunks[p.chunk]))
				continue
			}
			got = append(got, p.Posting)
		}
		if seen[key] {
			continue // a second head of the term (the _id disagreed): its postings are not compared again
		}
		seen[key] = true
		want, ok := exp.terms[key]
		if !ok {
			c.add(KindTermExtra, "%s (%d postings)", h.ID, len(got))
			continue
		}
		diffPostings(c, KindPostingMissing, KindPostingExtra, KindPostingValue, tk, want, got, nil)
	}
	missing := make([]termKey, 0)
	for k := range exp.terms {
		if !seen[k] {
			missing = append(missing, k)
		}
	}
	slices.SortFunc(missing, compareTermKeys)
	for _, k := range missing {
		c.add(KindTermMissing, "%s (%d postings)", k, len(exp.terms[k]))
	}
	for _, id := range slices.Sorted(maps.Keys(chunks)) {
		if !referenced[id] {
			c.add(KindChunkOrphan, "%s (n %d)", id, chunks[id].N)
		}
	}
	return len(chunks)
}

func rangeOf(m ChunkRef) string { return fmt.Sprintf("[%016x, %016x]", uint64(m.Lo), uint64(m.Hi)) }

// checkCoverage checks that a head's chunk ranges are in order and cover
// the hash space exactly once.
func checkCoverage(c *collector, h *Head) {
	if len(h.Chunks) == 0 {
		c.add(KindChunkCoverage, "%s: no chunks", h.ID)
		return
	}
	var next uint64 // first hash not covered yet
	for i, m := range h.Chunks {
		lo, hi := uint64(m.Lo), uint64(m.Hi)
		switch {
		case lo > hi:
			c.add(KindChunkCoverage, "%s: chunk %d range %s is inverted", h.ID, i, rangeOf(m))
			return
		case i > 0 && next == 0: // the previous chunk ended at the top of the space
			c.add(KindChunkCoverage, "%s: chunk %d %s overlaps the chunks before it", h.ID, i, rangeOf(m))
			return
		case lo > next:
			c.add(KindChunkCoverage, "%s: hashes [%016x, %016x] are in no chunk", h.ID, next, lo-1)
			return
		case lo < next:
			c.add(KindChunkCoverage, "%s: chunk %d %s overlaps the chunks before it", h.ID, i, rangeOf(m))
			return
		}
		next = hi + 1 // wraps to 0 at the top
	}
	if next != 0 {
		c.add(KindChunkCoverage, "%s: hashes [%016x, %016x] are in no chunk", h.ID, next, uint64(math.MaxUint64))
	}
}

// checkChunk checks one chunk of term tk against its head entry m (the
// head's ci-th) and appends its postings to all.
func checkChunk(c *collector, tk string, ch *Chunk, m ChunkRef, ci int, all []located) []located {
	if ch.TK != tk || ch.Lo != m.Lo || ch.Hi != m.Hi {
		c.add(KindChunkCorrupt, "%s: holds tk %q range %s", ch.ID, ch.TK, rangeOf(ChunkRef{Lo: ch.Lo, Hi: ch.Hi}))
	}
	ps, err := posting.Decode(nil, ch.P)
	if err != nil {
		c.add(KindChunkCorrupt, "%s: %v", ch.ID, err)
	}
	if ch.N != m.N || int64(len(ps)) != ch.N {
		c.add(KindChunkCount, "%s: head n %d, chunk n %d, holds %d postings", ch.ID, m.N, ch.N, len(ps))
	}
	if len(ps) > posting.MaxChunk {
		c.add(KindChunkOversize, "%s: %d postings, limit %d", ch.ID, len(ps), posting.MaxChunk)
	}
	lo, hi := uint64(m.Lo), uint64(m.Hi)
	var prevHash uint64
	outside, disordered := 0, false
	for i, p := range ps {
		h := posting.Hash(p.Doc)
		if h < lo || h > hi {
			if outside++; outside == 1 {
				c.add(KindChunkRange, "%s: doc %q hashes to %016x", ch.ID, p.Doc, h)
			}
		}
		if i > 0 && !disordered && p.Doc != ps[i-1].Doc &&
			(h < prevHash || (h == prevHash && p.Doc < ps[i-1].Doc)) {
			disordered = true
			c.add(KindChunkCorrupt, "%s: doc %q is out of (hash, id) order", ch.ID, p.Doc)
		}
		prevHash = h
		all = append(all, located{p, h, ci})
	}
	return all
}

// diffPostings compares a term's postings, both sorted by (hash, id) and
// without duplicates. include, when not nil, limits the expected postings
// to the documents it accepts.
func diffPostings(c *collector, kMissing, kExtra, kValue, term string, want, got []posting.Posting, include func(id string) bool) {
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		if i < len(want) && include != nil && !include(want[i].Doc) {
			i++
			continue
		}
		order := 0
		switch {
		case j == len(got):
			order = -1
		case i == len(want):
			order = 1
		default:
			order = comparePostings(want[i], got[j])
		}
		switch {
		case order < 0:
			c.add(kMissing, "%s: doc %q (tf %d, length %d)", term, want[i].Doc, want[i].TF, want[i].Length)
			i++
		case order > 0:
			c.add(kExtra, "%s: doc %q (tf %d, length %d)", term, got[j].Doc, got[j].TF, got[j].Length)
			j++
		default:
			if want[i] != got[j] {
				c.add(kValue, "%s: doc %q tf %d length %d, want tf %d length %d", term, got[j].Doc,
					got[j].TF, got[j].Length, want[i].TF, want[i].Length)
			}
			i++
			j++
		}
	}
}

// comparePebble compares the union of the stores, each partition taken
// from the store with the highest applied offset for it, with the expected
// state.
func comparePebble(c *collector, exp *Expected, stores []*PebbleStore) {
	owner := owners(stores)
	for _, p := range slices.Sorted(maps.Keys(exp.lastOffset)) {
		last := exp.lastOffset[p]
		o, ok := owner[p]
		switch {
		case !ok:
			c.add(KindPebblePartition, "partition %d (last offset %d) is in no store", p, last)
		case stores[o].Applied[p] != last:
			c.add(KindPebblePartition, "partition %d: %s applied offset %d, the topic's last is %d",
				p, stores[o].Name, stores[o].Applied[p], last)
		}
	}
	// owned reports whether store i speaks for the document; documents the
	// topic never had count wherever they are.
	owned := func(i int, index, id string) bool {
		p, known := exp.partitionOf(index, id)
		return !known || owner[p] == i
	}
	// held reports whether some store holds the document's partition.
	held := func(index, id string) bool {
		p, _ := exp.partitionOf(index, id)
		_, ok := owner[p]
		return ok
	}

	terms := map[termKey][]posting.Posting{}
	forward := map[string]*pebblestore.Forward{}
	for i, s := range stores {
		for k, ps := range s.postings {
			if !exp.keep(k.index) {
				continue
			}
			for _, p := range ps {
				if owned(i, k.index, p.Doc) {
					terms[k] = append(terms[k], p)
				}
			}
		}
		for dk, f := range s.forward {
			index, id, _ := strings.Cut(dk, "/")
			if exp.keep(index) && owned(i, index, id) {
				forward[dk] = f
			}
		}
	}

	keys := slices.Collect(maps.Keys(exp.terms))
	for k := range terms {
		if _, ok := exp.terms[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, compareTermKeys)
	for _, k := range keys {
		want := exp.terms[k]
		include := func(id string) bool { return held(k.index, id) }
		got := sortByHash(terms[k])
		wantHeld := 0
		for _, p := range want {
			if include(p.Doc) {
				wantHeld++
			}
		}
		switch {
		case wantHeld == 0 && len(got) == 0:
		case len(got) == 0:
			c.add(KindPebbleTermMissing, "%s (%d postings)", k, wantHeld)
		case wantHeld == 0:
			c.add(KindPebbleTermExtra, "%s (%d postings)", k, len(got))
		default:
			diffPostings(c, KindPebblePostingMissing, KindPebblePostingExtra, KindPebblePostingValue, k.String(), want, got, include)
		}
	}

	for _, dk := range slices.Sorted(maps.Keys(exp.docs)) {
		d := exp.docs[dk]
		if !held(d.index, d.id) {
			continue
		}
		f := forward[dk]
		if f == nil {
			c.add(KindPebbleForwardMissing, "%s", dk)
			continue
		}
		if why := forwardDiff(d, f); why != "" {
			c.add(KindPebbleForwardValue, "%s: %s", dk, why)
		}
	}
	for _, dk := range slices.Sorted(maps.Keys(forward)) {
		if exp.docs[dk] == nil {
			c.add(KindPebbleForwardExtra, "%s", dk)
		}
	}
}

// sortByHash sorts postings by (hash, id) and drops repeated documents.
func sortByHash(ps []posting.Posting) []posting.Posting {
	l := make([]located, len(ps))
	for i, p := range ps {
		l[i] = located{Posting: p, hash: posting.Hash(p.Doc)}
	}
	slices.SortFunc(l, cmpLocated)
	out := ps[:0]
	for i, p := range l {
		if i == 0 || l[i-1].Doc != p.Doc {
			out = append(out, p.Posting)
		}
	}
	return out
}

// forwardDiff describes how a forward entry differs from the document's
// analysis, or returns "".
func forwardDiff(d *liveDoc, f *pebblestore.Forward) string {
	got := make(map[string]*pebblestore.ForwardField, len(f.Fields))
	for i := range f.Fields {
		got[f.Fields[i].Name] = &f.Fields[i]
	}
	for _, fl := range d.an.Fields {
		g := got[fl.Name]
		if g == nil {
			return fmt.Sprintf("field %q missing", fl.Name)
		}
		delete(got, fl.Name)
		if g.Length != fl.Length {
			return fmt.Sprintf("field %q length %d, want %d", fl.Name, g.Length, fl.Length)
		}
		if len(g.Terms) != len(fl.Terms) {
			return fmt.Sprintf("field %q has %d terms, want %d", fl.Name, len(g.Terms), len(fl.Terms))
		}
		want := make(map[string]uint32, len(fl.Terms))
		for _, t := range fl.Terms {
			want[t.Term] = t.TF
		}
		for _, t := range g.Terms {
			if tf, ok := want[t.Term]; !ok || tf != t.TF {
				return fmt.Sprintf("field %q term %q tf %d, want %d", fl.Name, t.Term, t.TF, tf)
			}
		}
	}
	if len(got) > 0 {
		return fmt.Sprintf("field %q extra", slices.Min(slices.Collect(maps.Keys(got))))
	}
	return ""
}
