package metrics

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestIndexesBounded(t *testing.T) {
	x := NewIndexes(2)
	for _, tc := range []struct{ in, want string }{
		{"a", "a"}, {"b", "b"}, {"c", OtherIndex}, {"a", "a"}, {"d", OtherIndex}, {"b", "b"},
	} {
		if got := x.Label(tc.in); got != tc.want {
			t.Errorf("Label(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func lint(t *testing.T, reg *prometheus.Registry) {
	t.Helper()
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
}

// TestGroupLag consumes part of a topic on kfake and checks that the lag of
// the assigned partitions is exported.
func TestGroupLag(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := range 10 {
		r := &kgo.Record{Topic: "t", Partition: int32(i % 2), Value: []byte(fmt.Sprint(i))}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	reg := prometheus.NewRegistry()
	g := NewGroupLag(reg, "test", cons, "g", "t")
	g.minInterval = 0

	// Commit 2 records of partition 0, none of partition 1.
	var got []*kgo.Record
	for len(got) < 10 {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got = append(got, fs.Records()...)
	}
	var commit []*kgo.Record
	for _, r := range got {
		if r.Partition == 0 && r.Offset == 1 {
			commit = append(commit, r)
		}
	}
	if err := cons.CommitRecords(ctx, commit...); err != nil {
		t.Fatal(err)
	}
	lag, err := g.Lag()
	if err != nil {
		t.Fatal(err)
	}
	if lag[0] != 3 || lag[1] != 5 {
		t.Fatalf("lag %v, want map[0:3 1:5]", lag)
	}
	lint(t, reg)
	if n := testutil.CollectAndCount(reg, "termflow_test_consumer_lag_records"); n != 2 {
		t.Fatalf("%d lag series, want 2", n)
	}
}
