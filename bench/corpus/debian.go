package corpus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Debian returns one document per binary package known to the local APT
// lists, read with `apt-cache dumpavail` (about 63,700 packages on Debian
// bookworm with main, updates and security). A document holds
//
//	id           the package name
//	version, section, priority, architecture, maintainer
//	source       the source package, if it differs
//	homepage     if any
//	tags         the debtags ("game::strategy", …), if any
//	description  the one-line synopsis
//	long_description
//	             the extended description, only if the lists carry it
//
// apt on Debian bookworm keeps the extended descriptions in separate
// Translation-en lists that the Docker images do not fetch
// (Acquire::Languages "none"). If Translation-en lists are present in
// APT's lists directory, their texts are joined by Description-md5 and the
// corpus is named "debian-long"; otherwise documents carry the synopsis
// only and the corpus is named "debian". `apt-get update -o
// Acquire::Languages=en` (as root) fetches them.
//
// Documents are ordered by the 64-bit FNV-1a hash of the package name (a
// fixed pseudo-random order), so that any prefix (Take) is a representative
// sample rather than the packages from "0ad" to "libc…".
//
// If the lists are missing (a fresh container), Debian fails with a
// message asking to run `apt-get update` as root; it never runs it.
func Debian() (Corpus, error) {
	if _, err := exec.LookPath("apt-cache"); err != nil {
		return nil, fmt.Errorf("corpus: debian: apt-cache not found (a Debian or Ubuntu machine is needed): %w", err)
	}
	cmd := exec.Command("apt-cache", "dumpavail")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("corpus: debian: apt-cache dumpavail: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var long map[string]string
	if files := translationFiles(); len(files) > 0 {
		long = map[string]string{}
		for _, f := range files {
			text, err := catFile(f)
			if err != nil {
				return nil, fmt.Errorf("corpus: debian: %w", err)
			}
			if err := parseTranslations(bytes.NewReader(text), long); err != nil {
				return nil, fmt.Errorf("corpus: debian: %s: %w", f, err)
			}
		}
	}
	c, err := parseDumpavail(bytes.NewReader(out), long)
	if err != nil {
		return nil, fmt.Errorf("corpus: debian: %w", err)
	}
	if c.Len() == 0 {
		return nil, errors.New("corpus: debian: `apt-cache dumpavail` lists no packages: the APT lists are missing; run `apt-get update` (as root) first")
	}
	return c, nil
}

// translationFiles returns the Translation-en lists in APT's lists
// directory, if any.
func translationFiles() []string {
	dir := "/var/lib/apt/lists"
	if out, err := exec.Command("apt-config", "shell", "D", "Dir::State::lists/d").Output(); err == nil {
		// D='/var/lib/apt/lists/'
		s := strings.TrimSpace(string(out))
		if v, ok := strings.CutPrefix(s, "D="); ok {
			dir = strings.Trim(v, "'")
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*_i18n_Translation-en*"))
	return slices.DeleteFunc(files, func(f string) bool { return strings.HasSuffix(f, ".diff") })
}

// catFile returns the decompressed contents of an APT list file.
func catFile(name string) ([]byte, error) {
	if !strings.HasSuffix(name, ".lz4") && !strings.HasSuffix(name, ".gz") && !strings.HasSuffix(name, ".xz") {
		return os.ReadFile(name)
	}
	out, err := exec.Command("/usr/lib/apt/apt-helper", "cat-file", name).Output()
	if err != nil {
		return nil, fmt.Errorf("apt-helper cat-file %s: %w", name, err)
	}
	return out, nil
}

// debianDoc is the JSON layout of a Debian document; the field order is
// the member order.
type debianDoc struct {
	ID              string   `json:"id"`
	Version         string   `json:"version"`
	Section         string   `json:"section,omitempty"`
	Priority        string   `json:"priority,omitempty"`
	Architecture    string   `json:"architecture,omitempty"`
	Maintainer      string   `json:"maintainer,omitempty"`
	Source          string   `json:"source,omitempty"`
	Homepage        string   `json:"homepage,omitempty"`
	Tags            []string `json:"tags,omitempty"`
	Description     string   `json:"description"`
	LongDescription string   `json:"long_description,omitempty"`
}

// stanzas calls fn with the fields of every deb822 paragraph of r; a
// multi-line field's value keeps its continuation lines, each after a
// newline, with the leading space removed.
func stanzas(r io.Reader, fn func(fields map[string]string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	fields := map[string]string{}
	last := ""
	flush := func() error {
		if len(fields) == 0 {
			return nil
		}
		err := fn(fields)
		fields, last = map[string]string{}, ""
		return err
	}
	line := 0
	for sc.Scan() {
		line++
		t := sc.Text()
		switch {
		case strings.TrimSpace(t) == "":
			if err := flush(); err != nil {
				return err
			}
		case t[0] == ' ' || t[0] == '\t':
			if last == "" {
				return fmt.Errorf("line %d: continuation line outside a field", line)
			}
			fields[last] += "\n" + t[1:]
		default:
			name, value, ok := strings.Cut(t, ":")
			if !ok {
				return fmt.Errorf("line %d: %q is not a field", line, t)
			}
			last = name
			fields[name] = strings.TrimSpace(value)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return flush()
}

// parseTranslations adds the extended descriptions of a Translation-en
// list to long, keyed by Description-md5.
func parseTranslations(r io.Reader, long map[string]string) error {
	return stanzas(r, func(f map[string]string) error {
		md5, desc := f["Description-md5"], f["Description-en"]
		if md5 == "" || desc == "" {
			return nil
		}
		if _, body, ok := strings.Cut(desc, "\n"); ok {
			long[md5] = extendedDescription(body)
		}
		return nil
	})
}

// extendedDescription turns the continuation lines of a Description into
// text: " ." lines (blank lines in the source) become paragraph breaks.
func extendedDescription(body string) string {
	var b strings.Builder
	for l := range strings.SplitSeq(body, "\n") {
		l = strings.TrimSpace(l)
		if l == "." {
			l = ""
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l)
	}
	return strings.TrimSpace(b.String())
}

// parseDumpavail reads `apt-cache dumpavail` output. long, which may be
// nil, maps Description-md5 to extended descriptions.
func parseDumpavail(r io.Reader, long map[string]string) (*docs, error) {
	name := "debian"
	if long != nil {
		name = "debian-long"
	}
	type keyed struct {
		hash uint64
		doc  Doc
	}
	var all []keyed
	seen := map[string]bool{}
	err := stanzas(r, func(f map[string]string) error {
		pkg := f["Package"]
		if pkg == "" {
			return fmt.Errorf("a paragraph without a Package field: %v", f)
		}
		if seen[pkg] {
			return fmt.Errorf("package %q listed twice", pkg)
		}
		seen[pkg] = true
		short, body, _ := strings.Cut(f["Description"], "\n")
		d := debianDoc{
			ID:           pkg,
			Version:      f["Version"],
			Section:      f["Section"],
			Priority:     f["Priority"],
			Architecture: f["Architecture"],
			Maintainer:   f["Maintainer"],
			Homepage:     f["Homepage"],
			Description:  strings.TrimSpace(short),
		}
		if src, _, _ := strings.Cut(f["Source"], " "); src != pkg {
			d.Source = src
		}
		for t := range strings.SplitSeq(f["Tag"], ",") {
			if t = strings.TrimSpace(t); t != "" {
				d.Tags = append(d.Tags, t)
			}
		}
		if body != "" {
			d.LongDescription = extendedDescription(body)
		} else if l, ok := long[f["Description-md5"]]; ok {
			d.LongDescription = l
		}
		js, err := marshal(d)
		if err != nil {
			return err
		}
		h := fnv.New64a()
		h.Write([]byte(pkg))
		all = append(all, keyed{hash: h.Sum64(), doc: Doc{ID: pkg, JSON: js}})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b keyed) int {
		if a.hash != b.hash {
			if a.hash < b.hash {
				return -1
			}
			return 1
		}
		return strings.Compare(a.doc.ID, b.doc.ID)
	})
	c := &docs{name: name, docs: make([]Doc, len(all))}
	for i, k := range all {
		c.docs[i] = k.doc
	}
	return c, nil
}

// marshal encodes v without HTML escaping and without a trailing newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
