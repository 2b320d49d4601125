package analysis

import (
	"unicode/utf8"
	"unsafe"
)

// The word-break properties (UAX #29) of the ASCII characters, as bits;
// the characters with none are Other, spaces and line breaks, which never
// join a word.
const (
	asciiLetter = 1 << iota // ALetter: A-Z, a-z
	asciiDigit              // Numeric: 0-9
	asciiExtend             // ExtendNumLet: '_'

	asciiWord = asciiLetter | asciiDigit | asciiExtend
)

// asciiClass holds each byte's property bits (none above 0x7f); asciiJoins
// holds, for a middle character, the class it joins when that class is on
// both of its sides: ':' (MidLetter) joins two letters, '.' (MidNumLet) and
// the apostrophe (Single_Quote) two letters or two digits, ',' and ';'
// (MidNum) two digits.
var asciiClass, asciiJoins = func() (class, joins [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		class[c] = asciiLetter
		class[c-'a'+'A'] = asciiLetter
	}
	for c := '0'; c <= '9'; c++ {
		class[c] = asciiDigit
	}
	class['_'] = asciiExtend
	joins[':'] = asciiLetter
	joins['.'], joins['\''] = asciiLetter|asciiDigit, asciiLetter|asciiDigit
	joins[','], joins[';'] = asciiDigit, asciiDigit
	return class, joins
}()

// isASCII reports whether s is all ASCII, eight bytes at a time.
func isASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if w&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// asciiTokens is Tokens for ASCII text. In ASCII the word-boundary rules
// come down to these: letters, digits and '_' join each other (WB5, WB8-10,
// WB13a-b); a middle character joins the two characters around it as
// asciiJoins says (WB6-7, WB11-12); everything else breaks on both sides,
// and a run of it is no term. Case does not change a character's class, so
// the text is lower-cased first, with one copy for the whole text if it has
// an upper-case letter, and every term is a slice of it.
func asciiTokens(text string, fn func(term string)) {
	text = lowerASCII(text)
	n := len(text)
	for i := 0; i < n; {
		if asciiClass[text[i]]&asciiWord == 0 {
			i++
			continue
		}
		start := i
		var seen uint8 // the classes in the word
		for {
			for c := asciiClass[text[i]]; c&asciiWord != 0; c = asciiClass[text[i]] {
				seen |= c
				if i++; i == n {
					break
				}
			}
			// text[i], if any, is not a letter, digit or '_'.
			if i+1 >= n || asciiClass[text[i-1]]&asciiClass[text[i+1]]&asciiJoins[text[i]] == 0 {
				break
			}
			i++ // the letter or digit after the middle character
		}
		if seen&(asciiLetter|asciiDigit) != 0 && i-start <= MaxTermBytes {
			fn(text[start:i])
		}
	}
}

// lowerASCII lower-cases ASCII text s, returning s itself when it has no
// upper-case letter.
func lowerASCII(s string) string {
	i := 0
	for i < len(s) && s[i]-'A' >= 26 {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, len(s))
	copy(b, s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if c-'A' < 26 {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return unsafe.String(unsafe.SliceData(b), len(b)) // b is never written again
}
