package bulkop

import (
	"encoding/base64"
	"fmt"
)

// bitmap is a set of seqs: bit n is byte n/8, bit n%8 (least significant
// first). On the wire it is the standard base64 of those bytes.
type bitmap []byte

func newBitmap(n int) bitmap { return make(bitmap, (n+7)/8) }

func (b bitmap) get(n int) bool { return b[n>>3]&(1<<(n&7)) != 0 }

func (b bitmap) set(n int) { b[n>>3] |= 1 << (n & 7) }

func (b bitmap) clone() bitmap { return append(bitmap(nil), b...) }

func (b bitmap) encode() string { return base64.StdEncoding.EncodeToString(b) }

// decodeBitmap decodes a bitmap of n bits and rejects bits at n or beyond.
func decodeBitmap(s string, n int) (bitmap, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(raw) != (n+7)/8 {
		return nil, fmt.Errorf("%d bytes for %d documents, want %d", len(raw), n, (n+7)/8)
	}
	if r := n & 7; r != 0 && raw[len(raw)-1]>>r != 0 {
		return nil, fmt.Errorf("bits set beyond document %d", n-1)
	}
	return bitmap(raw), nil
}
