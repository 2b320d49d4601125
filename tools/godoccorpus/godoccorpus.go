// Package godoccorpus extracts a real-world text corpus from the
// documentation of the Go standard library.
//
// The corpus is built from the sources of a local Go installation
// (GOROOT/src) with go/parser and go/doc. Every package yields one
// document for the package itself and one per exported function, type,
// method, and const/var group. Documents are streamed in a deterministic
// order: packages sorted by import path, and within a package the order of
// go/doc (constants, variables, functions, then each type followed by its
// constants, variables, constructor functions and methods).
package godoccorpus

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/build/constraint"
	"go/doc"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Document kinds.
const (
	KindPackage = "package"
	KindFunc    = "func"
	KindType    = "type"
	KindMethod  = "method"
	KindConst   = "const"
	KindVar     = "var"
)

// Doc is one corpus document.
type Doc struct {
	// ID is unique across the corpus: "<importpath>" for packages,
	// "<importpath>.<Name>" for funcs, types and const/var groups (named
	// after the first exported name of the group) and
	// "<importpath>.<Type>.<Method>" for methods.
	ID string `json:"id"`
	// Package is the import path of the package, e.g. "net/http".
	Package string `json:"package"`
	// Kind is one of package, func, type, method, const, var.
	Kind string `json:"kind"`
	// Name is the package name (e.g. "http"), the identifier of a
	// func/type/method, or the comma-separated exported names of a
	// const/var group.
	Name string `json:"name"`
	// Synopsis is the first sentence of Doc.
	Synopsis string `json:"synopsis"`
	// Doc is the full documentation comment text (go/doc comment syntax).
	Doc string `json:"doc"`
	// Decl is the declaration printed with go/printer; for funcs and
	// methods only the signature. For packages it is "package <name>".
	Decl string `json:"decl"`
}

// Options tunes ExtractWith. The zero value extracts every package.
type Options struct {
	// Include, if non-nil, reports whether the package with the given
	// import path is extracted. Excluded packages are not parsed at all.
	Include func(importPath string) bool
	// Workers is the number of packages parsed concurrently;
	// 0 means runtime.GOMAXPROCS(0).
	Workers int
}

// buildContexts are tried in order for each package directory; the first
// one that selects at least one Go file wins (similar to pkgsite). This
// keeps the output independent of the host platform and still documents
// platform-specific packages such as syscall/js.
var buildContexts = []struct{ goos, goarch string }{
	{"linux", "amd64"},
	{"windows", "amd64"},
	{"darwin", "amd64"},
	{"js", "wasm"},
	{"wasip1", "wasm"},
}

// skipDirNames are directory names that are never descended into.
var skipDirNames = map[string]bool{
	"testdata": true,
	"internal": true,
	"vendor":   true,
}

// DefaultGOROOT returns the GOROOT of the local Go installation: the
// output of `go env GOROOT` if the go command is available, otherwise
// runtime.GOROOT().
func DefaultGOROOT() string {
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		if s := strings.TrimSpace(string(out)); s != "" {
			return s
		}
	}
	if s := os.Getenv("GOROOT"); s != "" {
		return s
	}
	return runtime.GOROOT() //nolint:staticcheck // fallback only
}

// PrefixFilter returns an Options.Include function for import path
// prefixes. A prefix matches a path equal to it or below it ("net" matches
// "net" and "net/http" but not "netip"; "net/" matches only packages below
// net). A prefix starting with "-" excludes matching paths instead
// ("-simd" drops simd/archsimd). A path is accepted if it matches no
// exclusion and either there are no inclusions or it matches one. Empty
// entries are ignored; with no prefixes at all, nil (accept all) is
// returned.
func PrefixFilter(prefixes []string) func(string) bool {
	var incl, excl []string
	for _, p := range prefixes {
		p = strings.TrimSpace(p)
		if rest, ok := strings.CutPrefix(p, "-"); ok {
			if rest != "" {
				excl = append(excl, rest)
			}
		} else if p != "" {
			incl = append(incl, p)
		}
	}
	if len(incl) == 0 && len(excl) == 0 {
		return nil
	}
	matchAny := func(path string, ps []string) bool {
		for _, p := range ps {
			if strings.HasSuffix(p, "/") {
				if strings.HasPrefix(path, p) {
					return true
				}
			} else if path == p || strings.HasPrefix(path, p+"/") {
				return true
			}
		}
		return false
	}
	return func(path string) bool {
		if matchAny(path, excl) {
			return false
		}
		return len(incl) == 0 || matchAny(path, incl)
	}
}

// Extract walks goroot/src and calls fn for every document, in a
// deterministic order (packages sorted by import path). fn is called from
// the calling goroutine; if it returns an error, extraction stops and that
// error is returned unchanged.
func Extract(goroot string, fn func(Doc) error) error {
	return ExtractWith(goroot, Options{}, fn)
}

// ExtractWith is Extract with options.
func ExtractWith(goroot string, opts Options, fn func(Doc) error) error {
	srcDir := filepath.Join(goroot, "src")
	paths, err := packageDirs(srcDir)
	if err != nil {
		return err
	}
	if opts.Include != nil {
		paths = slices.DeleteFunc(paths, func(p string) bool { return !opts.Include(p) })
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, len(paths)))

	type result struct {
		docs []Doc
		err  error
		done chan struct{}
	}
	results := make([]*result, len(paths))
	for i := range results {
		results[i] = &result{done: make(chan struct{})}
	}

	// A bounded window of packages may be in flight ahead of the emitter,
	// which keeps memory flat while the workers stay busy.
	window := make(chan struct{}, 4*workers)
	jobs := make(chan int)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // producer
		defer wg.Done()
		defer close(jobs)
		for i := range paths {
			select {
			case window <- struct{}{}:
			case <-stop:
				return
			}
			select {
			case jobs <- i:
			case <-stop:
				return
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				r := results[i]
				r.docs, r.err = extractPackage(srcDir, paths[i])
				close(r.done)
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()

	for i := range paths {
		r := results[i]
		<-r.done
		<-window
		if r.err != nil {
			return r.err
		}
		for _, d := range r.docs {
			if err := fn(d); err != nil {
				return err
			}
		}
		r.docs = nil
	}
	return nil
}

// packageDirs returns the sorted import paths of all candidate package
// directories below srcDir.
func packageDirs(srcDir string) ([]string, error) {
	info, err := os.Stat(srcDir)
	if err != nil {
		return nil, fmt.Errorf("godoccorpus: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("godoccorpus: %s is not a directory", srcDir)
	}
	var paths []string
	err = filepath.WalkDir(srcDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() || path == srcDir {
			return nil
		}
		name := d.Name()
		rel, err := filepath.Rel(srcDir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if skipDirNames[name] || rel == "cmd" ||
			strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			return filepath.SkipDir
		}
		paths = append(paths, rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("godoccorpus: walking %s: %w", srcDir, err)
	}
	sort.Strings(paths)
	return paths, nil
}

// goFiles returns the names of the non-test Go files in dir that belong to
// the first matching build context.
func goFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var candidates []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") ||
			strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			continue
		}
		candidates = append(candidates, name)
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	for _, bc := range buildContexts {
		ctxt := build.Default
		ctxt.GOOS, ctxt.GOARCH = bc.goos, bc.goarch
		ctxt.CgoEnabled = bc.goarch != "wasm"
		var names []string
		for _, name := range candidates {
			ok, err := ctxt.MatchFile(dir, name)
			if err != nil {
				return nil, err
			}
			if ok {
				names = append(names, name)
			}
		}
		if len(names) > 0 {
			return names, nil
		}
	}
	return experimentalFiles(dir, candidates)
}

// experimentalFiles is the last resort for packages that exist only behind
// a GOEXPERIMENT or the boringcrypto tag (e.g. encoding/json/v2, arena,
// simd/archsimd): it enables every such tag mentioned by the files'
// build constraints and matches for linux/amd64.
func experimentalFiles(dir string, candidates []string) ([]string, error) {
	tags := map[string]bool{}
	for _, name := range candidates {
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, name), nil,
			parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return nil, err
		}
		for _, cg := range f.Comments {
			if cg.Pos() > f.Package {
				break
			}
			for _, c := range cg.List {
				if !constraint.IsGoBuild(c.Text) {
					continue
				}
				expr, err := constraint.Parse(c.Text)
				if err != nil {
					continue
				}
				expr.Eval(func(tag string) bool {
					if strings.HasPrefix(tag, "goexperiment.") || tag == "boringcrypto" {
						tags[tag] = true
					}
					return false
				})
			}
		}
	}
	if len(tags) == 0 {
		return nil, nil
	}
	ctxt := build.Default
	ctxt.GOOS, ctxt.GOARCH, ctxt.CgoEnabled = "linux", "amd64", true
	ctxt.BuildTags = slices.Sorted(maps.Keys(tags))
	var names []string
	for _, name := range candidates {
		ok, err := ctxt.MatchFile(dir, name)
		if err != nil {
			return nil, err
		}
		if ok {
			names = append(names, name)
		}
	}
	return names, nil
}

// extractPackage parses one directory and returns its documents; a
// directory without a documentable package yields none.
func extractPackage(srcDir, importPath string) ([]Doc, error) {
	dir := filepath.Join(srcDir, filepath.FromSlash(importPath))
	names, err := goFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("godoccorpus: %s: %w", importPath, err)
	}
	if len(names) == 0 {
		return nil, nil
	}
	fset := token.NewFileSet()
	byPkg := map[string][]*ast.File{}
	for _, name := range names {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil,
			parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("godoccorpus: %s: %w", importPath, err)
		}
		pkgName := f.Name.Name
		if pkgName == "main" || pkgName == "documentation" || strings.HasSuffix(pkgName, "_test") {
			continue
		}
		byPkg[pkgName] = append(byPkg[pkgName], f)
	}
	if len(byPkg) == 0 {
		return nil, nil
	}
	if len(byPkg) > 1 {
		return nil, fmt.Errorf("godoccorpus: %s: multiple packages %v", importPath, slices.Sorted(maps.Keys(byPkg)))
	}
	var files []*ast.File
	for _, pf := range byPkg {
		files = pf
	}

	var mode doc.Mode
	if importPath == "builtin" {
		// The builtin package documents predeclared identifiers, which
		// are all lower case.
		mode = doc.AllDecls
	}
	pkg, err := doc.NewFromFiles(fset, files, importPath, mode)
	if err != nil {
		return nil, fmt.Errorf("godoccorpus: %s: %w", importPath, err)
	}
	e := &emitter{fset: fset, pkg: pkg}
	return e.docs()
}

type emitter struct {
	fset *token.FileSet
	pkg  *doc.Package
	out  []Doc
	buf  bytes.Buffer
	err  error
}

var printConfig = printer.Config{Mode: printer.UseSpaces | printer.TabIndent, Tabwidth: 8}

func (e *emitter) add(id, kind, name, text string, decl string) {
	text = strings.TrimRight(text, "\n")
	e.out = append(e.out, Doc{
		ID:       id,
		Package:  e.pkg.ImportPath,
		Kind:     kind,
		Name:     name,
		Synopsis: e.pkg.Synopsis(text),
		Doc:      text,
		Decl:     decl,
	})
}

// print renders a declaration without its leading doc comment (which is
// already in the doc field) and, for functions, without the body.
func (e *emitter) print(decl ast.Decl) string {
	var node ast.Node
	switch d := decl.(type) {
	case *ast.FuncDecl:
		c := *d
		c.Doc, c.Body = nil, nil
		node = &c
	case *ast.GenDecl:
		c := *d
		c.Doc = nil
		if !c.Lparen.IsValid() && len(c.Specs) == 1 {
			// Single (possibly fake, see go/doc) declaration: the spec
			// doc is the declaration's documentation.
			switch s := c.Specs[0].(type) {
			case *ast.TypeSpec:
				sc := *s
				sc.Doc = nil
				c.Specs = []ast.Spec{&sc}
			case *ast.ValueSpec:
				sc := *s
				sc.Doc = nil
				c.Specs = []ast.Spec{&sc}
			}
		}
		node = &c
	default:
		node = decl
	}
	e.buf.Reset()
	if err := printConfig.Fprint(&e.buf, e.fset, node); err != nil && e.err == nil {
		e.err = fmt.Errorf("godoccorpus: %s: printing declaration: %w", e.pkg.ImportPath, err)
	}
	return e.buf.String()
}

func (e *emitter) values(vals []*doc.Value, kind string) {
	for _, v := range vals {
		if len(v.Names) == 0 {
			continue
		}
		e.add(e.pkg.ImportPath+"."+v.Names[0], kind, strings.Join(v.Names, ", "), v.Doc, e.print(v.Decl))
	}
}

func (e *emitter) funcs(fns []*doc.Func) {
	for _, f := range fns {
		e.add(e.pkg.ImportPath+"."+f.Name, KindFunc, f.Name, f.Doc, e.print(f.Decl))
	}
}

func (e *emitter) docs() ([]Doc, error) {
	p := e.pkg
	e.add(p.ImportPath, KindPackage, p.Name, p.Doc, "package "+p.Name)
	e.values(p.Consts, KindConst)
	e.values(p.Vars, KindVar)
	e.funcs(p.Funcs)
	for _, t := range p.Types {
		e.add(p.ImportPath+"."+t.Name, KindType, t.Name, t.Doc, e.print(t.Decl))
		e.values(t.Consts, KindConst)
		e.values(t.Vars, KindVar)
		e.funcs(t.Funcs)
		for _, m := range t.Methods {
			e.add(p.ImportPath+"."+t.Name+"."+m.Name, KindMethod, m.Name, m.Doc, e.print(m.Decl))
		}
	}
	if e.err != nil {
		return nil, e.err
	}
	return e.out, nil
}

// ErrStop may be returned by an Extract callback to end extraction early;
// Extract then returns it unchanged so the caller can tell it apart.
var ErrStop = errors.New("godoccorpus: stop")
