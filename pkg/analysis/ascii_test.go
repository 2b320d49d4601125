package analysis

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// collect returns the terms tokens gives for text.
func collect(tokens func(string, func(string)), text string) []string {
	var out []string
	tokens(text, func(t string) { out = append(out, t) })
	return out
}

// checkSameTokens fails unless asciiTokens and uax29's segmenter agree on text.
func checkSameTokens(t *testing.T, text string) {
	t.Helper()
	if got, want := collect(asciiTokens, text), collect(unicodeTokens, text); !slices.Equal(got, want) {
		t.Fatalf("%q: asciiTokens gives %q, uax29 %q", text, got, want)
	}
}

// TestASCIITokensMatchUAX29: every ASCII string of up to three characters,
// every string of up to six over one character of each word-break class
// (and both cases), and long random strings tokenize the same through
// asciiTokens as through uax29.
func TestASCIITokensMatchUAX29(t *testing.T) {
	ascii := make([]byte, 128)
	for c := range ascii {
		ascii[c] = byte(c)
	}
	for n := 1; n <= 3; n++ {
		eachString(ascii, n, func(s string) { checkSameTokens(t, s) })
	}
	// One of each class: letters, digits, '_', the middle characters, and
	// others that UAX #29 names (quotes, space, line breaks).
	classes := []byte("aZ0_:.',; \"\r\n-")
	for n := 4; n <= 6; n++ {
		eachString(classes, n, func(s string) { checkSameTokens(t, s) })
	}

	r := rand.New(rand.NewPCG(1, 2))
	const weighted = "abcXYZ0123456789____::..'',,;;  \t\n\r\"-/()"
	for range 20000 {
		b := make([]byte, 1+r.IntN(300))
		for i := range b {
			if r.IntN(10) == 0 {
				b[i] = byte(r.IntN(128))
			} else {
				b[i] = weighted[r.IntN(len(weighted))]
			}
		}
		checkSameTokens(t, string(b))
	}
	checkSameTokens(t, strings.Repeat("a", MaxTermBytes)+" "+strings.Repeat("b", MaxTermBytes+1)+" "+strings.Repeat("1.", MaxTermBytes))
}

// eachString calls fn with every string of n bytes from alphabet.
func eachString(alphabet []byte, n int, fn func(string)) {
	buf := make([]byte, n)
	var rec func(k int)
	rec = func(k int) {
		if k == n {
			fn(string(buf))
			return
		}
		for _, c := range alphabet {
			buf[k] = c
			rec(k + 1)
		}
	}
	rec(0)
}

// FuzzASCIITokens: on ASCII text, asciiTokens agrees with uax29.
func FuzzASCIITokens(f *testing.F) {
	for _, s := range []string{"don't stop 3.14 net/http", "a:b 1,000;5 x_y __ 'a' a.b.c.", "Hello, World", "1.a a.1 _a. a_.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if !isASCII(text) {
			return
		}
		checkSameTokens(t, text)
	})
}

func TestIsASCII(t *testing.T) {
	s := strings.Repeat("x", 40)
	if !isASCII(s) || !isASCII("") {
		t.Fatal("ASCII text not recognized")
	}
	for i := range len(s) {
		b := []byte(s)
		b[i] = 0x80
		if isASCII(string(b)) {
			t.Fatalf("byte 0x80 at %d missed", i)
		}
	}
}
