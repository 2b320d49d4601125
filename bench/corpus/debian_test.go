package corpus

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseDumpavail(t *testing.T) {
	f, err := os.Open("testdata/dumpavail.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := parseDumpavail(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkCorpus(t, c)
	if c.Name() != "debian" || c.Len() != 5 {
		t.Fatalf("name %q, %d documents", c.Name(), c.Len())
	}
	byID := map[string]debianDoc{}
	var order []string
	for i := range c.Len() {
		var d debianDoc
		if err := json.Unmarshal(c.Doc(i).JSON, &d); err != nil {
			t.Fatal(err)
		}
		byID[d.ID] = d
		order = append(order, d.ID)
	}
	// The order is by FNV-1a of the name, not alphabetical.
	if got := strings.Join(order, " "); got != "ripgrep python3-numpy 0ad bash golang-1.19-go" {
		t.Errorf("order %s", got)
	}
	bash := byID["bash"]
	want := debianDoc{
		ID: "bash", Version: "5.2.15-2+b13", Section: "shells", Priority: "required", Architecture: "amd64",
		Maintainer: "Matthias Klose <doko@debian.org>", Homepage: "http://tiswww.case.edu/php/chet/bash/bashtop.html",
		Tags: []string{"admin::TODO", "devel::TODO", "devel::interpreter", "implemented-in::c", "interface::shell",
			"interface::text-mode", "role::program", "scope::application", "suite::gnu", "uitoolkit::ncurses"},
		Description: "GNU Bourne Again SHell",
	}
	if !reflect.DeepEqual(bash, want) {
		t.Errorf("bash:\n got %+v\nwant %+v", bash, want)
	}
	// No HTML escaping: the JSON is what a user would write.
	if js := string(c.Doc(3).JSON); !strings.Contains(js, `"maintainer":"Matthias Klose <doko@debian.org>"`) {
		t.Errorf("bash document: %s", js)
	}
	// "Source: rust-ripgrep (13.0.0-4)" keeps the name only; a source equal
	// to the package is left out.
	if s := byID["ripgrep"].Source; s != "rust-ripgrep" {
		t.Errorf("ripgrep source %q", s)
	}
	if s := byID["python3-numpy"].Source; s != "numpy" {
		t.Errorf("python3-numpy source %q", s)
	}
	if len(byID["ripgrep"].Tags) != 0 || byID["0ad"].Tags[len(byID["0ad"].Tags)-1] != "x11::application" {
		t.Errorf("tags: ripgrep %q, 0ad %q", byID["ripgrep"].Tags, byID["0ad"].Tags)
	}
}

func TestParseDumpavailLong(t *testing.T) {
	tr, err := os.Open("testdata/translation-en.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	long := map[string]string{}
	if err := parseTranslations(tr, long); err != nil {
		t.Fatal(err)
	}
	if len(long) != 3 {
		t.Fatalf("%d long descriptions, want 3", len(long))
	}
	f, err := os.Open("testdata/dumpavail.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := parseDumpavail(f, long)
	if err != nil {
		t.Fatal(err)
	}
	checkCorpus(t, c)
	if c.Name() != "debian-long" {
		t.Errorf("name %q", c.Name())
	}
	got := map[string]string{}
	for i := range c.Len() {
		var d debianDoc
		if err := json.Unmarshal(c.Doc(i).JSON, &d); err != nil {
			t.Fatal(err)
		}
		got[d.ID] = d.LongDescription
	}
	const bash = "Bash is an sh-compatible command language interpreter that executes\n" +
		"commands read from the standard input or from a file.  Bash also\n" +
		"incorporates useful features from the Korn and C shells (ksh and csh).\n" +
		"\n" +
		"Bash is ultimately intended to be a conformant implementation of the\n" +
		"IEEE POSIX Shell and Tools specification (IEEE Working Group 1003.2).\n" +
		"\n" +
		"The Programmable Completion Code, by Ian Macdonald, is now found in\n" +
		"the bash-completion package."
	if got["bash"] != bash {
		t.Errorf("bash long description:\n%s", got["bash"])
	}
	if !strings.HasPrefix(got["0ad"], `0 A.D. (pronounced "zero ey-dee")`) || got["python3-numpy"] != "" {
		t.Errorf("long descriptions: 0ad %q, python3-numpy %q", got["0ad"], got["python3-numpy"])
	}
}

func TestParseDumpavailErrors(t *testing.T) {
	for name, in := range map[string]string{
		"no package":   "Version: 1\n\n",
		"twice":        "Package: a\nDescription: x\n\nPackage: a\nDescription: y\n",
		"continuation": " stray\n",
		"not a field":  "Package: a\nnonsense\n",
	} {
		if _, err := parseDumpavail(strings.NewReader(in), nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	c, err := parseDumpavail(strings.NewReader(""), nil)
	if err != nil || c.Len() != 0 {
		t.Errorf("empty input: %v, %d documents", err, c.Len())
	}
}

// TestDebian reads this machine's APT lists. It fails (never skips) where
// they are missing, with Debian's message saying how to get them.
func TestDebian(t *testing.T) {
	c, err := Debian()
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() < 50000 {
		t.Errorf("only %d packages; Debian bookworm main has about 63,000", c.Len())
	}
	checkCorpus(t, c)
	var bytes, long int
	for i := range c.Len() {
		bytes += len(c.Doc(i).JSON)
		if strings.Contains(string(c.Doc(i).JSON), `"long_description":`) {
			long++
		}
	}
	if c.Name() == "debian-long" && long < c.Len()/2 {
		t.Errorf("%s: only %d of %d documents have a long description", c.Name(), long, c.Len())
	}
	t.Logf("%s: %d documents, %d with a long description, mean %d bytes", c.Name(), c.Len(), long, bytes/c.Len())
}

// TestDebianMissingLists runs Debian against a stand-in apt-cache that
// lists nothing, as on a fresh container before `apt-get update`.
func TestDebianMissingLists(t *testing.T) {
	bin := t.TempDir()
	script := "#!/bin/sh\nexit 0\n"
	if err := os.WriteFile(bin+"/apt-cache", []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin+"/apt-config", []byte("#!/bin/sh\necho \"D='"+t.TempDir()+"/'\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	_, err := Debian()
	if err == nil || !strings.Contains(err.Error(), "run `apt-get update` (as root)") {
		t.Fatalf("Debian() with empty lists: %v", err)
	}
}
