// Command termflowctl is Termflow's operator tool:
//
//	termflowctl <subcommand> [flags]
//
// Subcommands are listed by `termflowctl help`; each takes -h. Exit status:
// 0 success, 1 the subcommand's negative answer (verify found
// differences), 2 usage or operational errors.
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
