package corpus

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"strings"
	"sync"
	"testing"
)

func TestZipfWords(t *testing.T) {
	seen := make(map[string]int, ZipfVocabulary)
	for r := 1; r <= ZipfVocabulary; r++ {
		w := ZipfWord(r)
		if j, dup := seen[w]; dup {
			t.Fatalf("ranks %d and %d share the word %q", j, r, w)
		}
		seen[w] = r
		want := 2
		switch {
		case r > 10100:
			want = 6
		case r > 100:
			want = 4
		}
		if len(w) != want {
			t.Fatalf("rank %d: word %q has %d letters, want %d", r, w, len(w), want)
		}
	}
	for r, w := range map[int]string{1: "ba", 2: "be", 100: "zu", 101: "baba", 10100: "zuzu", 10101: "bababa"} {
		if got := ZipfWord(r); got != w {
			t.Errorf("ZipfWord(%d) = %q, want %q", r, got, w)
		}
	}
}

// TestZipfGolden pins the bytes of the first documents: a change here
// changes every benchmark's input and must be deliberate. The values were
// cross-checked with an independent implementation of the algorithm in the
// package documentation (Python, arbitrary-precision integers).
func TestZipfGolden(t *testing.T) {
	z := Zipf(1, 1000)
	h := sha256.New()
	for i := range 5 {
		h.Write(z.Doc(i).JSON)
		h.Write([]byte{'\n'})
	}
	const want = "14623b05f13419976d07bf4d798e17831b3bc691504ef3b9d020e5ae2bc302cf"
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Errorf("sha256 of the first 5 documents of zipf seed 1 = %s, want %s\nfirst document: %s", got, want, z.Doc(0).JSON)
	}
	const doc0 = `{"id":"z0","title":"re hezi zoti teda","body":"ce di va fe bepika babi da kute bokuya cofu bi co ko ke bada be maya di du fu ku de ba bedu fo wana ba babocu rora bu bajevu fi have bekefo vu bagoxe xu coju be rike ba batiko batave be ba xo","tags":[]}`
	if got := string(z.Doc(0).JSON); got != doc0 {
		t.Errorf("document 0 = %s\nwant         %s", got, doc0)
	}
}

func TestZipfDeterministic(t *testing.T) {
	a, b := Zipf(42, 1_000_000), Zipf(42, 10)
	// Random access in any order, any corpus size: the same bytes.
	for _, i := range []int{9, 0, 5, 9, 3} {
		if !bytes.Equal(a.Doc(i).JSON, b.Doc(i).JSON) {
			t.Fatalf("document %d depends on the corpus size or the access order", i)
		}
	}
	if !bytes.Equal(a.Doc(999_999).JSON, Zipf(42, 1_000_000).Doc(999_999).JSON) {
		t.Fatal("document 999999 differs between two instances")
	}
	if bytes.Equal(Zipf(43, 10).Doc(0).JSON, a.Doc(0).JSON) {
		t.Error("seeds 42 and 43 give the same document 0")
	}
	same := 0
	for i := 1; i < 100; i++ {
		if bytes.Equal(a.Doc(i).JSON, a.Doc(i-1).JSON) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d consecutive documents are identical", same)
	}
}

func TestZipfConcurrent(t *testing.T) {
	z := Zipf(9, 4000)
	want := make([][]byte, z.Len())
	for i := range want {
		want[i] = z.Doc(i).JSON
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < z.Len(); i += 3 {
				if got := z.Doc(i).JSON; !bytes.Equal(got, want[i]) {
					t.Errorf("document %d differs when read concurrently", i)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestZipfDocuments(t *testing.T) {
	c := Zipf(3, 20000)
	checkCorpus(t, c)
	for i := range c.Len() {
		var d struct {
			ID    string   `json:"id"`
			Title string   `json:"title"`
			Body  string   `json:"body"`
			Tags  []string `json:"tags"`
		}
		if err := json.Unmarshal(c.Doc(i).JSON, &d); err != nil {
			t.Fatal(err)
		}
		if n := len(strings.Fields(d.Title)); n < 3 || n > 8 {
			t.Fatalf("document %d: title of %d words", i, n)
		}
		if n := len(strings.Fields(d.Body)); n < 10 || n > 60 {
			t.Fatalf("document %d: body of %d words", i, n)
		}
		if len(d.Tags) > 3 {
			t.Fatalf("document %d: %d tags", i, len(d.Tags))
		}
	}
}

// TestZipfLaw checks the rank-frequency law on the words of 20,000
// documents (about 800,000 words): the observed frequency of each of the
// 100 most frequent ranks is within 10 % of N/(r·H), and the least-squares
// slope of log frequency against log rank over ranks 1-1000 is -1 ± 0.05.
func TestZipfLaw(t *testing.T) {
	rankOf := make(map[string]int, ZipfVocabulary)
	for r := 1; r <= ZipfVocabulary; r++ {
		rankOf[ZipfWord(r)] = r
	}
	counts := make([]int, ZipfVocabulary+1)
	total := 0
	c := Zipf(11, 20000)
	for i := range c.Len() {
		var d struct{ Title, Body string }
		if err := json.Unmarshal(c.Doc(i).JSON, &d); err != nil {
			t.Fatal(err)
		}
		for _, w := range strings.Fields(d.Title + " " + d.Body) {
			r, ok := rankOf[w]
			if !ok {
				t.Fatalf("word %q is not in the vocabulary", w)
			}
			counts[r]++
			total++
		}
	}
	var harmonic float64
	for r := 1; r <= ZipfVocabulary; r++ {
		harmonic += 1 / float64(r)
	}
	for r := 1; r <= 100; r++ {
		want := float64(total) / (float64(r) * harmonic)
		if got := float64(counts[r]); math.Abs(got-want) > 0.1*want {
			t.Errorf("rank %d: %d occurrences, want %.0f ± 10 %%", r, counts[r], want)
		}
	}
	var sx, sy, sxx, sxy float64
	const ranks = 1000
	for r := 1; r <= ranks; r++ {
		if counts[r] == 0 {
			t.Fatalf("rank %d never drawn", r)
		}
		x, y := math.Log(float64(r)), math.Log(float64(counts[r]))
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	slope := (ranks*sxy - sx*sy) / (ranks*sxx - sx*sx)
	if math.Abs(slope+ZipfExponent) > 0.05 {
		t.Errorf("log-log slope over ranks 1-%d = %.3f, want %.2f ± 0.05", ranks, slope, -ZipfExponent)
	}
	t.Logf("%d words, rank 1 = %.2f %%, slope %.3f", total, 100*float64(counts[1])/float64(total), slope)
}

func BenchmarkZipfDoc(b *testing.B) {
	z := Zipf(1, 1_000_000)
	b.ReportAllocs()
	var bytes int64
	for i := 0; b.Loop(); i++ {
		bytes += int64(len(z.Doc(i % 1_000_000).JSON))
	}
	b.ReportMetric(float64(bytes)/float64(b.N), "B/doc")
}
