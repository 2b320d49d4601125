package report

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTableMarkdown(t *testing.T) {
	tb := Table{Header: []string{"name", " docs/s"}}
	tb.Add("a|b", "1,000")
	tb.Add("c")
	want := "| name | docs/s |\n|---|---:|\n| a\\|b | 1,000 |\n| c |  |\n"
	if got := tb.Markdown(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestNumbers(t *testing.T) {
	for in, want := range map[float64]string{1234567: "1,234,567", 100: "100", 99.94: "99.9", 1.2345: "1.23", 0.001234: "0.00123", -12345: "-12,345"} {
		if got := Num(in); got != want {
			t.Errorf("Num(%v) = %q, want %q", in, got, want)
		}
	}
	if Ratio(3, 2) != "1.50×" || Ratio(1, 0) != "—" {
		t.Error("Ratio")
	}
	if Bytes(3<<20) != "3 MiB" || Bytes(3<<30) != "3.00 GiB" {
		t.Error("Bytes")
	}
}

func TestLogXPlotIsValidSVG(t *testing.T) {
	svg := LogXPlot("throughput <&>", "documents", "docs/s", []Series{
		{Name: "termflow", Points: []Point{{1000, 5000}, {10000, 12000}, {100000, 11500}}},
		{Name: "bleve", Points: []Point{{1000, 7000}, {10000, 6800}, {100000, 6000}}},
	})
	if err := xml.Unmarshal(svg, new(struct{})); err != nil {
		t.Fatalf("not well-formed XML: %v", err)
	}
	s := string(svg)
	if strings.Count(s, "<polyline") != 2 || strings.Count(s, "<circle") != 6 {
		t.Fatalf("expected 2 lines with 6 points:\n%s", s)
	}
	if !strings.Contains(s, "throughput &lt;&amp;&gt;") || !strings.Contains(s, ">100,000<") {
		t.Fatalf("title escaped and decade ticks expected:\n%s", s)
	}
}

func TestAppendSection(t *testing.T) {
	p := filepath.Join(t.TempDir(), "b.md")
	if err := os.WriteFile(p, []byte("# B\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := AppendSection(p, "## Run 1\n\ntext\n\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "# B\n\n## Run 1\n\ntext\n" {
		t.Fatalf("%q", b)
	}
}
