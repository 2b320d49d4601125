package command

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// progress is a live bar of persisted documents on stderr, its description
// counting the documents sent and indexed. A nil *progress shows nothing.
type progress struct {
	bar   *progressbar.ProgressBar
	what  string
	total int
}

func newProgress(w io.Writer, what string) *progress {
	bar := progressbar.NewOptions(-1, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("docs"), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSpinnerType(14), progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }))
	return &progress{bar: bar, what: what, total: -1}
}

// update shows the counts; total < 0 while it is not known yet.
func (p *progress) update(total, sent, indexed, persisted, failed int) {
	if p == nil {
		return
	}
	if total != p.total && total >= 0 {
		p.total = total
		p.bar.ChangeMax(total)
	}
	desc := fmt.Sprintf("%s: sent %d, indexed %d, persisted", p.what, sent, indexed)
	if failed > 0 {
		desc = fmt.Sprintf("%s: sent %d, indexed %d, failed %d, persisted", p.what, sent, indexed, failed)
	}
	p.bar.Describe(desc)
	_ = p.bar.Set(persisted)
}

// finish ends the bar's line.
func (p *progress) finish() {
	if p == nil {
		return
	}
	if p.total >= 0 && p.bar.State().CurrentNum < int64(p.total) {
		_ = p.bar.Exit()
		return
	}
	_ = p.bar.Finish()
}
