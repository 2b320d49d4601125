package godoccorpus

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

const fakeGOROOT = "testdata/goroot"

func collect(t *testing.T, goroot string, opts Options) []Doc {
	t.Helper()
	var docs []Doc
	err := ExtractWith(goroot, opts, func(d Doc) error {
		docs = append(docs, d)
		return nil
	})
	if err != nil {
		t.Fatalf("ExtractWith(%q): %v", goroot, err)
	}
	return docs
}

func TestExtractSynthetic(t *testing.T) {
	docs := collect(t, fakeGOROOT, Options{})

	// The full stream, in order: packages sorted by import path; within a
	// package go/doc's order (consts, vars, funcs, then each type with its
	// consts, constructors and methods). Skipped: testdata, internal,
	// vendor, cmd, _dirs, _test.go files, //go:build ignore files and
	// files for other platforms.
	wantIDs := []string{
		"alpha",
		"alpha.MaxWidgets",
		"alpha.Default",
		"alpha.Join",
		"alpha.Mode",
		"alpha.ModePlain",
		"alpha.Widget",
		"alpha.NewWidget",
		"alpha.Widget.Render",
		"beta",
		"beta.ErrFirst",
		"beta.Point",
		"beta.Point.Add",
		"beta.Size",
		"beta.Size.Area",
	}
	var gotIDs []string
	for _, d := range docs {
		gotIDs = append(gotIDs, d.ID)
	}
	if !slices.Equal(gotIDs, wantIDs) {
		t.Fatalf("ids:\n got %q\nwant %q", gotIDs, wantIDs)
	}
	byID := map[string]Doc{}
	for _, d := range docs {
		byID[d.ID] = d
	}

	tests := []struct {
		id, pkg, kind, name, synopsis string
		docHas, declIs, declHas       string
	}{
		{id: "alpha", pkg: "alpha", kind: KindPackage, name: "alpha",
			synopsis: "Package alpha is a tiny fake standard library package.",
			docHas:   "It exists only\nfor the godoccorpus tests.", declIs: "package alpha"},
		{id: "alpha.MaxWidgets", pkg: "alpha", kind: KindConst, name: "MaxWidgets",
			synopsis: "MaxWidgets is the largest number of widgets.",
			docHas:   "It is not enforced.", declIs: "const MaxWidgets = 10"},
		{id: "alpha.ModePlain", pkg: "alpha", kind: KindConst, name: "ModePlain, ModeFancy",
			synopsis: "Mode values select how a Widget renders.",
			docHas:   "See [Widget.Render].", declHas: "ModeFancy             // with decorations"},
		{id: "alpha.Default", pkg: "alpha", kind: KindVar, name: "Default",
			synopsis: "Default is the default widget.", declIs: `var Default = NewWidget("default")`},
		{id: "alpha.Join", pkg: "alpha", kind: KindFunc, name: "Join",
			synopsis: "Join concatenates the names of ws, separated by sep.",
			docHas:   "e.g. it returns", declIs: "func Join(sep string, ws ...*Widget) string"},
		{id: "alpha.Mode", pkg: "alpha", kind: KindType, name: "Mode",
			synopsis: "Mode selects a rendering mode.", declIs: "type Mode int"},
		{id: "alpha.Widget", pkg: "alpha", kind: KindType, name: "Widget",
			synopsis: "Widget is a thing that renders.",
			declIs:   "type Widget struct {\n\t// Name is shown by Render.\n\tName string\n\t// contains filtered or unexported fields\n}"},
		{id: "alpha.NewWidget", pkg: "alpha", kind: KindFunc, name: "NewWidget",
			synopsis: "NewWidget returns a new Widget with the given name.",
			declIs:   "func NewWidget(name string) *Widget"},
		{id: "alpha.Widget.Render", pkg: "alpha", kind: KindMethod, name: "Render",
			synopsis: "Render renders w in the given mode.",
			docHas:   "Rendering is cheap.", declIs: "func (w *Widget) Render(m Mode) string"},
		{id: "beta", pkg: "beta", kind: KindPackage, name: "beta",
			synopsis: "Package beta has grouped declarations.", declIs: "package beta"},
		{id: "beta.ErrFirst", pkg: "beta", kind: KindVar, name: "ErrFirst, ErrSecond",
			synopsis: "Errors returned by the beta package.",
			declIs:   "var (\n\tErrFirst  = errorString(\"first\")\n\tErrSecond = errorString(\"second\")\n)"},
		{id: "beta.Point", pkg: "beta", kind: KindType, name: "Point",
			synopsis: "Point is a point in the plane.", declIs: "type Point struct{ X, Y int }"},
		{id: "beta.Size", pkg: "beta", kind: KindType, name: "Size",
			synopsis: "Size is the extent of a rectangle.", declIs: "type Size struct{ W, H int }"},
		{id: "beta.Size.Area", pkg: "beta", kind: KindMethod, name: "Area",
			synopsis: "Area returns the area of s.", declIs: "func (s Size) Area() int"},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			d, ok := byID[tc.id]
			if !ok {
				t.Fatalf("no document %q", tc.id)
			}
			if d.Package != tc.pkg || d.Kind != tc.kind || d.Name != tc.name {
				t.Errorf("package/kind/name = %q/%q/%q, want %q/%q/%q",
					d.Package, d.Kind, d.Name, tc.pkg, tc.kind, tc.name)
			}
			if d.Synopsis != tc.synopsis {
				t.Errorf("synopsis = %q, want %q", d.Synopsis, tc.synopsis)
			}
			if !strings.HasPrefix(d.Doc, d.Synopsis[:len(d.Synopsis)-1]) {
				t.Errorf("doc %q does not start with synopsis %q", d.Doc, d.Synopsis)
			}
			if tc.docHas != "" && !strings.Contains(d.Doc, tc.docHas) {
				t.Errorf("doc = %q, want it to contain %q", d.Doc, tc.docHas)
			}
			if tc.declIs != "" && d.Decl != tc.declIs {
				t.Errorf("decl = %q, want %q", d.Decl, tc.declIs)
			}
			if tc.declHas != "" && !strings.Contains(d.Decl, tc.declHas) {
				t.Errorf("decl = %q, want it to contain %q", d.Decl, tc.declHas)
			}
			if strings.Contains(d.Decl, "{\n\treturn") || strings.HasPrefix(d.Decl, "//") {
				t.Errorf("decl contains a body or doc comment: %q", d.Decl)
			}
		})
	}
}

func TestExtractFilterAndStop(t *testing.T) {
	docs := collect(t, fakeGOROOT, Options{Include: PrefixFilter([]string{"beta"}), Workers: 1})
	for _, d := range docs {
		if d.Package != "beta" {
			t.Errorf("filtered extraction returned %q", d.ID)
		}
	}
	if len(docs) != 6 {
		t.Errorf("got %d beta docs, want 6", len(docs))
	}

	n := 0
	err := Extract(fakeGOROOT, func(Doc) error {
		n++
		if n == 3 {
			return ErrStop
		}
		return nil
	})
	if !errors.Is(err, ErrStop) || n != 3 {
		t.Errorf("stop: err=%v n=%d, want ErrStop after 3", err, n)
	}

	if err := Extract("testdata/does-not-exist", func(Doc) error { return nil }); err == nil {
		t.Error("Extract on a missing GOROOT succeeded")
	}
}

func TestPrefixFilter(t *testing.T) {
	tests := []struct {
		prefixes []string
		path     string
		want     bool
	}{
		{[]string{"net"}, "net", true},
		{[]string{"net"}, "net/http", true},
		{[]string{"net"}, "netip", false},
		{[]string{"net/"}, "net", false},
		{[]string{"net/"}, "net/http", true},
		{[]string{"strings", " net/http "}, "net/http/httptest", true},
		{[]string{"strings", "net/http"}, "net/url", false},
		{[]string{"-simd"}, "simd/archsimd", false},
		{[]string{"-simd"}, "strings", true},
		{[]string{"net", "-net/http"}, "net/http/pprof", false},
		{[]string{"net", "-net/http"}, "net/url", true},
	}
	for _, tc := range tests {
		f := PrefixFilter(tc.prefixes)
		if got := f(tc.path); got != tc.want {
			t.Errorf("PrefixFilter(%q)(%q) = %v, want %v", tc.prefixes, tc.path, got, tc.want)
		}
	}
	if PrefixFilter([]string{""}) != nil || PrefixFilter(nil) != nil {
		t.Error("PrefixFilter without prefixes should be nil (accept all)")
	}
}

func TestExtractRealGOROOT(t *testing.T) {
	goroot := DefaultGOROOT()
	if goroot == "" {
		t.Fatal("no GOROOT found: the full-corpus test needs the Go installation")
	}
	start := time.Now()
	ids := map[string]bool{}
	kinds := map[string]int{}
	var docs, bytes int
	var lastPkg string
	want := map[string]string{ // id -> kind
		"strings.Builder":             KindType,
		"net/http.Client":             KindType,
		"net/http.Client.Do":          KindMethod,
		"strings":                     KindPackage,
		"fmt.Println":                 KindFunc,
		"io.EOF":                      KindVar,
		"builtin.append":              KindFunc,
		"strings.Builder.WriteString": KindMethod,
	}
	found := map[string]Doc{}
	err := Extract(goroot, func(d Doc) error {
		docs++
		bytes += len(d.Doc) + len(d.Decl)
		kinds[d.Kind]++
		if ids[d.ID] {
			t.Errorf("duplicate id %q", d.ID)
		}
		ids[d.ID] = true
		if d.Package < lastPkg {
			t.Errorf("package %q after %q: not sorted", d.Package, lastPkg)
		}
		lastPkg = d.Package
		if d.ID == "" || d.Package == "" || d.Kind == "" || d.Name == "" {
			t.Errorf("incomplete document %+v", d)
		}
		for _, elem := range strings.Split(d.Package, "/") {
			if elem == "internal" || elem == "vendor" || elem == "testdata" {
				t.Errorf("document from skipped package %q", d.Package)
			}
		}
		if strings.HasPrefix(d.Package, "cmd/") || d.Package == "cmd" {
			t.Errorf("document from cmd: %q", d.ID)
		}
		if _, ok := want[d.ID]; ok {
			found[d.ID] = d
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("GOROOT %s: %d documents, %d bytes of doc+decl, kinds %v, %s",
		goroot, docs, bytes, kinds, time.Since(start).Round(time.Millisecond))
	if docs <= 5000 {
		t.Errorf("got %d documents, want > 5000", docs)
	}
	for id, kind := range want {
		d, ok := found[id]
		if !ok {
			t.Errorf("missing document %q", id)
			continue
		}
		if d.Kind != kind {
			t.Errorf("%s: kind %q, want %q", id, d.Kind, kind)
		}
		if d.Doc == "" || d.Synopsis == "" || d.Decl == "" {
			t.Errorf("%s: empty doc/synopsis/decl: %+v", id, d)
		}
	}
	if d := found["strings.Builder"]; !strings.HasPrefix(d.Decl, "type Builder struct") ||
		!strings.Contains(d.Doc, "efficiently build a string") {
		t.Errorf("strings.Builder = %+v", d)
	}
	if d := found["net/http.Client"]; !strings.HasPrefix(d.Synopsis, "A Client is an HTTP client") ||
		!strings.Contains(d.Decl, "Transport RoundTripper") {
		t.Errorf("net/http.Client = %+v", d)
	}
	if d := found["net/http.Client.Do"]; d.Decl != "func (c *Client) Do(req *Request) (*Response, error)" {
		t.Errorf("net/http.Client.Do decl = %q", d.Decl)
	}
}
