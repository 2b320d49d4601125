// Package posting holds posting lists and their chunked, binary storage form.
//
// A posting says that a document contains a term: the document id, the term
// frequency in the field and the field length of that document (so BM25 needs
// no second lookup). Postings of one term are kept in chunks; every chunk
// covers an inclusive range of the 64-bit hash space [Lo, Hi] and holds the
// postings whose document id hashes into it, sorted by (hash, id). A
// document's chunk is therefore found from the chunk ranges alone: adding,
// replacing or removing a posting touches exactly one chunk, and a chunk that
// grows past the limit is split at its median hash into two new ranges. See
// docs/data-model.md for the MongoDB layout built on it.
package posting

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// MaxChunk is the largest number of postings a chunk holds.
const MaxChunk = 5000

// Posting is one document in the posting list of one term.
type Posting struct {
	Doc    string // document id
	TF     uint32 // term frequency in the field
	Length uint32 // field length of the document, in terms
}

// Hash is the position of a document id in the hash space.
func Hash(doc string) uint64 { return xxhash.Sum64String(doc) }

// Op is a change to a posting list: set Posting (TF > 0) or remove the
// document (TF == 0).
type Op = Posting

// Chunk is a hash range of a posting list.
type Chunk struct {
	Lo, Hi   uint64    // inclusive hash range
	Postings []Posting // sorted by (Hash(Doc), Doc)
}

// Contains reports whether doc belongs in the chunk's range.
func (c *Chunk) Contains(doc string) bool {
	h := Hash(doc)
	return c.Lo <= h && h <= c.Hi
}

func less(ha uint64, a string, hb uint64, b string) int {
	if ha != hb {
		if ha < hb {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// hashedOp is an op by its place in the ops, with its document's hash:
// sorting these moves 16 bytes an entry, not the op.
type hashedOp struct {
	h uint64
	i int32 // the op's index: of a document's ops, the last wins
}

// sortOps returns ops' hashes and indexes in posting order; of a
// document's ops, the last sorts last.
func sortOps(ops []Op) []hashedOp {
	hs := make([]hashedOp, len(ops))
	for i, op := range ops {
		hs[i] = hashedOp{Hash(op.Doc), int32(i)}
	}
	// An unstable sort with the index as the tie-break: SortStableFunc's
	// merges took twice as long.
	slices.SortFunc(hs, func(a, b hashedOp) int {
		if c := less(a.h, ops[a.i].Doc, b.h, ops[b.i].Doc); c != 0 {
			return c
		}
		return int(a.i - b.i)
	})
	return hs
}

// ApplyEncoded applies ops to a chunk in its binary form: a posting with
// TF > 0 is set (added or replaced), TF == 0 removes the document, and of a
// document's ops the last wins. It applies them to the postings of block
// (nil for none) and appends the resulting block to dst,
// returning it with its posting count and whether anything changed. The
// postings it keeps are copied as they are, never decoded: a batch that adds
// a few documents to a common term's chunks costs a hash and a copy per
// stored posting, not a string and a struct.
func ApplyEncoded(dst, block []byte, ops []Op) (out []byte, n int, changed bool, err error) {
	start := len(dst)
	var left uint64 // stored postings not read yet
	if len(block) > 0 {
		var k int
		left, k = binary.Uvarint(block)
		if k <= 0 || left > uint64(len(block)) {
			return dst, 0, false, errCorrupt
		}
		block = block[k:]
	}
	total := left
	hs := sortOps(ops)
	// The count goes first but is known last: the body is written after
	// room for the longest count, which then moves up against the body.
	// Room for every stored posting and every op as an added posting: the
	// result is kept (the persister remembers recent blocks), so no guess.
	room := binary.MaxVarintLen64 + len(block)
	for _, op := range ops {
		room += uvarintLen(uint64(len(op.Doc))) + len(op.Doc) + uvarintLen(uint64(op.TF)) + uvarintLen(uint64(op.Length))
	}
	dst = slices.Grow(dst, room)
	dst = dst[:start+binary.MaxVarintLen64]
	var (
		doc, raw []byte // the stored posting at the cursor, and its whole encoding
		ph       uint64 // its hash
		have     bool   // doc, raw and ph hold the cursor's posting
	)
	// next reads the next stored posting into raw (and doc and ph if hash).
	next := func(hash bool) error {
		d, _, _, size, ok := readPosting(block)
		if !ok {
			return fmt.Errorf("%w: posting %d", errCorrupt, total-left)
		}
		doc, raw = d, block[:size]
		block = block[size:]
		left--
		if hash {
			ph = xxhash.Sum64(doc)
		}
		return nil
	}
	fail := func(err error) ([]byte, int, bool, error) { return dst[:start], 0, false, err }
	for j := 0; j < len(hs); j++ {
		if j+1 < len(hs) && ops[hs[j+1].i].Doc == ops[hs[j].i].Doc {
			continue // a later op of the same document wins
		}
		h, op := hs[j].h, ops[hs[j].i]
		// Stored postings before the op's document stay.
		for {
			if !have {
				if left == 0 {
					break
				}
				if err := next(true); err != nil {
					return fail(err)
				}
				have = true
			}
			if less(ph, unsafeString(doc), h, op.Doc) >= 0 {
				break
			}
			dst = append(dst, raw...)
			n++
			have = false
		}
		found := have && unsafeString(doc) == op.Doc
		switch {
		case op.TF == 0 && found:
			have, changed = false, true
		case op.TF == 0:
		case found:
			at := len(dst)
			dst = appendPosting(dst, op)
			n++
			have = false
			// The same document: the same bytes unless tf or length changed.
			changed = changed || !bytes.Equal(dst[at:], raw)
		default:
			dst = appendPosting(dst, op)
			n++
			changed = true
		}
	}
	if have {
		dst = append(dst, raw...)
		n++
	}
	for left > 0 {
		if err := next(false); err != nil {
			return fail(err)
		}
		dst = append(dst, raw...)
		n++
	}
	if len(block) != 0 {
		return fail(fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(block)))
	}
	var head [binary.MaxVarintLen64]byte
	h := binary.PutUvarint(head[:], uint64(n))
	at := start + binary.MaxVarintLen64 - h
	copy(dst[at:], head[:h])
	return append(dst[:start], dst[at:]...), n, changed, nil
}

// uvarintLen is the length of x's uvarint encoding.
func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// unsafeString views b as a string without copying, for comparisons.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// appendPosting appends one posting's binary form.
func appendPosting(dst []byte, p Posting) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(p.Doc)))
	dst = append(dst, p.Doc...)
	dst = binary.AppendUvarint(dst, uint64(p.TF))
	return binary.AppendUvarint(dst, uint64(p.Length))
}

// Split divides c into chunks of at most max postings, halving hash ranges at
// the median hash. The result is a function of c's postings and range only,
// so a replay splits the same way. A chunk whose postings all share one hash
// (which needs a 64-bit collision) cannot be split and is returned as it is.
func Split(c Chunk, max int) []Chunk {
	if len(c.Postings) <= max {
		return []Chunk{c}
	}
	mid := len(c.Postings) / 2
	h := Hash(c.Postings[mid].Doc)
	// Move the cut to the first posting of hash h, or past it when the lower
	// half would be empty.
	cut := mid
	for cut > 0 && Hash(c.Postings[cut-1].Doc) == h {
		cut--
	}
	if cut == 0 {
		for cut < len(c.Postings) && Hash(c.Postings[cut].Doc) == h {
			cut++
		}
		if cut == len(c.Postings) {
			return []Chunk{c}
		}
		h = Hash(c.Postings[cut].Doc)
	}
	left := Chunk{Lo: c.Lo, Hi: h - 1, Postings: slices.Clone(c.Postings[:cut])}
	right := Chunk{Lo: h, Hi: c.Hi, Postings: slices.Clone(c.Postings[cut:])}
	return append(Split(left, max), Split(right, max)...)
}

// Encoding: a posting block is
//
//	uvarint count
//	count × { uvarint len(doc), doc bytes, uvarint tf, uvarint length }
//
// Postings keep their (hash, doc) order; the hash is not stored.

// Encode appends the binary form of postings to dst.
func Encode(dst []byte, postings []Posting) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(postings)))
	for _, p := range postings {
		dst = appendPosting(dst, p)
	}
	return dst
}

var errCorrupt = errors.New("corrupt posting block")

// readPosting parses the posting at the start of b: its document id (in b),
// term frequency and field length, and how many bytes it takes; ok is false
// if b does not start with a whole, valid posting.
func readPosting(b []byte) (doc []byte, tf, length uint32, size int, ok bool) {
	l, k := binary.Uvarint(b)
	if k <= 0 || l > uint64(len(b)-k) {
		return nil, 0, 0, 0, false
	}
	end := k + int(l)
	t, k1 := binary.Uvarint(b[end:])
	if k1 <= 0 || t > 1<<32-1 {
		return nil, 0, 0, 0, false
	}
	n, k2 := binary.Uvarint(b[end+k1:])
	if k2 <= 0 || n > 1<<32-1 {
		return nil, 0, 0, 0, false
	}
	return b[k:end], uint32(t), uint32(n), end + k1 + k2, true
}

// Decode parses a block written by Encode, appending to dst.
func Decode(dst []Posting, b []byte) ([]Posting, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return dst, errCorrupt
	}
	b = b[k:]
	dst = slices.Grow(dst, int(n))
	for i := uint64(0); i < n; i++ {
		doc, tf, ln, size, ok := readPosting(b)
		if !ok {
			return dst, fmt.Errorf("%w: posting %d", errCorrupt, i)
		}
		b = b[size:]
		dst = append(dst, Posting{Doc: string(doc), TF: tf, Length: ln})
	}
	if len(b) != 0 {
		return dst, fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(b))
	}
	return dst, nil
}
