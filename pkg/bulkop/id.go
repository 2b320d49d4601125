package bulkop

import (
	"crypto/rand"
	"encoding/binary"
	"time"
)

// IDPrefix starts every operation id.
const IDPrefix = "op_"

// crockford is Crockford's base32 alphabet: URL-safe, and its byte order is
// its value order, so ids sort by creation time.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// IDLen is the length of an operation id.
const IDLen = len(IDPrefix) + 26

// NewID returns a new operation id made like a ULID: "op_", 10 characters of
// milliseconds since the Unix epoch, 16 characters of crypto/rand
// randomness (80 bits). Ids of different milliseconds sort by time.
func NewID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16) // 48-bit time in b[0:6]
	rand.Read(b[6:])                                               // never fails (crypto/rand since Go 1.24)
	out := make([]byte, 0, IDLen)
	out = append(out, IDPrefix...)
	// 128 bits as 26 base32 digits (the first digit holds 3 bits).
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	for i := 25; i >= 0; i-- {
		shift := uint(i * 5)
		var d uint64
		switch {
		case shift >= 64:
			d = hi >> (shift - 64)
		case shift+5 <= 64:
			d = lo >> shift
		default: // the digit straddles hi and lo
			d = lo>>shift | hi<<(64-shift)
		}
		out = append(out, crockford[d&31])
	}
	return string(out)
}

// ValidID reports whether id looks like an id NewID made.
func ValidID(id string) bool {
	if len(id) != IDLen || id[:len(IDPrefix)] != IDPrefix {
		return false
	}
	for i := len(IDPrefix); i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') || c == 'I' || c == 'L' || c == 'O' || c == 'U' {
			return false
		}
	}
	return id[len(IDPrefix)] <= '7' // 128 bits: the first digit holds 3 bits
}
