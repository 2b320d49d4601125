package command

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/flagenv"
	"github.com/termflow/termflow/pkg/kclient"
	"github.com/termflow/termflow/pkg/topic"
)

// Headers the indexer and the persister put on a dead letter.
const (
	headerDLQPrefix    = "termflow-dlq-"
	headerDLQStage     = "termflow-dlq-stage"
	headerDLQReason    = "termflow-dlq-reason"
	headerDLQTopic     = "termflow-dlq-topic"
	headerDLQPartition = "termflow-dlq-partition"
	headerDLQOffset    = "termflow-dlq-offset"
)

func dlqCommand() Command {
	return Command{
		Name:    "dlq",
		Summary: "dead-lettered records: dlq list | dlq redrive (--all | PARTITION:OFFSET...)",
		Run:     runDLQ,
	}
}

const dlqUsage = `usage: termflowctl dlq <list|redrive> [flags]

  dlq list                                  the dead-lettered records, oldest first
  dlq redrive (--all | PARTITION:OFFSET...)  produce dead letters back to the topic they came from

Dead letters carry termflow-dlq-stage (indexer or persister), -reason,
-topic, -partition and -offset headers; redrive produces the original key,
value and headers (without the termflow-dlq- ones) to the original topic,
for instance after the cause was fixed (a raised -max-document-bytes).
`

func runDLQ(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, dlqUsage)
		return errors.New("missing dlq subcommand")
	}
	switch args[0] {
	case "list", "ls":
		return runDLQList(ctx, args[1:], env)
	case "redrive":
		return runDLQRedrive(ctx, args[1:], env)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(env.Stdout, dlqUsage)
		return nil
	}
	fmt.Fprint(env.Stderr, dlqUsage)
	return fmt.Errorf("unknown dlq subcommand %q", args[0])
}

// kafkaFlags are the flags of the subcommands that read the dead-letter topic.
type kafkaFlags struct {
	brokers string
	topic   string
	stage   string
	json    bool
	timeout time.Duration
	kafka   kclient.Config // SASL and TLS
}

func (f *kafkaFlags) register(fs *flagenv.Set) {
	fs.String(&f.brokers, "brokers", "KAFKA_BROKERS", "127.0.0.1:9092", "Kafka seed brokers, comma separated")
	kclient.SecurityFlags(fs, &f.kafka)
	fs.String(&f.topic, "topic", "TERMFLOW_TOPIC_DEAD_LETTER", topic.Defaults().DeadLetter, "dead-letter topic")
	fs.StringVar(&f.stage, "stage", "", "only dead letters of this stage (indexer or persister)")
	fs.BoolVar(&f.json, "json", false, "print JSON for machines")
	fs.DurationVar(&f.timeout, "timeout", time.Minute, "give up after this long")
}

func (f *kafkaFlags) client(extra ...kgo.Opt) (*kgo.Client, error) {
	kc := f.kafka
	kc.Brokers = f.brokers
	if err := kc.Validate(); err != nil {
		return nil, err
	}
	return kgo.NewClient(append(kclient.Options(kc, "termflowctl", zerolog.Nop(), nil), extra...)...)
}

// deadLetter is one record of the dead-letter topic.
type deadLetter struct {
	DLQPartition int32     `json:"dlqPartition"`
	DLQOffset    int64     `json:"dlqOffset"`
	Timestamp    time.Time `json:"timestamp"`
	Stage        string    `json:"stage"`
	Reason       string    `json:"reason"`
	Topic        string    `json:"topic"`
	Partition    int32     `json:"partition"`
	Offset       int64     `json:"offset"`
	Key          string    `json:"key"`
	Value        string    `json:"value"`
	Tombstone    bool      `json:"tombstone,omitempty"`
	rec          *kgo.Record
}

func decodeDeadLetter(r *kgo.Record) deadLetter {
	d := deadLetter{DLQPartition: r.Partition, DLQOffset: r.Offset, Timestamp: r.Timestamp, Partition: -1, Offset: -1,
		Key: string(r.Key), Value: string(r.Value), Tombstone: r.Value == nil, rec: r}
	if !utf8.Valid(r.Value) {
		d.Value = strconv.Quote(string(r.Value))
	}
	for _, h := range r.Headers {
		v := string(h.Value)
		switch h.Key {
		case headerDLQStage:
			d.Stage = v
		case headerDLQReason:
			d.Reason = v
		case headerDLQTopic:
			d.Topic = v
		case headerDLQPartition:
			if n, err := strconv.ParseInt(v, 10, 32); err == nil {
				d.Partition = int32(n)
			}
		case headerDLQOffset:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				d.Offset = n
			}
		}
	}
	return d
}

// readDLQ reads every partition of the dead-letter topic from its start to
// its end offsets at the time of the call, and calls fn for each record
// (of the wanted stage) in partition and offset order until fn returns
// false.
func readDLQ(ctx context.Context, f kafkaFlags, fn func(deadLetter) bool) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, f.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("list end offsets of %s: %w", f.topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, f.topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("list start offsets of %s: %w", f.topic, err)
	}
	want := map[int32]int64{}
	assign := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && o.Offset > s.Offset {
			want[o.Partition] = o.Offset
			assign[o.Partition] = kgo.NewOffset().At(s.Offset)
		}
	})
	if len(want) == 0 {
		return nil
	}
	rd, err := f.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{f.topic: assign}))
	if err != nil {
		return err
	}
	defer rd.Close()
	// Collected per partition, then handed out in partition order.
	got := map[int32][]deadLetter{}
	for len(want) > 0 {
		fetches := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s: %w", f.topic, err)
		}
		var ferr error
		fetches.EachError(func(_ string, p int32, err error) { ferr = fmt.Errorf("read %s partition %d: %w", f.topic, p, err) })
		if ferr != nil {
			return ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			got[r.Partition] = append(got[r.Partition], decodeDeadLetter(r))
			if r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	parts := make([]int32, 0, len(got))
	for p := range got {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	for _, p := range parts {
		for _, d := range got[p] {
			if f.stage != "" && d.Stage != f.stage {
				continue
			}
			if !fn(d) {
				return nil
			}
		}
	}
	return nil
}

func runDLQList(ctx context.Context, args []string, env Env) error {
	var (
		kf    kafkaFlags
		limit int
	)
	fs := newFlags("dlq list", "usage: termflowctl dlq list [flags]\n\nLists the dead-lettered records (up to the topic's end when the command starts).\n", env)
	kf.register(fs)
	fs.IntVar(&limit, "limit", 100, "at most this many records (0: all)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos, 0, "no arguments"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, kf.timeout)
	defer cancel()
	var out []deadLetter
	total := 0
	err = readDLQ(ctx, kf, func(d deadLetter) bool {
		total++
		if limit <= 0 || len(out) < limit {
			out = append(out, d)
		}
		return true
	})
	if err != nil {
		return err
	}
	if kf.json {
		if out == nil {
			out = []deadLetter{}
		}
		return writeJSON(env.Stdout, struct {
			Topic   string       `json:"topic"`
			Total   int          `json:"total"`
			Records []deadLetter `json:"records"`
		}{kf.topic, total, out})
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DLQ\tSTAGE\tFROM\tKEY\tREASON")
	for _, d := range out {
		fmt.Fprintf(tw, "%d:%d\t%s\t%s/%d@%d\t%s\t%s\n", d.DLQPartition, d.DLQOffset, d.Stage, d.Topic, d.Partition, d.Offset,
			truncate(d.Key, 40), truncate(d.Reason, 100))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%d dead letters in %s", total, kf.topic)
	if total > len(out) {
		fmt.Fprintf(env.Stdout, " (%d shown; --limit 0 lists all)", len(out))
	}
	fmt.Fprintln(env.Stdout)
	return nil
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// dlqPos is a dead letter's position, PARTITION:OFFSET.
type dlqPos struct {
	p int32
	o int64
}

func parseDLQPos(s string) (dlqPos, error) {
	ps, os, ok := strings.Cut(s, ":")
	p, err1 := strconv.ParseInt(ps, 10, 32)
	o, err2 := strconv.ParseInt(os, 10, 64)
	if !ok || err1 != nil || err2 != nil || p < 0 || o < 0 {
		return dlqPos{}, fmt.Errorf("%q: want PARTITION:OFFSET of the dead-letter topic (see dlq list)", s)
	}
	return dlqPos{int32(p), o}, nil
}

// redriven is one record produced back (--json).
type redriven struct {
	DLQPartition int32  `json:"dlqPartition"`
	DLQOffset    int64  `json:"dlqOffset"`
	Topic        string `json:"topic"`
	Partition    int32  `json:"partition"` // of the produced record
	Offset       int64  `json:"offset"`
	Key          string `json:"key"`
}

func runDLQRedrive(ctx context.Context, args []string, env Env) error {
	var (
		kf     kafkaFlags
		all    bool
		dryRun bool
	)
	fs := newFlags("dlq redrive", `usage: termflowctl dlq redrive [flags] (--all | PARTITION:OFFSET...)

Produces dead letters back to the topic they came from (termflow-dlq-topic),
with their original key, value and headers, without the termflow-dlq- ones.
Select them with --all (and --stage) or by their positions in the
dead-letter topic, as dlq list shows them. A record that still cannot be
processed is dead-lettered again.
`, env)
	kf.register(fs)
	fs.BoolVar(&all, "all", false, "redrive every dead letter (of --stage, if given)")
	fs.BoolVar(&dryRun, "dry-run", false, "list what would be redriven, produce nothing")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	want := map[dlqPos]bool{}
	for _, s := range pos {
		p, err := parseDLQPos(s)
		if err != nil {
			return err
		}
		want[p] = true
	}
	if all == (len(want) > 0) {
		fs.Usage()
		return errors.New("give either --all or PARTITION:OFFSET positions")
	}
	ctx, cancel := context.WithTimeout(ctx, kf.timeout)
	defer cancel()
	var sel []deadLetter
	err = readDLQ(ctx, kf, func(d deadLetter) bool {
		k := dlqPos{d.DLQPartition, d.DLQOffset}
		if all || want[k] {
			sel = append(sel, d)
			delete(want, k)
		}
		return true
	})
	if err != nil {
		return err
	}
	if len(want) > 0 {
		var missing []string
		for p := range want {
			missing = append(missing, fmt.Sprintf("%d:%d", p.p, p.o))
		}
		return fmt.Errorf("no dead letter at %s in %s", strings.Join(missing, ", "), kf.topic)
	}
	var recs []*kgo.Record
	for _, d := range sel {
		if d.Topic == "" {
			return fmt.Errorf("dead letter %d:%d has no %s header: cannot tell where it came from", d.DLQPartition, d.DLQOffset, headerDLQTopic)
		}
		r := &kgo.Record{Topic: d.Topic, Key: d.rec.Key, Value: d.rec.Value}
		for _, h := range d.rec.Headers {
			if !strings.HasPrefix(h.Key, headerDLQPrefix) {
				r.Headers = append(r.Headers, h)
			}
		}
		recs = append(recs, r)
	}
	out := make([]redriven, len(sel))
	if !dryRun && len(recs) > 0 {
		cl, err := kf.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
		if err != nil {
			return err
		}
		defer cl.Close()
		// Produced in dead-letter order; the idempotent producer keeps that
		// order per partition.
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("redrive: %w", err)
		}
	}
	for i, d := range sel {
		out[i] = redriven{DLQPartition: d.DLQPartition, DLQOffset: d.DLQOffset, Topic: d.Topic, Partition: -1, Offset: -1, Key: d.Key}
		if !dryRun {
			out[i].Partition, out[i].Offset = recs[i].Partition, recs[i].Offset
		}
	}
	if kf.json {
		return writeJSON(env.Stdout, struct {
			DryRun   bool       `json:"dryRun"`
			Count    int        `json:"count"`
			Redriven []redriven `json:"redriven"`
		}{dryRun, len(out), out})
	}
	for _, r := range out {
		if dryRun {
			fmt.Fprintf(env.Stdout, "would redrive %d:%d to %s (key %s)\n", r.DLQPartition, r.DLQOffset, r.Topic, r.Key)
		} else {
			fmt.Fprintf(env.Stdout, "redrove %d:%d to %s/%d@%d (key %s)\n", r.DLQPartition, r.DLQOffset, r.Topic, r.Partition, r.Offset, r.Key)
		}
	}
	verb := "redrove"
	if dryRun {
		verb = "would redrive"
	}
	fmt.Fprintf(env.Stdout, "%s %d dead letters\n", verb, len(out))
	return nil
}
