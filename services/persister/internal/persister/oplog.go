package persister

import (
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/dirtyterms"
	"github.com/termflow/termflow/pkg/mongostore"
)

// logOperations logs one line per operation whose documents a persisted
// poll made durable, keyed like the other services' lines (operation,
// index, topic, partition, offset: the dirty-terms event's), so that one
// operation can be followed across ingest, the indexers and the persister
// with grep or jq. The index is named when the event's records are all of
// one index (an operation writes to one index; an event may mix several).
func (p *Persister) logOperations(items []mongostore.Item, part int32) {
	for _, it := range items {
		if len(it.Event.Progress) == 0 {
			continue
		}
		index := eventIndex(it.Event)
		for _, m := range it.Event.Progress {
			n := 0
			for _, r := range m.Seqs {
				n += r[1] - r[0] + 1
			}
			p.log.Info().Str("operation", m.Operation).Str("index", index).Str("topic", p.cfg.Topics.DirtyTerms).
				Int32("partition", part).Int64("offset", it.Offset).Int("documents", n).Msg("operation documents persisted")
		}
	}
}

func eventIndex(ev *dirtyterms.Event) string {
	index := ""
	for i, r := range ev.Records {
		if i == 0 {
			index = r.Index
		} else if r.Index != index {
			return ""
		}
	}
	return index
}

// partitionOf is the partition of a poll's records (the dirty-terms topic
// has one).
func partitionOf(recs []*kgo.Record) int32 {
	if len(recs) == 0 {
		return 0
	}
	return recs[0].Partition
}
