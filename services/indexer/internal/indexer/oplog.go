package indexer

import (
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/termflow/termflow/pkg/document"
	"github.com/termflow/termflow/pkg/progress"
)

// logOperations logs one line per operation a handed-over batch advanced
// (documents indexed, documents failed), keyed like the other services'
// lines (operation, index, topic, partition, offset: the batch's last), so
// that one operation can be followed across ingest, the indexers and the
// persister with grep or jq.
func (ix *Indexer) logOperations(tp string, p int32, recs []*kgo.Record, res *batchResult) {
	if len(res.event.Progress) == 0 && len(res.failed) == 0 {
		return
	}
	index := operationIndexes(recs)
	last := res.event.LastOffset
	for _, m := range res.event.Progress {
		ix.log.Info().Str("operation", m.Operation).Str("index", index[m.Operation]).Str("topic", tp).
			Int32("partition", p).Int64("offset", last).Int("documents", countSeqs(m.Seqs)).Msg("operation documents indexed")
	}
	for op, fs := range res.failed {
		ix.log.Info().Str("operation", op).Str("index", index[op]).Str("topic", tp).
			Int32("partition", p).Int64("offset", last).Int("documents", len(fs)).Msg("operation documents failed")
	}
}

// operationIndexes maps the operations of recs to their index (the key's
// prefix; an operation writes to one index).
func operationIndexes(recs []*kgo.Record) map[string]string {
	out := map[string]string{}
	for _, r := range recs {
		op, _, ok := operationOf(r)
		if !ok {
			continue
		}
		if _, seen := out[op]; seen {
			continue
		}
		if index, _, err := document.ParseKey(r.Key); err == nil {
			out[op] = index
		}
	}
	return out
}

func countSeqs(rs progress.Ranges) int {
	n := 0
	for _, r := range rs {
		n += r[1] - r[0] + 1
	}
	return n
}
