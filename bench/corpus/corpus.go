// Package corpus provides the document collections the benchmarks index:
// real text (the Go standard library documentation, Debian package
// descriptions) and a seeded synthetic corpus with a Zipf-distributed
// vocabulary.
//
// A Corpus is a named, deterministic, random-access sequence of documents.
// Every document is a JSON object (valid UTF-8, no duplicate keys, an "id"
// member that is a JSON string equal to Doc.ID) that Termflow's bulk API
// accepts as one NDJSON line and that a library such as Bleve can
// unmarshal into a map. IDs are unique within a corpus and are valid
// Termflow document ids (pkg/document.ValidateID).
//
// Godoc and Debian read their source once and keep the documents in
// memory (a few MB for Godoc, tens of MB for Debian). Zipf computes each
// document on demand from (seed, index), so a million-document corpus
// costs no memory.
package corpus

import "fmt"

// Doc is one document: its id and its JSON object body.
type Doc struct {
	ID   string
	JSON []byte
}

// Corpus is a named, deterministic, random-access sequence of documents.
// Doc(i) is defined for 0 <= i < Len() and returns the same document every
// time it is called; the returned JSON must not be modified. The corpora
// of this package are safe for concurrent use.
type Corpus interface {
	Name() string
	Len() int
	Doc(i int) Doc
}

// Take returns the first n documents of c, named "<name>-first<n>". It
// panics if n is negative or greater than c.Len().
func Take(c Corpus, n int) Corpus {
	if n < 0 || n > c.Len() {
		panic(fmt.Sprintf("corpus: Take(%s, %d): the corpus has %d documents", c.Name(), n, c.Len()))
	}
	return prefix{c: c, n: n}
}

type prefix struct {
	c Corpus
	n int
}

func (p prefix) Name() string { return fmt.Sprintf("%s-first%d", p.c.Name(), p.n) }
func (p prefix) Len() int     { return p.n }
func (p prefix) Doc(i int) Doc {
	if i < 0 || i >= p.n {
		panic(fmt.Sprintf("corpus: %s: document %d out of range [0, %d)", p.Name(), i, p.n))
	}
	return p.c.Doc(i)
}

// docs is a corpus held in memory.
type docs struct {
	name string
	docs []Doc
}

func (d *docs) Name() string  { return d.name }
func (d *docs) Len() int      { return len(d.docs) }
func (d *docs) Doc(i int) Doc { return d.docs[i] }
