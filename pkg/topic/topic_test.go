package topic

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRecordLimits: every topic states its max.message.bytes (the broker's
// 1 MiB default would reject a large batch), and a dead letter (a documents
// record plus its headers) fits the dead-letter topic.
func TestRecordLimits(t *testing.T) {
	c := Defaults()
	limit := map[string]int{}
	for _, s := range c.All() {
		v, ok := s.Configs["max.message.bytes"]
		if !ok {
			t.Errorf("topic %s: no max.message.bytes", s.Name)
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("topic %s: max.message.bytes %q: %v", s.Name, v, err)
		}
		limit[s.Name] = n
	}
	if got := limit[c.Documents]; got != DocumentsMaxMessageBytes || got < 5<<20 {
		t.Errorf("documents limit %d", got)
	}
	if got := limit[c.DeadLetter]; got < DocumentsMaxMessageBytes+64<<10 {
		t.Errorf("dead-letter limit %d does not take a %d-byte documents record with headers", got, DocumentsMaxMessageBytes)
	}
	for _, name := range []string{c.DirtyTerms, c.Progress, c.DeadLetter} {
		if limit[name] != ProducedMaxMessageBytes {
			t.Errorf("topic %s: limit %d, want %d", name, limit[name], ProducedMaxMessageBytes)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Fatal(err)
	}
	c := Defaults()
	c.DeadLetter = c.Documents
	if c.Validate() == nil {
		t.Fatal("shared name accepted")
	}
	c = Defaults()
	c.DocumentsPartitions = 0
	if c.Validate() == nil {
		t.Fatal("zero partitions accepted")
	}
}

// TestEnsureWaitsForCreatedTopics: a broker may acknowledge CreateTopics
// before its metadata shows the topics (KRaft propagates them
// asynchronously); Ensure asks again instead of failing at start-up.
func TestEnsureWaitsForCreatedTopics(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	late, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	created := make(chan error, 1)
	c.ControlKey(int16(kmsg.CreateTopics), func(req kmsg.Request) (kmsg.Response, error, bool) {
		// Acknowledge now, create 300ms later.
		creq := req.(*kmsg.CreateTopicsRequest)
		resp := creq.ResponseKind().(*kmsg.CreateTopicsResponse)
		for _, tp := range creq.Topics {
			rt := kmsg.NewCreateTopicsResponseTopic()
			rt.Topic = tp.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		go func() {
			time.Sleep(300 * time.Millisecond)
			var errs []error
			for _, tp := range creq.Topics {
				_, err := kadm.NewClient(late).CreateTopic(context.Background(), tp.NumPartitions, -1, nil, tp.Topic)
				errs = append(errs, err)
			}
			created <- errors.Join(errs...)
		}()
		return resp, nil, true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	spec := Spec{Name: "late", Partitions: 2}
	if err := Ensure(ctx, kadm.NewClient(cl), -1, spec); err != nil {
		t.Fatal(err)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
}
