package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Topics are the stack's Kafka topics.
func (s *Stack) Topics() []string {
	var out []string
	for _, t := range []string{"documents", "dirty-terms", "bulk-ops", "progress", "dlq"} {
		out = append(out, s.ID+"."+t)
	}
	return out
}

// Drop deletes what the stack left behind on the shared infrastructure: its
// topics, consumer groups and MongoDB database. Call it after Stop.
func (s *Stack) Drop(ctx context.Context) error {
	var errs []error
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(s.cfg.Brokers, ",")...))
	if err != nil {
		return err
	}
	adm := kadm.NewClient(cl)
	resp, err := adm.DeleteTopics(ctx, s.Topics()...)
	if err == nil {
		for _, r := range resp.Sorted() {
			if r.Err != nil {
				errs = append(errs, fmt.Errorf("delete topic %s: %w", r.Topic, r.Err))
			}
		}
	} else {
		errs = append(errs, fmt.Errorf("delete topics: %w", err))
	}
	groups := []string{s.ID + "-indexer", s.ID + "-persister", s.ID + "-ingest"}
	if _, err := adm.DeleteGroups(ctx, groups...); err != nil {
		errs = append(errs, fmt.Errorf("delete groups: %w", err))
	}
	cl.Close()
	mc, err := mongo.Connect(options.Client().ApplyURI(s.cfg.MongoURI))
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	defer mc.Disconnect(context.Background())
	if err := mc.Database(s.ID).Drop(ctx); err != nil {
		errs = append(errs, fmt.Errorf("drop database %s: %w", s.ID, err))
	}
	return errors.Join(errs...)
}
