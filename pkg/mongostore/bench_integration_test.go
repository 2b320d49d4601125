//go:build integration

package mongostore

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// zipfText returns n documents of about 20 words each drawn from a seeded
// Zipf-distributed vocabulary of 50,000 words.
func zipfText(n int) []string {
	r := rand.New(rand.NewSource(42))
	z := rand.NewZipf(r, 1.1, 2, 49999)
	out := make([]string, n)
	var sb strings.Builder
	for i := range out {
		sb.Reset()
		for w := range 12 + r.Intn(17) {
			if w > 0 {
				sb.WriteByte(' ')
			}
			fmt.Fprintf(&sb, "w%d", z.Uint64())
		}
		out[i] = sb.String()
	}
	return out
}

// BenchmarkPersist applies a bulk load of synthetic documents as the
// persister does (events of 100 new documents, ApplyBatch over a poll of
// events) into a fresh database, then writes the final documents, heads and
// chunks once more with unordered insertMany into another fresh database:
// the raw bulk-write rate of the same server for the same documents.
// Metrics: docs/s, (term,chunk)/s, MongoDB documents written per (term,
// chunk) (posting collections, and everything), commands per batch, and
// persist/raw (the persister's share of the raw rate).
//
//	cd pkg && TERMFLOW_TEST_MONGO_URI=mongodb://127.0.0.1:27018 go test -tags integration \
//	  -run '^$' -bench Persist -benchtime 1x ./mongostore/
func BenchmarkPersist(b *testing.B) {
	for _, n := range []int{5000, 20000} {
		for _, poll := range pollSizes() {
			b.Run(fmt.Sprintf("docs=%d/poll=%d", n, poll), func(b *testing.B) { benchPersist(b, n, poll) })
		}
	}
}

func benchPersist(b *testing.B, n, poll int) {
	const perEvent = 100
	texts := zipfText(n)
	var items []Item
	for first := 0; first < n; first += perEvent {
		k := min(perEvent, n-first)
		ev := docEvent(0, int64(first), ids("doc", first, k), func(i int) string { return texts[first+i] })
		items = append(items, Item{Offset: int64(len(items)), Event: ev})
	}
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		s := openTestStore(b)
		written := map[string]int{}
		commands := 0
		s.SetCommandHook(func(c Command) { written[c.Collection] += c.Docs; commands++ })
		cp := Checkpoint{Offset: -1}
		pairs, batches := 0, 0
		b.StartTimer()
		start := time.Now()
		for i := 0; i < len(items); i += poll {
			st, err := s.ApplyBatch(ctx, items[i:min(i+poll, len(items))], &cp)
			if err != nil {
				b.Fatal(err)
			}
			pairs += st.TermChunks
			batches++
		}
		persist := time.Since(start)
		b.StopTimer()
		raw := rawBulkWrite(b, s)
		b.ReportMetric(float64(n)/persist.Seconds(), "docs/s")
		b.ReportMetric(float64(pairs)/persist.Seconds(), "termchunks/s")
		b.ReportMetric(float64(written[CollTerms]+written[CollChunks])/float64(pairs), "postingwrites/termchunk")
		all := 0
		for _, w := range written {
			all += w
		}
		b.ReportMetric(float64(all)/float64(pairs), "writes/termchunk")
		b.ReportMetric(float64(commands)/float64(batches), "commands/batch")
		b.ReportMetric(raw.Seconds()/persist.Seconds(), "persist/raw")
		b.Logf("docs=%d poll=%d: persist %v (%d batches, %d pairs), raw insert %v; written %v",
			n, poll, persist.Round(time.Millisecond), batches, pairs, raw.Round(time.Millisecond), written)
		b.StartTimer()
	}
}

// rawBulkWrite copies the persisted documents, heads and chunks into a fresh
// database with unordered inserts of 1000 documents (Steps, InsertRaw,
// as the store writes) and returns the time the inserts took.
func rawBulkWrite(b *testing.B, from *Store) time.Duration {
	ctx := context.Background()
	to := openTestStore(b)
	var total time.Duration
	for _, c := range []string{CollDocuments, CollTerms, CollChunks} {
		cur, err := from.db.Collection(c).Find(ctx, bson.D{}, options.Find().SetBatchSize(1000))
		if err != nil {
			b.Fatal(err)
		}
		var docs []bson.Raw
		if err := cur.All(ctx, &docs); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for _, part := range Steps(docs, 1000) {
			if _, err := InsertRaw(ctx, to.db.Collection(c), part); err != nil {
				b.Fatal(err)
			}
		}
		total += time.Since(start)
	}
	return total
}

func pollSizes() []int {
	if v := os.Getenv("TERMFLOW_BENCH_POLL"); v != "" {
		n, _ := strconv.Atoi(v)
		return []int{n}
	}
	return []int{10, 64}
}
