// Package analysis turns JSON documents and query strings into terms.
//
// Text is split into words by the Unicode word-boundary rules of UAX #29
// (github.com/clipperhouse/uax29), so "don't", "3.14" and "net/http" split the
// way a reader expects and every CJK ideograph is a word of its own. A word is
// kept when it holds at least one letter or digit; it is lower-cased with
// Unicode case folding rules (strings.ToLower). Words longer than MaxTermBytes
// are dropped: they are almost always base64 or hashes, and they would bloat
// every key they appear in.
//
// A document is a JSON object. Every string, number and boolean value is
// analyzed into the field named by its dotted path ("author.name"); arrays
// contribute to the field that holds them. Every term also goes to the
// catch-all field AllField. The analysis of a query uses the same rules, so a
// query term matches exactly what indexing produced.
package analysis

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/clipperhouse/uax29/v2/words"
)

// AllField is the field that receives every term of a document.
const AllField = "_all"

// MaxTermBytes is the longest term kept, in bytes.
const MaxTermBytes = 128

// MaxFieldBytes is the longest field path kept, in bytes; longer paths are
// truncated at a rune boundary.
const MaxFieldBytes = 256

// Tokens calls fn with every term of text, in order. Invalid UTF-8 is
// replaced by U+FFFD before segmentation, so terms are always valid UTF-8.
//
// ASCII text, most of what is indexed, takes asciiTokens, which applies the
// same rules in one pass over the bytes; the rest takes uax29's segmenter
// (unicodeTokens). Both give the same terms for any ASCII text
// (TestASCIITokensMatchUAX29, FuzzASCIITokens).
func Tokens(text string, fn func(term string)) {
	if isASCII(text) {
		asciiTokens(text, fn)
		return
	}
	unicodeTokens(text, fn)
}

// unicodeTokens is Tokens through uax29's word segmenter, for any text.
func unicodeTokens(text string, fn func(term string)) {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	it := words.FromString(text)
	for it.Next() {
		w := it.Value()
		if len(w) > MaxTermBytes || !isWord(w) {
			continue
		}
		fn(lower(w))
	}
}

// AppendTokens appends the terms of text to dst.
func AppendTokens(dst []string, text string) []string {
	Tokens(text, func(t string) { dst = append(dst, t) })
	return dst
}

// isWord reports whether w holds a letter or a digit.
func isWord(w string) bool {
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c < utf8.RuneSelf {
			if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') {
				return true
			}
			continue
		}
		r, _ := utf8.DecodeRuneInString(w[i:])
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsNumber(r) {
			return true
		}
	}
	return false
}

// lower lower-cases w without allocating when it is already lower-case ASCII.
func lower(w string) string {
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return strings.ToLower(w)
		}
	}
	return w
}

// TermFreq is a term and its frequency in a field.
type TermFreq struct {
	Term string
	TF   uint32
}

// Field is the analysis of one field of one document.
type Field struct {
	Name string
	// Terms holds each of the field's terms once, with its frequency in
	// the field, in the order of first occurrence (in the text as written
	// for AnalyzeJSON's walk; in no particular order otherwise). Callers
	// that need term order sort it.
	Terms []TermFreq
	// Length is the number of terms in the field, counting repeats: the
	// document length that BM25 normalizes by.
	Length uint32
}

// Document is the analysis of one document: its fields sorted by name,
// AllField included.
type Document struct {
	Fields []Field
}

// Field returns the analysis of the named field, or nil.
func (d *Document) Field(name string) *Field {
	i := sort.Search(len(d.Fields), func(i int) bool { return d.Fields[i].Name >= name })
	if i < len(d.Fields) && d.Fields[i].Name == name {
		return &d.Fields[i]
	}
	return nil
}

// AnalyzeJSON analyzes a document given as a JSON object.
//
// It walks the JSON text directly (walkJSON) without building the decoded
// object; the strings it analyzes are slices of one copy of src. Whatever
// that walk does not take on (an escape it cannot resolve, a repeated key,
// text after the object, anything invalid) goes the way of
// encoding/json, which gives the result or the error, so both paths agree
// (TestAnalyzeJSONPathsAgree).
//
// Documents nested deeper than MaxDepth or with more than MaxFields fields
// are refused.
func AnalyzeJSON(src []byte) (Document, error) {
	a := newAccumulator(len(src) / 8) // about a word per 8 bytes
	var d Document
	if walkJSON(string(src), a) { // which gives up past MaxDepth
		d = a.document()
	} else {
		if err := checkDepth(src); err != nil {
			return Document{}, err
		}
		var err error
		if d, err = analyzeDecoded(src); err != nil {
			return Document{}, err
		}
	}
	if err := checkFields(d); err != nil {
		return Document{}, err
	}
	return d, nil
}

// analyzeDecoded is AnalyzeJSON through encoding/json. A key repeated in
// an object is refused (decoding would silently keep its last value, and
// ingest refuses such documents too).
func analyzeDecoded(src []byte) (Document, error) {
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return Document{}, err
	}
	if err := checkDuplicateKeys(src); err != nil {
		return Document{}, err
	}
	return Analyze(v), nil
}

// accumulator counts the terms of a document's fields and of AllField,
// hashing each occurrence once: a term's number (in order of first
// occurrence in the document) indexes its AllField count, and says where
// the term sits in the terms of the field that last counted it.
type accumulator struct {
	ids    map[string]int32 // term → number
	all    []TermFreq       // by number
	allLen uint32
	// by number: where the term sits in the field that last counted it.
	places []place
	// fields by path, and in the order first seen (a field's number is
	// its place there).
	byPath map[string]*fieldCount
	fields []*fieldCount
	cur    *fieldCount
}

// place is a term's place in the terms of a field: the field's number and
// the index in its Terms.
type place struct{ field, slot int32 }

type fieldCount struct {
	Field
	num int32
	// index is where each term sits in Terms, kept once the field is
	// counted into again after another field was (an array of objects
	// does that): the owner of its terms may have moved on.
	index map[string]int32
}

// newAccumulator sizes the accumulator for about words distinct terms.
func newAccumulator(words int) *accumulator {
	return &accumulator{
		ids: make(map[string]int32, words), all: make([]TermFreq, 0, words),
		places: make([]place, 0, words),
		byPath: map[string]*fieldCount{},
	}
}

// field returns the count of the field at path, which is about to count
// text.
func (a *accumulator) field(path, text string) *fieldCount {
	if a.cur != nil && a.cur.Name == path {
		return a.cur
	}
	f := a.byPath[path]
	switch {
	case f == nil:
		f = &fieldCount{Field: Field{Name: path, Terms: make([]TermFreq, 0, len(text)/8+1)}, num: int32(len(a.fields))}
		a.byPath[path] = f
		a.fields = append(a.fields, f)
	case f.index == nil:
		f.index = make(map[string]int32, len(f.Terms))
		for i, t := range f.Terms {
			f.index[t.Term] = int32(i)
		}
	}
	a.cur = f
	return f
}

func (a *accumulator) add(path, text string) {
	f := a.field(path, text)
	Tokens(text, func(t string) {
		id, ok := a.ids[t]
		if !ok {
			id = int32(len(a.all))
			a.ids[t] = id
			a.all = append(a.all, TermFreq{Term: t})
			a.places = append(a.places, place{field: -1})
		}
		a.all[id].TF++
		a.allLen++
		f.Length++
		if pl := a.places[id]; pl.field == f.num {
			f.Terms[pl.slot].TF++
			return
		}
		if f.index != nil {
			if i, ok := f.index[t]; ok {
				f.Terms[i].TF++
				a.places[id] = place{f.num, i}
				return
			}
			f.index[t] = int32(len(f.Terms))
		}
		a.places[id] = place{f.num, int32(len(f.Terms))}
		f.Terms = append(f.Terms, TermFreq{Term: t, TF: 1})
	})
}

func (a *accumulator) document() Document {
	doc := Document{Fields: make([]Field, 0, len(a.fields)+1)}
	for _, f := range a.fields {
		if f.Length > 0 && f.Name != AllField {
			doc.Fields = append(doc.Fields, f.Field)
		}
	}
	if a.allLen > 0 {
		doc.Fields = append(doc.Fields, Field{Name: AllField, Terms: a.all, Length: a.allLen})
	}
	slices.SortFunc(doc.Fields, func(a, b Field) int { return strings.Compare(a.Name, b.Name) })
	return doc
}

// Analyze analyzes a decoded JSON object (numbers as json.Number or float64).
func Analyze(src map[string]any) Document {
	a := newAccumulator(0)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case string:
			a.add(path, x)
		case json.Number:
			a.add(path, x.String())
		case float64:
			a.add(path, strconvFloat(x))
		case bool:
			if x {
				a.add(path, "true")
			} else {
				a.add(path, "false")
			}
		case []any:
			for _, e := range x {
				walk(path, e)
			}
		case map[string]any:
			for k, e := range x {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(fieldName(p), e)
			}
		}
	}
	walk("", src)
	return a.document()
}

// fieldName makes p a valid field path: valid UTF-8, at most MaxFieldBytes.
func fieldName(p string) string {
	if !utf8.ValidString(p) {
		p = strings.ToValidUTF8(p, "\uFFFD")
	}
	if len(p) > MaxFieldBytes {
		cut := MaxFieldBytes
		for cut > 0 && !utf8.RuneStart(p[cut]) {
			cut--
		}
		p = p[:cut]
	}
	return p
}

func strconvFloat(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}
