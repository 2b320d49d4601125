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

// Field is the analysis of one field of one document.
type Field struct {
	Name string
	// Terms maps each term to its frequency in the field.
	Terms map[string]uint32
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

// TermCount returns the number of distinct (field, term) pairs.
func (d *Document) TermCount() int {
	n := 0
	for _, f := range d.Fields {
		n += len(f.Terms)
	}
	return n
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

// accumulator counts the terms of a document's fields and of AllField.
type accumulator struct {
	fields map[string]*Field
	all    *Field
}

// newAccumulator sizes the AllField map for about words distinct terms.
func newAccumulator(words int) *accumulator {
	return &accumulator{fields: map[string]*Field{}, all: &Field{Name: AllField, Terms: make(map[string]uint32, words)}}
}

func (a *accumulator) add(path, text string) {
	f := a.fields[path]
	if f == nil {
		f = &Field{Name: path, Terms: make(map[string]uint32, len(text)/8)}
		a.fields[path] = f
	}
	all := a.all
	Tokens(text, func(t string) {
		f.Terms[t]++
		f.Length++
		all.Terms[t]++
		all.Length++
	})
}

func (a *accumulator) document() Document {
	doc := Document{Fields: make([]Field, 0, len(a.fields)+1)}
	for _, f := range a.fields {
		if f.Length > 0 && f.Name != AllField {
			doc.Fields = append(doc.Fields, *f)
		}
	}
	if a.all.Length > 0 {
		doc.Fields = append(doc.Fields, *a.all)
	}
	sort.Slice(doc.Fields, func(i, j int) bool { return doc.Fields[i].Name < doc.Fields[j].Name })
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
