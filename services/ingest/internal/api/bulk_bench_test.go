package api

import (
	"fmt"
	"strings"
	"testing"
)

// benchBody is an NDJSON body of n short documents (about 230 bytes each,
// like the benchmark's synthetic corpus).
func benchBody(n int) []byte {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"id":"z%d","title":"lorem ipsum dolor sit amet %d","body":"consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation","tags":["alpha","beta"]}`+"\n", i, i)
	}
	return []byte(b.String())
}

func BenchmarkParseNDJSON(b *testing.B) {
	for _, n := range []int{5000} {
		body := benchBody(n)
		b.Run(fmt.Sprintf("docs=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				p := parseNDJSON(body, 1<<20)
				if len(p.items) != n {
					b.Fatalf("%d items", len(p.items))
				}
			}
		})
	}
}
