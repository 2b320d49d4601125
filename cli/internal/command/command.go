// Package command holds termflowctl's subcommands and the dispatcher that
// runs them: `termflowctl <subcommand> [flags]`.
package command

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
)

// Exit statuses.
const (
	ExitOK    = 0 // success
	ExitFound = 1 // the subcommand's negative answer (verify: differences)
	ExitError = 2 // usage or operational error
)

// Env is what a subcommand may touch of its process.
type Env struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
}

// Command is a subcommand.
type Command struct {
	Name    string
	Summary string // one line for `termflowctl help`
	// Run runs the subcommand with its arguments (after the name). An error
	// that wraps *ExitStatus sets the exit status; flag.ErrHelp exits 0; any
	// other error is printed and exits ExitError.
	Run func(ctx context.Context, args []string, env Env) error
}

// ExitStatus is an error that ends the process with Code, printing nothing
// (the subcommand printed its answer).
type ExitStatus struct{ Code int }

func (e *ExitStatus) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// All returns every subcommand.
func All() []Command {
	return []Command{loadCommand(), opsCommand(), searchCommand(), dlqCommand(), verifyCommand()}
}

// Run dispatches args to a subcommand and returns the process's exit status.
func Run(ctx context.Context, prog string, cmds []Command, args []string, env Env) int {
	if len(args) == 0 {
		usage(prog, cmds, env.Stderr)
		return ExitError
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		usage(prog, cmds, env.Stdout)
		return ExitOK
	}
	for _, c := range cmds {
		if c.Name != name {
			continue
		}
		err := c.Run(ctx, args[1:], env)
		var st *ExitStatus
		switch {
		case err == nil:
			return ExitOK
		case errors.As(err, &st):
			return st.Code
		case errors.Is(err, flag.ErrHelp):
			return ExitOK
		default:
			fmt.Fprintf(env.Stderr, "%s %s: %v\n", prog, name, err)
			return ExitError
		}
	}
	fmt.Fprintf(env.Stderr, "%s: unknown subcommand %q\n", prog, name)
	usage(prog, cmds, env.Stderr)
	return ExitError
}

func usage(prog string, cmds []Command, w io.Writer) {
	fmt.Fprintf(w, "usage: %s <subcommand> [flags]\n\nsubcommands:\n", prog)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range cmds {
		fmt.Fprintf(tw, "  %s\t%s\n", c.Name, c.Summary)
	}
	tw.Flush()
	fmt.Fprintf(w, `
Every subcommand takes --json (output for machines). Exit status: 0 success,
1 the subcommand's negative answer (documents rejected, an operation not
completed, differences found), 2 usage or operational error.

environment (flags win):
  TERMFLOW_URL, TERMFLOW_API_KEY   ingest's HTTP API (default http://127.0.0.1:8080) and key
  KAFKA_BROKERS                    dlq, verify (default 127.0.0.1:9092)
  MONGO_URI, TERMFLOW_MONGO_DB     verify
  TERMFLOW_TOPIC_DOCUMENTS, TERMFLOW_TOPIC_DEAD_LETTER

examples:
  %[1]s load --index books books.ndjson
  %[1]s ops list --index books
  %[1]s ops watch op_01M8…
  %[1]s search books title:limited edition
  %[1]s dlq list && %[1]s dlq redrive --all
  %[1]s verify --index books

`+"`%[1]s <subcommand> -h`"+` lists a subcommand's flags.
`, prog)
}
