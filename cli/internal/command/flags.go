package command

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/termflow/termflow/pkg/flagenv"
)

// newFlags returns a subcommand's flag set printing usage (the text, then
// the flags) to env.Stderr.
func newFlags(name, usageText string, env Env) *flagenv.Set {
	fs := flagenv.New("termflowctl "+name, env.Getenv)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fmt.Fprint(fs.Output(), "\nflags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags anywhere among the arguments (`ops watch ID
// --json` as well as `ops watch --json ID`) and returns the positional
// arguments; "--" ends the flags.
func parseArgs(fs *flagenv.Set, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// wantArgs checks the number of positional arguments.
func wantArgs(fs *flagenv.Set, pos []string, n int, what string) error {
	if len(pos) != n {
		fs.Usage()
		return fmt.Errorf("want %s, got %d arguments", what, len(pos))
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeJSONLine writes v on one line (NDJSON streams).
func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
