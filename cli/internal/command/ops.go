package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func opsCommand() Command {
	return Command{
		Name:    "ops",
		Summary: "bulk operations: ops list | ops watch ID | ops errors ID",
		Run:     runOps,
	}
}

const opsUsage = `usage: termflowctl ops <list|watch|errors> [flags] [ID]

  ops list [--index I] [--status S] [--limit N]   operations, newest first
  ops watch ID                                   follow an operation until it ends (exit 1 unless completed)
  ops errors ID                                  the failed documents of an operation
`

func runOps(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, opsUsage)
		return errors.New("missing ops subcommand")
	}
	switch args[0] {
	case "list", "ls":
		return runOpsList(ctx, args[1:], env)
	case "watch":
		return runOpsWatch(ctx, args[1:], env)
	case "errors":
		return runOpsErrors(ctx, args[1:], env)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(env.Stdout, opsUsage)
		return nil
	}
	fmt.Fprint(env.Stderr, opsUsage)
	return fmt.Errorf("unknown ops subcommand %q", args[0])
}

func runOpsList(ctx context.Context, args []string, env Env) error {
	var (
		af            apiFlags
		index, status string
		limit         int
	)
	fs := newFlags("ops list", "usage: termflowctl ops list [flags]\n\nLists bulk operations, newest first.\n", env)
	af.register(fs)
	fs.StringVar(&index, "index", "", "only operations of this index")
	fs.StringVar(&status, "status", "", "only operations with this status (indexing, persisting, completed, partially_completed, failed)")
	fs.IntVar(&limit, "limit", 100, "at most this many (1 to 1000)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos, 0, "no arguments"); err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if index != "" {
		q.Set("index", index)
	}
	if status != "" {
		q.Set("status", status)
	}
	var resp struct {
		Operations []operation `json:"operations"`
	}
	if err := c.get(ctx, "/bulk-operations?"+q.Encode(), &resp); err != nil {
		return fmt.Errorf("list operations: %w", err)
	}
	if af.json {
		return writeJSON(env.Stdout, resp)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tINDEX\tSTATUS\tDOCUMENTS\tINDEXED\tPERSISTED\tFAILED\tCREATED")
	for _, o := range resp.Operations {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", o.ID, o.Index, o.Status, o.TotalDocuments,
			o.IndexedDocuments, o.PersistedDocuments, o.FailedDocuments, o.CreatedAt.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

func runOpsWatch(ctx context.Context, args []string, env Env) error {
	var (
		af       apiFlags
		interval time.Duration
		timeout  time.Duration
		bar      bool
	)
	fs := newFlags("ops watch", `usage: termflowctl ops watch [flags] ID

Follows an operation until it is completed, partially_completed or failed,
with a progress bar of its indexed and persisted documents on a terminal (a
line per change otherwise; with --json one JSON view per change on stdout).

Exit status: 0 completed, 1 partially_completed or failed, 2 error.
`, env)
	af.register(fs)
	fs.DurationVar(&interval, "interval", 500*time.Millisecond, "how often to poll")
	fs.DurationVar(&timeout, "timeout", 0, "give up after this long (0: never)")
	fs.BoolVar(&bar, "progress", isTerminal(env.Stderr), "show a progress bar on stderr (default: when stderr is a terminal)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos, 1, "an operation id"); err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var p *progress
	if bar && !af.json {
		p = newProgress(env.Stderr, pos[0])
	}
	var last operation
	for first := true; ; first = false {
		o, err := c.operation(ctx, pos[0])
		if err != nil {
			p.finish()
			if isAPIError(err, 404) {
				return fmt.Errorf("operation %s not found", pos[0])
			}
			return fmt.Errorf("watch %s: %w", pos[0], err)
		}
		if first || o.UpdatedAt != last.UpdatedAt || o.Status != last.Status {
			p.update(o.TotalDocuments, o.TotalDocuments, o.IndexedDocuments, o.PersistedDocuments, o.FailedDocuments)
			switch {
			case af.json:
				if err := writeJSONLine(env.Stdout, o); err != nil {
					return err
				}
			case p == nil:
				printOpLine(env.Stdout, o)
			}
			last = o
		}
		if o.terminal() {
			p.finish()
			if p != nil {
				printOpLine(env.Stdout, o)
			}
			if o.Status != "completed" {
				return &ExitStatus{Code: ExitFound}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			p.finish()
			return fmt.Errorf("watch %s: still %s: %w", o.ID, o.Status, ctx.Err())
		case <-time.After(interval):
		}
	}
}

func printOpLine(w io.Writer, o operation) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s: indexed %d/%d, persisted %d/%d", o.ID, o.Index, o.Status,
		o.IndexedDocuments, o.TotalDocuments, o.PersistedDocuments, o.TotalDocuments)
	if o.FailedDocuments > 0 {
		fmt.Fprintf(&b, ", failed %d", o.FailedDocuments)
	}
	if o.AbortReason != "" {
		fmt.Fprintf(&b, " (%s)", o.AbortReason)
	}
	fmt.Fprintln(w, b.String())
}

func runOpsErrors(ctx context.Context, args []string, env Env) error {
	var af apiFlags
	fs := newFlags("ops errors", "usage: termflowctl ops errors [flags] ID\n\nLists the failed documents of an operation (the first 1000) and why.\n", env)
	af.register(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos, 1, "an operation id"); err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	e, err := c.operationErrors(ctx, pos[0])
	if err != nil {
		if isAPIError(err, 404) {
			return fmt.Errorf("operation %s not found", pos[0])
		}
		return fmt.Errorf("errors of %s: %w", pos[0], err)
	}
	if af.json {
		return writeJSON(env.Stdout, e)
	}
	if e.AbortReason != "" {
		fmt.Fprintf(env.Stdout, "aborted: %s\n", e.AbortReason)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tID\tPARTITION\tOFFSET\tREASON")
	for _, f := range e.Errors {
		part, off := "-", "-"
		if f.Partition != nil && f.Offset != nil {
			part, off = strconv.Itoa(int(*f.Partition)), strconv.FormatInt(*f.Offset, 10)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", f.Seq, f.ID, part, off, f.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%d failed documents\n", e.FailureCount)
	return nil
}
