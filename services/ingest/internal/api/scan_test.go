package api

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

var scanSeeds = []string{
	`{"id":"a1","title":"x","n":[1,-2.5e+3,0,true,false,null,{"k":"v"}],"o":{}}`,
	`{"id":7,"_delete":true}`,
	`{ "id" : "a" , "t" : "esc \" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00" } `,
	`{"id":"a","a":1,"a":2}`,
	`{"id":"a","\u0061":1,"a":2}`,
	`{"id":"a","x":{"y":1,"y":2}}`,
	`{"id":"a","x":[{"y":1},{"y":1}]}`,
	`{"id":01}`, `{"id":1.}`, `{"id":-}`, `{"id":1e}`, `{"id":.5}`, `{"id":tru}`, `{"id":"a",}`,
	`{"id":"a"}}`, `{"id":"a"} x`, `{"id":"a"`, `{"id":"a\x01"}`, `{"id":"\u12G4"}`, `{"id":"\q"}`,
	`{"a":[1,]}`, `{"a":[,1]}`, `{"a" 1}`, `{"a":1 "b":2}`, `{,}`, `{}`, `{"id":[]}`,
	strings.Repeat(`{"a":`, 1001) + "1" + strings.Repeat("}", 1001),
	strings.Repeat(`{"a":`, 1000) + "1" + strings.Repeat("}", 1000),
	strings.Repeat(`{"a":[`, 600) + "1" + strings.Repeat("]}", 600),
}

// TestScanObjectAgreesWithWalk: on every seed, the fast path either defers
// or accepts exactly what the decoder's walk accepts, with the same members.
func TestScanObjectAgreesWithWalk(t *testing.T) {
	accepted := 0
	for _, s := range scanSeeds {
		if checkScan(t, []byte(s)) {
			accepted++
		}
	}
	if accepted < 5 {
		t.Fatalf("the fast path accepted only %d seeds", accepted)
	}
	// Documents the fast path must take itself (the common case).
	for _, s := range []string{scanSeeds[0], scanSeeds[1], scanSeeds[2], `{"id":"z1","title":"a b","body":"c d","tags":["e"]}`} {
		if _, ok := scanObject([]byte(s)); !ok {
			t.Errorf("fast path deferred %s", s)
		}
	}
	// A duplicate key, however deep, is never accepted by the fast path.
	for _, s := range []string{scanSeeds[3], scanSeeds[5], `{"id":"a","x":{"q":{"y":1,"z":[1],"y":2}}}`} {
		if _, ok := scanObject([]byte(s)); ok {
			t.Errorf("fast path accepted a duplicate key: %s", s)
		}
	}
}

// checkScan reports whether the fast path accepted b, failing t when it
// accepted something the walk refuses or saw different members.
func checkScan(t *testing.T, b []byte) bool {
	if !utf8.Valid(b) || len(b) == 0 || b[0] != '{' {
		return false
	}
	got, ok := scanObject(b)
	if !ok {
		return false
	}
	want, err := walkObject(b)
	if err != nil {
		t.Fatalf("fast path accepted %q, the walk refuses it: %v", b, err)
	}
	if !bytes.Equal(got.id, want.id) || !bytes.Equal(got.del, want.del) || got.other != want.other || got.nOther != want.nOther {
		t.Fatalf("%q: fast path %+v, walk %+v", b, got, want)
	}
	return true
}

func FuzzScanObject(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkScan(t, b) })
}

func BenchmarkCheckObject(b *testing.B) {
	doc := []byte(`{"id":"z1","title":"lorem ipsum dolor sit amet","body":"consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation","tags":["alpha","beta"]}`)
	for _, path := range []string{"scan", "walk"} {
		b.Run("path="+path, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				var err error
				if path == "scan" {
					_, err = checkObject(doc, 1<<20)
				} else {
					_, err = walkObject(doc)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
