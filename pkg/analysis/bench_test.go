package analysis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// Benchmark corpus: documents built deterministically from a seeded
// generator, with words drawn from a Zipf-distributed vocabulary, so runs
// are comparable with benchstat.

// benchCommon are the most frequent words of the vocabulary, in rank order;
// the rest of it is made-up words.
var benchCommon = strings.Fields(`the a is of to and in it returns if for be that
	value an or not by with this are as error nil on string func reader from
	when buffer new type can must called data use any has which write read
	len zero length slice byte context should its`)

// benchGen generates benchmark documents.
type benchGen struct {
	r     *rand.Rand
	zipf  *rand.Zipf
	vocab []string
}

func newBenchGen(seed uint64) *benchGen {
	r := rand.New(rand.NewPCG(seed, 0x7465726d666c6f77))
	vocab := append([]string(nil), benchCommon...)
	seen := map[string]bool{}
	for _, w := range vocab {
		seen[w] = true
	}
	for len(vocab) < 20000 {
		n := 2 + r.IntN(9)
		var sb strings.Builder
		for range n {
			sb.WriteByte(byte('a' + r.IntN(26)))
		}
		if w := sb.String(); !seen[w] {
			seen[w] = true
			vocab = append(vocab, w)
		}
	}
	return &benchGen{r: r, zipf: rand.NewZipf(r, 1.07, 2, uint64(len(vocab)-1)), vocab: vocab}
}

func (g *benchGen) word() string { return g.vocab[g.zipf.Uint64()] }

// words writes n words separated by spaces, some capitalized.
func (g *benchGen) words(sb *strings.Builder, n int) {
	for i := range n {
		if i > 0 {
			sb.WriteByte(' ')
		}
		w := g.word()
		if g.r.IntN(10) == 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		sb.WriteString(w)
	}
}

// short returns a document of about 20 words: {"title": 5, "body": 15}.
func (g *benchGen) short(i int) []byte {
	var title, body strings.Builder
	g.words(&title, 5)
	g.words(&body, 15)
	b, err := json.Marshal(struct {
		ID    string `json:"id"`
		Title string `json:"title"`
		Body  string `json:"body"`
	}{fmt.Sprintf("doc-%d", i), title.String(), body.String()})
	if err != nil {
		panic(err)
	}
	return b
}

// godocText returns about n words of godoc-like prose: sentences with
// punctuation, qualified identifiers, numbers, paths and code fragments.
func (g *benchGen) godocText(n int) string {
	var sb strings.Builder
	for words := 0; words < n; {
		if words > 0 {
			sb.WriteByte(' ')
		}
		switch k := g.r.IntN(20); {
		case k == 0: // a code line
			fmt.Fprintf(&sb, "\n\t%s := %s.%s(%s, %d)\n", g.word(), g.word(), strings.ToUpper(g.word()[:1]), g.word(), g.r.IntN(1000))
			words += 5
			continue
		case k == 1: // a paragraph break
			sb.WriteString("\n\n")
		}
		// A sentence of 5..24 words.
		m := 5 + g.r.IntN(20)
		for j := range m {
			if j > 0 {
				sb.WriteByte(' ')
			}
			w := g.word()
			switch g.r.IntN(25) {
			case 0:
				w = w + "." + strings.ToUpper(w[:1]) + g.word() // pkg.Ident
			case 1:
				w = fmt.Sprintf("%d.%d", g.r.IntN(100), g.r.IntN(100))
			case 2:
				w = w + "/" + g.word()
			case 3:
				w = "(" + w + ")"
			case 4:
				w += ","
			}
			if j == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			sb.WriteString(w)
		}
		sb.WriteByte('.')
		words += m
	}
	return sb.String()
}

// long returns a godoc-like document of about 2000 words.
func (g *benchGen) long(i int) []byte {
	b, err := json.Marshal(struct {
		ID       string `json:"id"`
		Kind     string `json:"kind"`
		Synopsis string `json:"synopsis"`
		Doc      string `json:"doc"`
	}{fmt.Sprintf("pkg%d.Ident%d", i%97, i), "func", g.godocText(12), g.godocText(2000)})
	if err != nil {
		panic(err)
	}
	return b
}

// benchDocs returns n documents of the given kind ("short" or "long").
func benchDocs(kind string, n int) [][]byte {
	g := newBenchGen(1)
	docs := make([][]byte, n)
	for i := range docs {
		if kind == "long" {
			docs[i] = g.long(i)
		} else {
			docs[i] = g.short(i)
		}
	}
	return docs
}

var benchSample = []byte(`{"id": "strings.Builder", "kind": "type", "synopsis": "A Builder is used to efficiently build a string using Write methods.",
	"doc": "A Builder is used to efficiently build a string using Builder.Write methods. It minimizes memory copying. The zero value is ready to use. Do not copy a non-zero Builder."}`)

var benchKinds = []struct {
	name string
	docs func() [][]byte
}{
	{"doc=sample", func() [][]byte { return [][]byte{benchSample} }},
	{"doc=short", func() [][]byte { return benchDocs("short", 1000) }},
	{"doc=long", func() [][]byte { return benchDocs("long", 50) }},
}

func avgLen(docs [][]byte) int64 {
	n := 0
	for _, d := range docs {
		n += len(d)
	}
	return int64(n / len(docs))
}

// BenchmarkAnalyze: one operation analyzes one JSON document (decoding
// included, as the indexer does), cycling through the corpus.
func BenchmarkAnalyze(b *testing.B) {
	for _, k := range benchKinds {
		b.Run(k.name, func(b *testing.B) {
			docs := k.docs()
			b.ReportAllocs()
			b.SetBytes(avgLen(docs))
			i := 0
			for b.Loop() {
				if _, err := AnalyzeJSON(docs[i%len(docs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkTokens: one operation tokenizes the text values of one document,
// without JSON decoding or term counting.
func BenchmarkTokens(b *testing.B) {
	for _, k := range benchKinds {
		b.Run(k.name, func(b *testing.B) {
			var texts []string
			for _, d := range k.docs() {
				var m map[string]string
				if err := json.Unmarshal(d, &m); err != nil {
					b.Fatal(err)
				}
				var sb strings.Builder
				for _, v := range m {
					sb.WriteString(v)
					sb.WriteByte('\n')
				}
				texts = append(texts, sb.String())
			}
			n := 0
			for _, t := range texts {
				n += len(t)
			}
			b.ReportAllocs()
			b.SetBytes(int64(n / len(texts)))
			i, terms := 0, 0
			for b.Loop() {
				Tokens(texts[i%len(texts)], func(string) { terms++ })
				i++
			}
			if terms == 0 {
				b.Fatal("no terms")
			}
		})
	}
}

// TestBenchCorpus keeps the benchmark corpus what the benchmarks claim it is.
func TestBenchCorpus(t *testing.T) {
	count := func(doc []byte) (words int, all *Field) {
		d, err := AnalyzeJSON(doc)
		if err != nil {
			t.Fatal(err)
		}
		return int(d.Field(AllField).Length), d.Field(AllField)
	}
	short := benchDocs("short", 100)
	for _, d := range short {
		if n, _ := count(d); n < 18 || n > 24 { // 20 words plus the id
			t.Fatalf("short doc has %d terms: %s", n, d)
		}
	}
	long := benchDocs("long", 2)
	for _, d := range long {
		if n, _ := count(d); n < 1900 || n > 2400 {
			t.Fatalf("long doc has %d terms", n)
		}
	}
	if string(benchDocs("short", 3)[2]) != string(short[2]) {
		t.Fatal("corpus is not deterministic")
	}
	// Zipf: the most frequent word is far more frequent than a median one.
	_, all := count(long[0])
	if freq(all, "the") < 20 {
		t.Fatalf(`"the" occurs %d times in a long doc`, freq(all, "the"))
	}
}

// corpusDocs returns the documents of the NDJSON file named by
// TERMFLOW_BENCH_CORPUS (bin/godoc-corpus -o writes the godoc corpus), or
// skips the benchmark when it is not set.
func corpusDocs(b *testing.B) [][]byte {
	path := os.Getenv("TERMFLOW_BENCH_CORPUS")
	if path == "" {
		b.Skip("TERMFLOW_BENCH_CORPUS names no NDJSON corpus (make build && bin/godoc-corpus -o godoc.ndjson)")
	}
	src, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(src), []byte("\n"))
}

// BenchmarkAnalyzeCorpus: one operation analyzes every document of a real
// corpus (TERMFLOW_BENCH_CORPUS).
func BenchmarkAnalyzeCorpus(b *testing.B) {
	docs := corpusDocs(b)
	b.ReportAllocs()
	for b.Loop() {
		for _, d := range docs {
			if _, err := AnalyzeJSON(d); err != nil {
				b.Fatal(err)
			}
		}
	}
}
