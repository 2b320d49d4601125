//go:build integration

package indexer

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/topic"
)

// TestStaticMemberRestartAndLeaveOnKafka runs the static membership scenario
// on the real broker (TERMFLOW_TEST_KAFKA_BROKERS): kfake's group
// coordinator is not Kafka's, and KIP-345's behaviour is what the indexer
// relies on for fast restarts.
func TestStaticMemberRestartAndLeaveOnKafka(t *testing.T) {
	brokers := os.Getenv("TERMFLOW_TEST_KAFKA_BROKERS")
	if brokers == "" {
		t.Fatal("TERMFLOW_TEST_KAFKA_BROKERS must be set: run `make test`, which starts the real broker")
	}
	id := fmt.Sprintf("static%d", time.Now().UnixNano()%1e12)
	topics := topic.Config{Documents: id + ".documents", DocumentsPartitions: 4, DirtyTerms: id + ".dirty-terms",
		BulkOps: id + ".bulk-ops", Progress: id + ".progress", DeadLetter: id + ".dlq", ReplicationFactor: -1}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if err := topic.Ensure(ctx, adm, -1, topics.All()...); err != nil {
		t.Fatal(err)
	}
	defer adm.DeleteTopics(context.Background(), topics.Documents, topics.DirtyTerms, topics.BulkOps, topics.Progress, topics.DeadLetter)
	tc := &testCluster{t: t, topics: topics, brokers: brokers, adm: adm, logs: &syncBuffer{}}
	tc.showLogs()
	staticRestartAndLeave(tc, id)
}
