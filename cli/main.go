// Command termflowctl is Termflow's tool for people: load files into an
// index with a progress bar, list, watch and explain bulk operations,
// search, list and redrive dead letters, and verify an index:
//
//	termflowctl <subcommand> [flags]
//
// Subcommands are listed by `termflowctl help`; each takes -h and --json.
// Exit status: 0 success, 1 the subcommand's negative answer (documents
// rejected, an operation not completed, verify found differences), 2 usage
// or operational errors.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/termflow/termflow/cli/internal/command"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := command.Run(ctx, "termflowctl", command.All(), os.Args[1:],
		command.Env{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
