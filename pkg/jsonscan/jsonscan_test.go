package jsonscan

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSpace(t *testing.T) {
	for _, c := range []struct {
		s    string
		i    int
		want int
	}{
		{"", 0, 0},
		{"x", 0, 0},
		{" \t\n\rx", 0, 4},
		{"  ", 0, 2},
		{"a  b", 1, 3},
		{"a", 1, 1},
		{"\v\f x", 0, 0},  // not JSON whitespace
		{"\u00a0x", 0, 0}, // nor is a no-break space
		{"{ \n }", 1, 4},
	} {
		if got := Space(c.s, c.i); got != c.want {
			t.Errorf("Space(%q, %d) = %d, want %d", c.s, c.i, got, c.want)
		}
		if got := Space([]byte(c.s), c.i); got != c.want {
			t.Errorf("Space([]byte(%q), %d) = %d, want %d", c.s, c.i, got, c.want)
		}
	}
}

var stringCases = []struct {
	s     string
	i     int
	end   int // when ok
	flags Flags
	ok    bool
}{
	{`""`, 0, 2, 0, true},
	{`"abc"`, 0, 5, 0, true},
	{`"abc" , "d"`, 0, 5, 0, true},
	{"\"\" \n", 0, 2, 0, true},
	{`x:"abc"`, 2, 7, 0, true},
	{`"a\"b"`, 0, 6, Escaped, true},
	{`"\\"`, 0, 4, Escaped, true},
	{`"\"\\\/\b\f\n\r\t"`, 0, 18, Escaped, true},
	{`"\u00e9\uD83D\uDE00"`, 0, 20, Escaped, true},
	{`"\ud800"`, 0, 8, Escaped, true}, // a lone surrogate: encoding/json decodes it as U+FFFD
	{`"é"`, 0, 4, NonASCII, true},
	{"\"\xff\"", 0, 3, NonASCII, true}, // invalid UTF-8 is not String's to check
	{`"日本\n"`, 0, 10, Escaped | NonASCII, true},
	{"\"\x7f\"", 0, 3, 0, true},
	{`"`, 0, 0, 0, false},
	{`"abc`, 0, 0, 0, false},
	{`"abc\"`, 0, 0, 0, false},
	{`"\`, 0, 0, 0, false},
	{`"\x"`, 0, 0, 0, false},
	{`"\'"`, 0, 0, 0, false},
	{`"\u12"`, 0, 0, 0, false},
	{`"\u12G4"`, 0, 0, 0, false},
	{`"\U0041"`, 0, 0, 0, false},
	{`"\u004`, 0, 0, 0, false},
	{"\"a\x01b\"", 0, 0, 0, false},
	{"\"a\nb\"", 0, 0, 0, false},
	{"\"a\tb\"", 0, 0, 0, false},
	{"\"\x00\"", 0, 0, 0, false},
}

func TestString(t *testing.T) {
	for _, c := range stringCases {
		end, f, ok := String(c.s, c.i)
		if ok != c.ok || ok && (end != c.end || f != c.flags) {
			t.Errorf("String(%q, %d) = %d, %b, %v; want %d, %b, %v", c.s, c.i, end, f, ok, c.end, c.flags, c.ok)
		}
		bend, bf, bok := String([]byte(c.s), c.i)
		if bend != end || bf != f || bok != ok {
			t.Errorf("String([]byte(%q), %d) = %d, %b, %v; the string gives %d, %b, %v", c.s, c.i, bend, bf, bok, end, f, ok)
		}
	}
}

var numberCases = []struct {
	s   string
	i   int
	end int // when ok
	ok  bool
}{
	{"0", 0, 1, true},
	{"-0", 0, 2, true},
	{"7", 0, 1, true},
	{"1234567890123456789012345", 0, 25, true},
	{"-12.5e+3", 0, 8, true},
	{"1E9", 0, 3, true},
	{"1e-0", 0, 4, true},
	{"0.000", 0, 5, true},
	{"1,2", 0, 1, true},
	{"[1]", 1, 2, true},
	{"3}", 0, 1, true},
	{"3 \t", 0, 1, true},
	{"01", 0, 1, true}, // the number is 0; the walk then refuses the 1
	{"-01", 0, 2, true},
	{"1.5.5", 0, 3, true},
	{"", 0, 0, false},
	{"-", 0, 0, false},
	{"--1", 0, 0, false},
	{"+1", 0, 0, false},
	{".5", 0, 0, false},
	{"1.", 0, 0, false},
	{"1.e5", 0, 0, false},
	{"1e", 0, 0, false},
	{"1e+", 0, 0, false},
	{"1E-x", 0, 0, false},
	{"-a", 0, 0, false},
	{"x", 0, 0, false},
}

func TestNumber(t *testing.T) {
	for _, c := range numberCases {
		end, ok := Number(c.s, c.i)
		if ok != c.ok || ok && end != c.end {
			t.Errorf("Number(%q, %d) = %d, %v; want %d, %v", c.s, c.i, end, ok, c.end, c.ok)
		}
		bend, bok := Number([]byte(c.s), c.i)
		if bend != end || bok != ok {
			t.Errorf("Number([]byte(%q), %d) = %d, %v; the string gives %d, %v", c.s, c.i, bend, bok, end, ok)
		}
	}
}

func TestLiteral(t *testing.T) {
	for _, c := range []struct {
		s, lit string
		i, end int // end when ok
		ok     bool
	}{
		{"true", "true", 0, 4, true},
		{"false", "false", 0, 5, true},
		{"null", "null", 0, 4, true},
		{"[null]", "null", 1, 5, true},
		{"nullx", "null", 0, 4, true}, // what follows is the walk's to judge
		{"nul", "null", 0, 0, false},
		{"tru", "true", 0, 0, false},
		{"True", "true", 0, 0, false},
		{"fals e", "false", 0, 0, false},
		{"", "null", 0, 0, false},
		{"[nul", "null", 1, 0, false},
	} {
		end, ok := Literal(c.s, c.i, c.lit)
		if ok != c.ok || ok && end != c.end {
			t.Errorf("Literal(%q, %d, %q) = %d, %v; want %d, %v", c.s, c.i, c.lit, end, ok, c.end, c.ok)
		}
		bend, bok := Literal([]byte(c.s), c.i, c.lit)
		if bend != end || bok != ok {
			t.Errorf("Literal([]byte(%q), %d, %q) = %d, %v; the string gives %d, %v", c.s, c.i, c.lit, bend, bok, end, ok)
		}
	}
}

// checkString fails t unless String agrees with encoding/json on b: it
// takes all of b but trailing whitespace exactly when b is one valid JSON
// string, with the flags of its contents.
func checkString(t *testing.T, b []byte) {
	if len(b) == 0 || b[0] != '"' {
		return
	}
	end, f, ok := String(b, 0)
	whole := ok && Space(b, end) == len(b)
	if valid := json.Valid(b); whole != valid {
		t.Fatalf("String(%q) = %d, %v; json.Valid says %v", b, end, ok, valid)
	}
	if !ok {
		return
	}
	if end < 2 || b[end-1] != '"' {
		t.Fatalf("String(%q) ends at %d, not past a quote", b, end)
	}
	if !json.Valid(b[:end]) {
		t.Fatalf("String(%q) took %q, which json.Valid refuses", b, b[:end])
	}
	contents := b[1 : end-1]
	if got, want := f&Escaped != 0, bytes.IndexByte(contents, '\\') >= 0; got != want {
		t.Fatalf("String(%q): Escaped %v, want %v", b, got, want)
	}
	nonASCII := false
	for _, c := range contents {
		nonASCII = nonASCII || c >= 0x80
	}
	if got := f&NonASCII != 0; got != nonASCII {
		t.Fatalf("String(%q): NonASCII %v, want %v", b, got, nonASCII)
	}
	if send, sf, sok := String(string(b), 0); send != end || sf != f || sok != ok {
		t.Fatalf("String(%q) differs between string and []byte", b)
	}
	checkUnquote(t, b[:end])
}

// checkUnquote fails t unless Unquote decodes the contents of the string
// token b as encoding/json does, refusing only invalid UTF-8 and escaped
// surrogates.
func checkUnquote(t *testing.T, b []byte) {
	contents := string(b[1 : len(b)-1])
	got, ok := Unquote(contents)
	surrogate := regexp.MustCompile(`\\u[dD][89a-fA-F]`)
	unescaped := strings.NewReplacer(`\\`, ``) // a \\ is no escape of its own
	if wantOK := utf8.ValidString(contents) && !surrogate.MatchString(unescaped.Replace(contents)); ok != wantOK {
		t.Fatalf("Unquote(%q) ok = %v, want %v", contents, ok, wantOK)
	}
	if !ok {
		return
	}
	var want string
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("json.Unmarshal(%q): %v", b, err)
	}
	if got != want {
		t.Fatalf("Unquote(%q) = %q, encoding/json %q", contents, got, want)
	}
}

// checkNumber fails t unless Number agrees with encoding/json on b: it
// takes all of b but trailing whitespace exactly when b is one valid JSON
// number.
func checkNumber(t *testing.T, b []byte) {
	if len(b) == 0 || b[0] != '-' && (b[0] < '0' || b[0] > '9') {
		return
	}
	end, ok := Number(b, 0)
	whole := ok && Space(b, end) == len(b)
	if valid := json.Valid(b); whole != valid {
		t.Fatalf("Number(%q) = %d, %v; json.Valid says %v", b, end, ok, valid)
	}
	if ok && !json.Valid(b[:end]) {
		t.Fatalf("Number(%q) took %q, which json.Valid refuses", b, b[:end])
	}
	if send, sok := Number(string(b), 0); send != end || sok != ok {
		t.Fatalf("Number(%q) differs between string and []byte", b)
	}
}

// checkValue: Value takes all of b, up to whitespace, exactly when
// json.Valid accepts b (and b is not nested deeper than Value was allowed).
func checkValue(t *testing.T, b []byte) {
	end, ok := Value(b, 0, 10000)
	whole := ok && Space(b, end) == len(b)
	if valid := json.Valid(b); whole != valid {
		t.Fatalf("Value(%q) = %d, %v; json.Valid says %v", b, end, ok, valid)
	}
	if send, sok := Value(string(b), 0, 10000); send != end || sok != ok {
		t.Fatalf("Value(%q) differs between string and []byte", b)
	}
}

var valueCases = []string{
	`{}`, `[]`, ` { "a" : [ 1 , -2.5e3 , true , false , null , "x\"y" , { } , [ ] ] } `,
	`{"a":1,"a":2}`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{1:2}`, `[1 2]`, `{"a":}`, `[`, `{`, `]`, `"\x"`,
	`[01]`, `[1.]`, `{"a":tru}`, `nul`, `{"a":"b"`, `[[[[[[]]]]]]`, "[\"\t\"]", `{"\u00e9":"\ud83c"}`,
}

func TestValue(t *testing.T) {
	for _, c := range valueCases {
		checkValue(t, []byte(c))
	}
	deep := string(bytes.Repeat([]byte("["), 5)) + string(bytes.Repeat([]byte("]"), 5))
	if _, ok := Value(deep, 0, 5); !ok {
		t.Error("five arrays deep refused at maxDepth 5")
	}
	if _, ok := Value(deep, 0, 4); ok {
		t.Error("five arrays deep taken at maxDepth 4")
	}
	if end, ok := Value(`{"a":1} tail`, 0, 10); !ok || end != 7 {
		t.Errorf("a value before more text: %d, %v", end, ok)
	}
}

func TestAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range stringCases {
		checkString(t, []byte(c.s[c.i:]))
		checkValue(t, []byte(c.s[c.i:]))
	}
	for _, c := range numberCases {
		checkNumber(t, []byte(c.s[c.i:]))
		checkValue(t, []byte(c.s[c.i:]))
	}
}

// FuzzTokens: String, Number and Value accept a whole token or value
// exactly when encoding/json does.
func FuzzTokens(f *testing.F) {
	for _, c := range stringCases {
		f.Add([]byte(c.s[c.i:]))
	}
	for _, c := range numberCases {
		f.Add([]byte(c.s[c.i:]))
	}
	for _, c := range valueCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkString(t, b)
		checkNumber(t, b)
		checkValue(t, b)
	})
}

func BenchmarkString(b *testing.B) {
	for _, k := range []struct{ name, s string }{
		{"kind=ascii", `"consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua"`},
		{"kind=utf8", `"日本語のテキスト ÉCOLE ΣΊΣΥΦΟΣ consectetur adipiscing elit sed do eiusmod tempor"`},
		{"kind=escaped", `"tab\tin\"quote\" \u00e9 \ud83c\udf89 \/ consectetur adipiscing elit sed do"`},
	} {
		b.Run(k.name, func(b *testing.B) {
			src := []byte(k.s)
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				if end, _, ok := String(src, 0); !ok || end != len(src) {
					b.Fatal("not scanned")
				}
			}
		})
	}
}

func BenchmarkNumber(b *testing.B) {
	src := []byte("-12345.678e+9")
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if end, ok := Number(src, 0); !ok || end != len(src) {
			b.Fatal("not scanned")
		}
	}
}

func TestUnquote(t *testing.T) {
	for _, c := range []struct {
		contents, want string
		ok             bool
	}{
		{`plain`, "plain", true},
		{`a\nb\tc\"d\\e\/f\b\f\r`, "a\nb\tc\"d\\e/f\b\f\r", true},
		{`caf\u00e9 \u65E5 \u0000`, "café 日 \x00", true},
		{`日本\n`, "日本\n", true},
		{`\\ud800`, `\ud800`, true},
		{`\ud83d\ude00`, "", false}, // a surrogate pair: encoding/json's
		{`\udfff`, "", false},
		{"bad \xff", "", false},
		{`\x`, "", false},
		{`\u12`, "", false},
		{`tail\`, "", false},
	} {
		got, ok := Unquote(c.contents)
		if ok != c.ok || got != c.want {
			t.Errorf("Unquote(%q) = %q, %v; want %q, %v", c.contents, got, ok, c.want, c.ok)
		}
		if c.ok {
			checkUnquote(t, []byte(`"`+c.contents+`"`))
		}
	}
}
