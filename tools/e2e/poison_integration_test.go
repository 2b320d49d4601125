//go:build integration

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Scenario 8 of issue 3: poison records on the documents topic go to the
// dead-letter topic with their reason and source position, and never stall
// their partition.

// startWith starts a service with extra environment variables (later
// entries of an environment win).
func (s *stack) startWith(name string, env ...string) {
	s.t.Helper()
	saved := s.extraEnv[name]
	s.extraEnv[name] = append(append([]string(nil), saved...), env...)
	defer func() { s.extraEnv[name] = saved }()
	s.start(name)
}

// kafkaClient is a client of the test broker; opts add to the seed brokers.
func (s *stack) kafkaClient(opts ...kgo.Opt) *kgo.Client {
	s.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(strings.Split(s.brokers, ",")...)}, opts...)...)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(cl.Close)
	return cl
}

// deadLetters reads the dead-letter topic until want records arrived (or
// timeout) and returns them keyed by their source "partition/offset".
func (s *stack) deadLetters(want int, timeout time.Duration) map[string]*kgo.Record {
	s.t.Helper()
	cl := s.kafkaClient(kgo.ConsumeTopics(s.db+".dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(64<<20))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out := map[string]*kgo.Record{}
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			s.t.Fatalf("%d of %d dead letters after %v\nindexer:\n%s", len(out), want, timeout, s.logTail("indexer"))
		}
		fs.EachError(func(t string, p int32, err error) { s.t.Logf("dlq fetch %s/%d: %v", t, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			h := headers(r)
			key := h["termflow-dlq-partition"] + "/" + h["termflow-dlq-offset"]
			if _, dup := out[key]; dup {
				s.t.Errorf("source record %s dead-lettered twice", key)
			}
			out[key] = r
		})
	}
	return out
}

func headers(r *kgo.Record) map[string]string {
	h := map[string]string{}
	for _, x := range r.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}

// waitStatus polls an operation until it is terminal.
func (s *stack) waitTerminal(op string, timeout time.Duration) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, m := s.do("GET", "/bulk-operations/"+op+"?wait=completed&timeout=20s", "", nil)
		if code == 200 {
			switch m["status"] {
			case "completed", "partially_completed", "failed":
				return m
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("operation %s not terminal in %v: %d %v\nindexer:\n%s", op, timeout, code, m, s.logTail("indexer"))
		}
	}
}

// waitSearch waits until a search finds total hits.
func (s *stack) waitSearch(index, q string, total int, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, res := s.do("GET", "/indexes/"+index+"/search?q="+q, "", nil)
		if code == 200 && num(res["total"]) == total {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("search %s %q: %d %v, want %d hits\nindexer:\n%s", index, q, code, res, total, s.logTail("indexer"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func TestPoisonRecordsAreDeadLetteredAndPartitionsKeepFlowing(t *testing.T) {
	start := time.Now()
	s := newStack(t)
	s.start("persister")
	s.start("indexer")
	// Ingest takes documents up to 4 MiB; the indexer only up to its 1 MiB
	// default, so a 2 MB document of an operation is accepted (202) and then
	// dead-lettered by the indexer.
	s.startWith("ingest", "TERMFLOW_MAX_DOCUMENT_BYTES="+strconv.Itoa(4<<20), "TERMFLOW_MAX_STRING_BYTES="+strconv.Itoa(4<<20))

	// Straight to the documents topic, on each of its 4 partitions: valid
	// documents with every kind of poison record between them.
	big := fmt.Sprintf(`{"v":1,"index":"poison","id":"big","doc":{"t":"%s"}}`, strings.Repeat("huge ", 1<<20)) // 5 MiB
	poisons := []struct {
		name, value, reason string
		partitions          int // the kind goes to partitions [0, partitions)
	}{
		{"bad-json", `{"v":1,"index":"poison","id":"x","doc":{"t":`, "invalid JSON", 4},
		{"no-id", `{"v":1,"index":"poison","doc":{"t":"no id here"}}`, "missing id", 4},
		{"big", big, "over the 1048576-byte limit", 2},
		{"bad-utf8", "{\"v\":1,\"index\":\"poison\",\"id\":\"u\",\"doc\":{\"t\":\"bad \xff\xfe bytes\"}}", "not valid UTF-8", 4},
		{"v2", `{"v":2,"index":"poison","id":"v2","doc":{"t":"from the future"}}`, "unsupported schema version 2", 4},
	}
	producer := s.kafkaClient(kgo.DefaultProduceTopic(s.docTopic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(16<<20), kgo.RequiredAcks(kgo.AllISRAcks()))
	type poison struct{ name, reason, value string }
	want := map[string]poison{} // "partition/offset" → the poison record there
	valid := 0
	for p := int32(0); p < 4; p++ {
		var recs []*kgo.Record
		ok := func() {
			id := fmt.Sprintf("ok-%d-%d", p, valid)
			recs = append(recs, &kgo.Record{Partition: p, Key: []byte("poison/" + id),
				Value: fmt.Appendf(nil, `{"v":1,"index":"poison","id":%q,"doc":{"t":"survivor of partition %d"}}`, id, p)})
			valid++
		}
		ok()
		for _, k := range poisons {
			if int(p) >= k.partitions {
				continue
			}
			recs = append(recs, &kgo.Record{Partition: p, Key: []byte(fmt.Sprintf("poison/%s-%d", k.name, p)), Value: []byte(k.value)})
			ok()
		}
		// Produced one at a time, so the records after a poison one sit in
		// later batches too, not only in the poison record's own.
		for _, r := range recs {
			if err := producer.ProduceSync(context.Background(), r).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", r.Key, err)
			}
			for _, k := range poisons {
				if string(r.Key) == fmt.Sprintf("poison/%s-%d", k.name, p) {
					want[fmt.Sprintf("%d/%d", r.Partition, r.Offset)] = poison{k.name, k.reason, k.value}
				}
			}
		}
	}

	// The partitions kept flowing: every valid document is searchable.
	s.waitSearch("poison", "survivor", valid, 3*time.Minute)

	got := s.deadLetters(len(want), 2*time.Minute)
	for key, w := range want {
		r := got[key]
		if r == nil {
			t.Errorf("%s record at %s not dead-lettered", w.name, key)
			continue
		}
		h := headers(r)
		if h["termflow-dlq-stage"] != "indexer" || h["termflow-dlq-topic"] != s.docTopic ||
			!strings.Contains(h["termflow-dlq-reason"], w.reason) {
			t.Errorf("%s record at %s: dlq headers %v, want stage indexer, topic %s, reason with %q", w.name, key, h, s.docTopic, w.reason)
		}
		if string(r.Value) != w.value {
			t.Errorf("%s record at %s: dead letter holds %d bytes, not the %d of the source record", w.name, key, len(r.Value), len(w.value))
		}
		if !strings.HasPrefix(string(r.Key), "poison/"+w.name+"-") {
			t.Errorf("%s record at %s: dead letter key %q", w.name, key, r.Key)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d dead letters, want %d", len(got), len(want))
	}

	// A real operation: the 2 MB document passes ingest and is dead-lettered
	// by the indexer; the operation ends partially_completed and lists it.
	docs := []map[string]any{
		{"id": "first", "t": "operation survivor"},
		{"id": "large", "t": strings.Repeat("large ", 2<<20/6)},
		{"id": "last", "t": "operation survivor too"},
	}
	op := s.bulk("opdocs", docs)
	st := s.waitTerminal(op, 3*time.Minute)
	if st["status"] != "partially_completed" || num(st["totalDocuments"]) != 3 || num(st["failedBatches"]) != 1 {
		t.Fatalf("operation %v", st)
	}
	code, body := s.do("GET", "/bulk-operations/"+op+"/errors", "", nil)
	var errs []struct {
		Seq       int    `json:"seq"`
		ID        string `json:"id"`
		Reason    string `json:"reason"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
	}
	raw, _ := json.Marshal(body["errors"])
	if err := json.Unmarshal(raw, &errs); code != 200 || err != nil || len(errs) != 1 {
		t.Fatalf("errors: %d %v (%v)", code, body, err)
	}
	e := errs[0]
	if e.Seq != 1 || e.ID != "large" || !strings.Contains(e.Reason, "over the 1048576-byte limit") {
		t.Errorf("error %+v", e)
	}
	// Its partition and offset are those of the dead letter of that record.
	dl := s.deadLetters(len(want)+1, time.Minute)[fmt.Sprintf("%d/%d", e.Partition, e.Offset)]
	if dl == nil {
		t.Fatalf("no dead letter at %d/%d", e.Partition, e.Offset)
	}
	if h := headers(dl); h["termflow-operation"] != op || h["termflow-seq"] != "1" || string(dl.Key) != "opdocs/large" {
		t.Errorf("dead letter at %d/%d: key %q headers %v", e.Partition, e.Offset, dl.Key, h)
	}
	s.waitSearch("opdocs", "survivor", 2, time.Minute)
	t.Logf("%d poison records and %d valid documents in %v", len(want)+1, valid+2, time.Since(start).Round(time.Second))
}
