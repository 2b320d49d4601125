package mongostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/termflow/termflow/pkg/analysis"
	"github.com/termflow/termflow/pkg/posting"
)

// ErrIndexNotFound is returned for an index that has no documents stored.
var ErrIndexNotFound = errors.New("index not found")

// Hit is one search result.
type Hit struct {
	ID     string          `json:"id"`
	Score  float64         `json:"score"`
	Source json.RawMessage `json:"source"`
}

// SearchResult is a page of hits and the total number of matches.
type SearchResult struct {
	Total int   `json:"total"`
	Hits  []Hit `json:"hits"`
}

// IndexStats describes a persisted index.
type IndexStats struct {
	DocumentCount int64 `json:"documentCount"`
	TermCount     int64 `json:"termCount"`
}

// TermStats describes how one term is stored.
type TermStats struct {
	Postings int64 `json:"postings"`
	Chunks   int64 `json:"chunks"`
}

// BM25 parameters.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

type indexStatsDoc struct {
	Docs int64 `bson:"docs"`
}

type fieldStatsDoc struct {
	ID   string `bson:"_id"`
	Docs int64  `bson:"docs"`
	Len  int64  `bson:"len"`
}

func (s *Store) indexDocs(ctx context.Context, index string) (int64, error) {
	var d indexStatsDoc
	err := s.indexStats.FindOne(ctx, bson.D{{Key: "_id", Value: index}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, ErrIndexNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("read index stats: %w", err)
	}
	return d.Docs, nil
}

// IndexStats returns the document and term counts of an index.
func (s *Store) IndexStats(ctx context.Context, index string) (IndexStats, error) {
	docs, err := s.indexDocs(ctx, index)
	if err != nil {
		return IndexStats{}, err
	}
	terms, err := s.terms.CountDocuments(ctx, IndexFilter(CollTerms, index))
	if err != nil {
		return IndexStats{}, fmt.Errorf("count terms: %w", err)
	}
	return IndexStats{DocumentCount: docs, TermCount: terms}, nil
}

// TermStats returns how a term is stored; an unknown term has zero postings.
func (s *Store) TermStats(ctx context.Context, index, field, term string) (TermStats, error) {
	var h headDoc
	err := s.terms.FindOne(ctx, bson.D{{Key: "_id", Value: TermKey(index, field, term)}}).Decode(&h)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return TermStats{}, nil
	}
	if err != nil {
		return TermStats{}, fmt.Errorf("read term: %w", err)
	}
	return TermStats{Postings: h.N, Chunks: int64(len(h.Chunks))}, nil
}

// Postings returns every posting of a term, merged from its chunks, and the
// chunk sizes in hash order.
func (s *Store) Postings(ctx context.Context, index, field, term string) ([]posting.Posting, []int, error) {
	heads, lists, err := s.readTerms(ctx, []string{TermKey(index, field, term)})
	if err != nil || heads == nil {
		return nil, nil, err
	}
	var sizes []int
	for _, l := range lists[0] {
		sizes = append(sizes, len(l))
	}
	return slices.Concat(lists[0]...), sizes, nil
}

// errChunksMissing: a head lists a chunk the chunks collection does not hold.
var errChunksMissing = errors.New("chunks missing")

// chunkRetry bounds how long a reader waits for chunks a head lists. The
// persister rewrites chunks in place, but deletes a split or emptied term's
// old chunks after the heads stop listing them, and a journal's redo after a
// crash deletes before it inserts, so a reader that read a head just before
// it changed can find a listed chunk missing for a moment: it reads heads
// and chunks again.
var chunkRetry = struct{ first, max, total time.Duration }{10 * time.Millisecond, 500 * time.Millisecond, 10 * time.Second}

// readTerms reads the heads of keys and their chunks, in key order. It
// returns nil heads if any key has no head.
func (s *Store) readTerms(ctx context.Context, keys []string) ([]*headDoc, [][][]posting.Posting, error) {
	start, wait := time.Now(), chunkRetry.first
	for {
		found := map[string]*headDoc{}
		if err := findByIDs(ctx, s.terms, keys, func(h headDoc) { found[h.ID] = &h }); err != nil {
			return nil, nil, err
		}
		heads := make([]*headDoc, len(keys))
		for i, k := range keys {
			if found[k] == nil {
				return nil, nil, nil
			}
			heads[i] = found[k]
		}
		lists, err := s.loadChunks(ctx, heads)
		if !errors.Is(err, errChunksMissing) || time.Since(start)+wait > chunkRetry.total {
			return heads, lists, err
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, chunkRetry.max)
	}
}

// loadChunks reads the chunks of the given heads, in head order.
func (s *Store) loadChunks(ctx context.Context, heads []*headDoc) ([][][]posting.Posting, error) {
	type at struct{ h, c int }
	where := map[string]at{}
	var ids []string
	out := make([][][]posting.Posting, len(heads))
	for hi, h := range heads {
		out[hi] = make([][]posting.Posting, len(h.Chunks))
		if h.inline() {
			if len(h.Chunks) != 1 {
				return nil, fmt.Errorf("term %q: inline postings and %d chunks", h.ID, len(h.Chunks))
			}
			ps, err := posting.Decode(nil, h.P)
			if err != nil {
				return nil, fmt.Errorf("term %q: inline postings: %w", h.ID, err)
			}
			out[hi][0] = ps
			continue
		}
		for ci, m := range h.Chunks {
			id := chunkID(h.ID, uint64(m.Lo), uint64(m.Hi))
			where[id] = at{hi, ci}
			ids = append(ids, id)
		}
	}
	var decodeErr error
	found := 0
	err := findByIDs(ctx, s.chunks, ids, func(c chunkDoc) {
		a, ok := where[c.ID]
		if !ok {
			return
		}
		found++
		ps, err := posting.Decode(nil, c.P)
		if err != nil && decodeErr == nil {
			decodeErr = fmt.Errorf("chunk %q: %w", c.ID, err)
		}
		out[a.h][a.c] = ps
	})
	if err != nil {
		return nil, err
	}
	if decodeErr != nil {
		return nil, decodeErr
	}
	if found != len(ids) {
		return nil, fmt.Errorf("%d of %d listed: %w", len(ids)-found, len(ids), errChunksMissing)
	}
	return out, nil
}

// Search finds the documents of index that contain every query term and
// ranks them with BM25 (k1=1.2, b=0.75) over the persisted statistics.
func (s *Store) Search(ctx context.Context, index string, q []analysis.QueryTerm, from, limit int) (SearchResult, error) {
	res := SearchResult{Hits: []Hit{}}
	n, err := s.indexDocs(ctx, index)
	if err != nil {
		return res, err
	}
	if len(q) == 0 {
		return res, nil
	}
	keys := make([]string, len(q))
	for i, t := range q {
		keys[i] = TermKey(index, t.Field, t.Term)
	}
	ordered, lists, err := s.readTerms(ctx, keys)
	if err != nil {
		return res, err
	}
	if ordered == nil {
		return res, nil // a term with no postings: no document has every term
	}
	// Field statistics for BM25's average field length.
	var fieldIDs []string
	for _, t := range q {
		fieldIDs = append(fieldIDs, index+"|"+t.Field)
	}
	avgdl := map[string]float64{}
	if err := findByIDs(ctx, s.fieldStats, fieldIDs, func(f fieldStatsDoc) {
		if f.Docs > 0 {
			avgdl[strings.TrimPrefix(f.ID, index+"|")] = float64(f.Len) / float64(f.Docs)
		}
	}); err != nil {
		return res, err
	}
	// Intersect, starting from the rarest term.
	order := make([]int, len(q))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return int(ordered[a].N - ordered[b].N) })
	scores := map[string]float64{}
	for pos, ti := range order {
		df := float64(ordered[ti].N)
		idf := math.Log(1 + (float64(n)-df+0.5)/(df+0.5))
		dl := avgdl[q[ti].Field]
		if dl == 0 {
			dl = 1
		}
		next := make(map[string]float64, len(scores))
		for _, chunk := range lists[ti] {
			for _, p := range chunk {
				prev, ok := scores[p.Doc]
				if pos > 0 && !ok {
					continue
				}
				tf := float64(p.TF)
				next[p.Doc] = prev + idf*tf*(bm25K1+1)/(tf+bm25K1*(1-bm25B+bm25B*float64(p.Length)/dl))
			}
		}
		scores = next
		if len(scores) == 0 {
			return res, nil
		}
	}
	hits := make([]Hit, 0, len(scores))
	for id, sc := range scores {
		hits = append(hits, Hit{ID: id, Score: math.Round(sc*1e6) / 1e6})
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	res.Total = len(hits)
	if from >= len(hits) {
		return res, nil
	}
	hits = hits[from:min(len(hits), from+limit)]
	ids := make([]string, len(hits))
	pos := map[string]int{}
	for i, h := range hits {
		ids[i] = docKey(index, h.ID)
		pos[ids[i]] = i
	}
	if err := findByIDs(ctx, s.docs, ids, func(d storedDoc) {
		hits[pos[d.ID]].Source = json.RawMessage(d.Source)
	}); err != nil {
		return res, err
	}
	res.Hits = hits
	return res, nil
}
