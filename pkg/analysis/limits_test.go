package analysis

import (
	"fmt"
	"strings"
	"testing"
)

func TestMeasure(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Shape
	}{
		{`{}`, Shape{Depth: 1}},
		{`{"a":"b\"}{[:","c":[[1]]}`, Shape{Depth: 3, Members: 2, LongestString: 7}},
		{`"unterminated`, Shape{LongestString: 12}},
		{`]]]`, Shape{}},
	} {
		if got := Measure([]byte(tt.in)); got != tt.want {
			t.Errorf("Measure(%s) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestAnalyzeJSONLimits(t *testing.T) {
	nested := func(n int) string { return strings.Repeat(`{"a":`, n-1) + `{"t":"x"}` + strings.Repeat("}", n-1) }
	fields := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"f%d":"v"`, i)
		}
		b.WriteString("}")
		return b.String()
	}
	for _, tt := range []struct {
		name, in, err string
	}{
		{"depth at limit", nested(MaxDepth), ""},
		{"too deep", nested(MaxDepth + 1), "nested 101 levels deep"},
		{"arrays at limit", `{"a":` + strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1) + "}", ""},
		{"arrays too deep", `{"a":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + "}", "nested 101 levels deep"},
		{"fields at limit", fields(MaxFields), ""},
		{"too many fields", fields(MaxFields + 1), "1001 fields"},
		// escaped keys take the decoder's path, which must refuse them too
		{"too many fields, decoded", strings.Replace(fields(MaxFields+1), `"f0"`, `"\u0066"`, 1), "1001 fields"},
		// fields without terms do not count
		{"empty fields", strings.ReplaceAll(fields(MaxFields+1), `"v"`, `null`), ""},
		{"duplicate key", `{"a":{"b":1,"b":2}}`, `duplicate key "b"`},
		{"duplicate escaped key", `{"a":1,"\u0061":2}`, `duplicate key "a"`},
		{"same key in two objects", `{"a":{"b":1},"c":{"b":2},"d":[{"b":1},{"b":2}]}`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The walk gives up past MaxDepth, so it never recurses
			// deeper than that; encoding/json then gives the error.
			walked := walkJSON(tt.in, newAccumulator(0))
			if strings.HasSuffix(tt.name, "too deep") && walked || strings.HasSuffix(tt.name, "at limit") && !walked {
				t.Fatalf("walkJSON = %v", walked)
			}
			_, err := AnalyzeJSON([]byte(tt.in))
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("err %v, want %q", err, tt.err)
			}
		})
	}
}
