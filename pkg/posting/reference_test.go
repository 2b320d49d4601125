package posting

import "slices"

// The decoded reference that ApplyEncoded is checked against
// (TestApplyEncodedMatchesApply), and the decoded path BenchmarkPlanChunk
// compares it with. The persister used these until ApplyEncoded replaced
// them; nothing outside the tests does now.

// find returns the position of doc in the chunk and whether it is there.
func (c *Chunk) find(h uint64, doc string) (int, bool) {
	return slices.BinarySearchFunc(c.Postings, doc, func(p Posting, d string) int {
		return less(Hash(p.Doc), p.Doc, h, d)
	})
}

// Apply applies ops in order: a posting with TF > 0 is set (added or
// replaced), TF == 0 removes the document. Applying the same ops twice gives
// the same chunk. It reports whether the chunk changed.
//
// A few ops, or few for the chunk's size, are applied one by one (a binary
// search each); more are sorted and merged with the postings in one pass,
// so a bulk load that adds thousands of documents to a term costs n log n,
// not the n² of inserting them one at a time (BenchmarkChunkApply: 1000 ops
// on 5000 postings 2.8× faster, 5000 ops on an empty chunk 1.45×).
func (c *Chunk) Apply(ops []Op) bool {
	if len(ops) > applyMergeMin && applyMergeMin*len(ops) > len(c.Postings) {
		return c.merge(ops)
	}
	changed := false
	for _, op := range ops {
		h := Hash(op.Doc)
		i, found := c.find(h, op.Doc)
		switch {
		case op.TF == 0 && found:
			c.Postings = slices.Delete(c.Postings, i, i+1)
			changed = true
		case op.TF == 0:
		case found:
			if c.Postings[i] != op {
				c.Postings[i] = op
				changed = true
			}
		default:
			c.Postings = slices.Insert(c.Postings, i, op)
			changed = true
		}
	}
	return changed
}

// Apply merges above applyMergeMin ops, and above 1/applyMergeMin of the
// postings (merging hashes every posting; a binary search a dozen).
const applyMergeMin = 16

// merge is Apply for many ops: the last op of each document, in posting
// order, merged with the postings into a new slice.
func (c *Chunk) merge(ops []Op) bool {
	hs := sortOps(ops)
	out := make([]Posting, 0, len(c.Postings)+len(hs))
	changed := false
	i := 0
	var ph uint64 // Hash of c.Postings[i], once hashed
	hashed := -1
	for j := 0; j < len(hs); j++ {
		if j+1 < len(hs) && ops[hs[j+1].i].Doc == ops[hs[j].i].Doc {
			continue // a later op of the same document wins
		}
		h, op := hs[j].h, ops[hs[j].i]
		// Postings before the op's document stay.
		for i < len(c.Postings) {
			p := c.Postings[i]
			if hashed != i {
				ph, hashed = Hash(p.Doc), i
			}
			if less(ph, p.Doc, h, op.Doc) >= 0 {
				break
			}
			out = append(out, p)
			i++
		}
		found := i < len(c.Postings) && c.Postings[i].Doc == op.Doc
		switch {
		case op.TF == 0 && found:
			i++
			changed = true
		case op.TF == 0:
		case found:
			if c.Postings[i] != op {
				changed = true
			}
			out = append(out, op)
			i++
		default:
			out = append(out, op)
			changed = true
		}
	}
	out = append(out, c.Postings[i:]...)
	c.Postings = out
	return changed
}
