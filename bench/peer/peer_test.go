package peer

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/blevesearch/bleve/v2"

	"github.com/termflow/termflow/bench/corpus"
)

// TestBleveIndexes indexes 2500 Zipf documents in batches of 1000 and
// checks that term queries for a few words find exactly the documents
// whose title, body or tags hold the word.
func TestBleveIndexes(t *testing.T) {
	c := corpus.Zipf(5, 2500)
	dir := filepath.Join(t.TempDir(), "idx")
	var calls []int
	res, err := BleveProgress(context.Background(), dir, c, 1000, func(done int) { calls = append(calls, done) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Corpus != c.Name() || res.Docs != 2500 || res.BatchSize != 1000 || res.Seconds <= 0 ||
		res.DocsPerSec <= 0 || res.DiskBytes <= 0 {
		t.Errorf("result %+v", res)
	}
	if !slices.Equal(calls, []int{1000, 2000, 2500}) {
		t.Errorf("progress calls %v", calls)
	}

	// The expected hits, from the documents themselves.
	want := map[string][]string{}
	words := []string{corpus.ZipfWord(150), corpus.ZipfWord(2000), corpus.ZipfWord(20000)}
	for i := range c.Len() {
		d := c.Doc(i)
		var doc struct {
			Title, Body string
			Tags        []string
		}
		if err := json.Unmarshal(d.JSON, &doc); err != nil {
			t.Fatal(err)
		}
		fields := strings.Fields(doc.Title + " " + doc.Body + " " + strings.Join(doc.Tags, " "))
		for _, w := range words {
			if slices.Contains(fields, w) {
				want[w] = append(want[w], d.ID)
			}
		}
	}
	if len(want[words[0]]) < 5 {
		t.Fatalf("the test corpus has too few documents with %q: %v", words[0], want[words[0]])
	}

	index, err := bleve.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer index.Close()
	if n, err := index.DocCount(); err != nil || n != 2500 {
		t.Fatalf("DocCount = %d, %v", n, err)
	}
	for _, w := range words {
		req := bleve.NewSearchRequestOptions(bleve.NewTermQuery(w), 10000, 0, false)
		sr, err := index.Search(req)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range sr.Hits {
			got = append(got, h.ID)
		}
		slices.Sort(got)
		slices.Sort(want[w])
		if !slices.Equal(got, want[w]) {
			t.Errorf("%q: found %d documents %v, want %d %v", w, len(got), got, len(want[w]), want[w])
		}
	}
}

func TestBleveErrors(t *testing.T) {
	c := corpus.Zipf(1, 10)
	if _, err := Bleve(context.Background(), t.TempDir(), c, 1000); err == nil {
		t.Error("an existing directory was accepted")
	}
	if _, err := Bleve(context.Background(), filepath.Join(t.TempDir(), "x"), c, 0); err == nil {
		t.Error("batch size 0 was accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Bleve(ctx, filepath.Join(t.TempDir(), "x"), c, 5); err != context.Canceled {
		t.Errorf("canceled context: %v", err)
	}
}

// BenchmarkBleve indexes Zipf corpora in batches of 1000 into a new index
// per iteration; docs/s is the figure to compare.
func BenchmarkBleve(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		c := corpus.Zipf(1, n)
		b.Run("corpus=zipf/docs="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			var secs float64
			for i := 0; b.Loop(); i++ {
				res, err := Bleve(context.Background(), filepath.Join(b.TempDir(), "idx"), c, DefaultBatchSize)
				if err != nil {
					b.Fatal(err)
				}
				secs += res.Seconds
			}
			b.ReportMetric(float64(n*b.N)/secs, "docs/s")
		})
	}
}
