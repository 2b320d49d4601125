// Package topic names Termflow's Kafka topics, states the settings each one
// needs, and creates or checks them at start-up.
package topic

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config names the topics. The zero value is not valid; use Defaults.
type Config struct {
	// Documents is the documents topic. The default value is "termflow.documents".
	Documents string
	// DocumentsPartitions is the partition count the documents topic is
	// created with. The default value is 12.
	DocumentsPartitions int
	// DirtyTerms is the single-partition dirty-terms topic. The default
	// value is "termflow.dirty-terms".
	DirtyTerms string
	// BulkOps is the compacted bulk-operation state topic. The default value
	// is "termflow.bulk-ops".
	BulkOps string
	// Progress carries operation progress to the state writer. The default
	// value is "termflow.progress".
	Progress string
	// DeadLetter receives documents-topic records that cannot be indexed.
	// The default value is "termflow.documents.dlq".
	DeadLetter string
	// ReplicationFactor for created topics; -1 takes the broker's default.
	// The default value is -1.
	ReplicationFactor int16
}

// Defaults returns the default topic configuration.
func Defaults() Config {
	return Config{
		Documents:           "termflow.documents",
		DocumentsPartitions: 12,
		DirtyTerms:          "termflow.dirty-terms",
		BulkOps:             "termflow.bulk-ops",
		Progress:            "termflow.progress",
		DeadLetter:          "termflow.documents.dlq",
		ReplicationFactor:   -1,
	}
}

// Validate checks the names and counts.
func (c Config) Validate() error {
	names := map[string]string{"documents": c.Documents, "dirty-terms": c.DirtyTerms, "bulk-ops": c.BulkOps,
		"progress": c.Progress, "dead-letter": c.DeadLetter}
	seen := map[string]string{}
	for role, n := range names {
		if n == "" {
			return fmt.Errorf("topic %s: empty name", role)
		}
		if other, dup := seen[n]; dup {
			return fmt.Errorf("topics %s and %s share the name %q", role, other, n)
		}
		seen[n] = role
	}
	if c.DocumentsPartitions < 1 {
		return fmt.Errorf("documents partitions %d: want at least 1", c.DocumentsPartitions)
	}
	return nil
}

// Record size limits (max.message.bytes, which bounds a record batch as the
// broker stores it). A poison record must reach the indexer to be
// dead-lettered, so the documents topic takes records far larger than the
// indexer indexes (its MaxDocumentBytes, 1 MiB by default); the dead-letter
// topic must take such a record back with its dlq headers added; and the
// topics the indexer and the persister produce to must take a whole producer
// batch (franz-go caps those at ProducerBatchMaxBytes, which must stay below
// ProducedMaxMessageBytes).
const (
	// DocumentsMaxMessageBytes is the documents topic's limit: 16 MiB.
	DocumentsMaxMessageBytes = 16 << 20
	// ProducedMaxMessageBytes is the limit of the dirty-terms, progress and
	// dead-letter topics: 64 MiB.
	ProducedMaxMessageBytes = 64 << 20
	// BulkOpsMaxMessageBytes is the bulk-ops topic's limit: 10 MiB.
	BulkOpsMaxMessageBytes = 10 << 20
)

// Spec is what a topic must be.
type Spec struct {
	Name       string
	Partitions int32
	// ExactPartitions makes a different partition count on an existing
	// topic an error.
	ExactPartitions bool
	// Configs are set at creation; the ones in Required must also hold on
	// an existing topic.
	Configs  map[string]string
	Required []string
}

// DocumentsSpec is the spec of the documents topic: compacted, because it is
// the changelog indexers rebuild from (the latest version of every key is
// kept), and taking records up to DocumentsMaxMessageBytes.
func (c Config) DocumentsSpec() Spec {
	return Spec{Name: c.Documents, Partitions: int32(c.DocumentsPartitions),
		Configs:  map[string]string{"cleanup.policy": "compact", "max.message.bytes": strconv.Itoa(DocumentsMaxMessageBytes)},
		Required: []string{"cleanup.policy"}}
}

// DirtyTermsSpec is the spec of the dirty-terms topic: one partition (one
// total order for the single persister), lz4-compressed like the indexer's
// batches (a topic created as zstd before keeps zstd, and the broker then
// recompresses the indexer's batches: alter it with
// `kafka-configs --alter --entity-type topics --entity-name termflow.dirty-terms --add-config compression.type=lz4`).
func (c Config) DirtyTermsSpec() Spec {
	return Spec{Name: c.DirtyTerms, Partitions: 1, ExactPartitions: true,
		Configs: map[string]string{"compression.type": "lz4", "max.message.bytes": strconv.Itoa(ProducedMaxMessageBytes)}}
}

// BulkOpsSpec is the spec of the compacted bulk-operation state topic.
func (c Config) BulkOpsSpec() Spec {
	return Spec{Name: c.BulkOps, Partitions: 1, ExactPartitions: true,
		Configs:  map[string]string{"cleanup.policy": "compact", "max.message.bytes": strconv.Itoa(BulkOpsMaxMessageBytes)},
		Required: []string{"cleanup.policy"}}
}

// ProgressSpec is the spec of the progress topic. Its records are small, but
// a producer batch of them must not trip the broker's 1 MiB default.
func (c Config) ProgressSpec() Spec {
	return Spec{Name: c.Progress, Partitions: 1,
		Configs: map[string]string{"compression.type": "zstd", "max.message.bytes": strconv.Itoa(ProducedMaxMessageBytes)}}
}

// DeadLetterSpec is the spec of the documents dead-letter topic: it takes
// any documents-topic record back with the dlq headers added, several to a
// producer batch.
func (c Config) DeadLetterSpec() Spec {
	return Spec{Name: c.DeadLetter, Partitions: 1,
		Configs: map[string]string{"max.message.bytes": strconv.Itoa(ProducedMaxMessageBytes)}}
}

// All returns every topic's spec.
func (c Config) All() []Spec {
	return []Spec{c.DocumentsSpec(), c.DirtyTermsSpec(), c.BulkOpsSpec(), c.ProgressSpec(), c.DeadLetterSpec()}
}

// Ensure creates the missing topics and checks the existing ones against
// their specs. Creating a topic that another service created a moment
// earlier is not an error.
func Ensure(ctx context.Context, adm *kadm.Client, rf int16, specs ...Spec) error {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for _, s := range specs {
		if d, ok := details[s.Name]; ok && d.Err == nil {
			continue
		}
		cfg := map[string]*string{}
		for k, v := range s.Configs {
			cfg[k] = kadm.StringPtr(v)
		}
		resp, err := adm.CreateTopic(ctx, s.Partitions, rf, cfg, s.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %q: %w", s.Name, err)
		}
	}
	// The client caches metadata and would still report the topics it just
	// created as unknown; asking for authorized operations bypasses the cache.
	// The broker itself may answer from metadata that does not have a topic
	// created a moment ago yet (KRaft propagates it asynchronously), so a
	// missing topic is asked for again for a while.
	deadline := time.Now().Add(10 * time.Second)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		details, err = adm.ListTopics(kadm.WithAuthorizedOps(ctx), names...)
		if err != nil {
			return fmt.Errorf("list topics: %w", err)
		}
		missing := false
		for _, s := range specs {
			if d, ok := details[s.Name]; !ok || d.Err != nil {
				missing = true
			}
		}
		if !missing || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("list topics: %w", ctx.Err())
		case <-time.After(wait):
		}
	}
	var errs []error
	var withRequired []string
	for _, s := range specs {
		d, ok := details[s.Name]
		if !ok || d.Err != nil {
			errs = append(errs, fmt.Errorf("topic %q does not exist after creation", s.Name))
			continue
		}
		if n := int32(len(d.Partitions)); s.ExactPartitions && n != s.Partitions {
			errs = append(errs, fmt.Errorf("topic %q has %d partitions but must have exactly %d; delete it or configure another name", s.Name, n, s.Partitions))
		}
		if len(s.Required) > 0 {
			withRequired = append(withRequired, s.Name)
		}
	}
	if len(withRequired) > 0 {
		rcs, err := adm.DescribeTopicConfigs(ctx, withRequired...)
		if err != nil {
			return fmt.Errorf("describe topic configs: %w", err)
		}
		for _, s := range specs {
			if len(s.Required) == 0 {
				continue
			}
			rc, err := rcs.On(s.Name, nil)
			if err == nil {
				err = rc.Err
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("describe topic %q: %w", s.Name, err))
				continue
			}
			for _, key := range s.Required {
				want := s.Configs[key]
				got := ""
				for _, c := range rc.Configs {
					if c.Key == key {
						got = c.MaybeValue()
					}
				}
				if !strings.Contains(got, want) {
					errs = append(errs, fmt.Errorf("topic %q has %s=%q but needs %q; fix it with kafka-configs or configure another name", s.Name, key, got, want))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// flagSet is what Bind needs of a flag set (pkg/flagenv.Set).
type flagSet interface {
	String(p *string, name, env, def, usage string)
	Int(p *int, name, env string, def int, usage string)
}

// Bind adds the topic flags, with their environment variables, to fs; c
// holds the defaults.
func Bind(fs flagSet, c *Config) {
	fs.String(&c.Documents, "topic-documents", "TERMFLOW_TOPIC_DOCUMENTS", c.Documents, "documents topic")
	fs.Int(&c.DocumentsPartitions, "documents-partitions", "TERMFLOW_DOCUMENTS_PARTITIONS", c.DocumentsPartitions, "partitions of the documents topic when it is created")
	fs.String(&c.DirtyTerms, "topic-dirty-terms", "TERMFLOW_TOPIC_DIRTY_TERMS", c.DirtyTerms, "dirty-terms topic (exactly one partition)")
	fs.String(&c.BulkOps, "topic-bulk-ops", "TERMFLOW_TOPIC_BULK_OPS", c.BulkOps, "compacted bulk-operation state topic")
	fs.String(&c.Progress, "topic-progress", "TERMFLOW_TOPIC_PROGRESS", c.Progress, "operation progress topic")
	fs.String(&c.DeadLetter, "topic-dead-letter", "TERMFLOW_TOPIC_DEAD_LETTER", c.DeadLetter, "dead-letter topic for documents that cannot be indexed")
}

// EnsureAll connects with opts (pkg/kclient.Options), ensures every topic of
// c, and disconnects. Services call it at start-up.
func EnsureAll(ctx context.Context, c Config, opts ...kgo.Opt) error {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	return Ensure(ctx, kadm.NewClient(cl), c.ReplicationFactor, c.All()...)
}
