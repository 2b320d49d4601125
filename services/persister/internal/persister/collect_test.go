package persister

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A batch is collected from several fetches up to BatchBytes, and overshoots
// it by at most one fetch: under a backlog, a batch is what the cap says, not
// what one fetch brings.
func TestCollectFillsTheCapFromSeveralFetches(t *testing.T) {
	const topic = "dirty"
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A backlog of 24 incompressible events of 512 KiB: 12 MiB, three
	// fetches' worth.
	const events, size = 24, 512 << 10
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(2<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := 0; i < events; i++ {
		v := make([]byte, size)
		_, _ = rand.Read(v)
		if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte("docs/0"), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, fetchOptions()...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cfg := Config{BatchEvents: 2048, BatchBytes: 6 << 20, Linger: time.Second}
	p := &Persister{cfg: cfg, client: cl, log: zerolog.Nop()}

	var got []int
	total := 0
	for total < events*size {
		b, closed := p.collect(ctx)
		if closed {
			t.Fatalf("collect closed after %d of %d bytes", total, events*size)
		}
		n := 0
		for i, r := range b.recs {
			if b.errs[i] == nil { // random bytes are no event: kept for the dead-letter topic
				t.Fatalf("record %d decoded", i)
			}
			n += len(r.Value)
		}
		got = append(got, n)
		total += n
	}
	// First batch: the cap reached, from more than one fetch, and not
	// overshot by more than one fetch (plus one producer batch, which a
	// fetch returns whole).
	if first := got[0]; first < cfg.BatchBytes || first <= fetchBytes || first > cfg.BatchBytes+fetchBytes+2<<20 {
		t.Fatalf("first batch %d bytes (batches %v): want at least the cap (%d) and more than one fetch (%d), overshooting by at most a fetch",
			first, got, cfg.BatchBytes, fetchBytes)
	}
	if len(got) < 2 {
		t.Fatalf("batches %v: the backlog of %d bytes fit one batch of cap %d", got, events*size, cfg.BatchBytes)
	}
}
