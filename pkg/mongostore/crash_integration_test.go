//go:build integration

package mongostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/termflow/termflow/pkg/analysis"
	"github.com/termflow/termflow/pkg/dirtyterms"
	"github.com/termflow/termflow/pkg/posting"
)

// eventModel builds exact per-record events (as the indexer does) for a
// sequence of puts and deletes of single-field documents.
type eventModel struct {
	docs map[string]string // id → body
	off  int64             // next source offset
}

type change struct {
	id   string
	body string // "" deletes
}

func (m *eventModel) event(changes []change) *dirtyterms.Event {
	ev := &dirtyterms.Event{V: 1, Topic: "docs", Partition: 0, FirstOffset: m.off, LastOffset: m.off + int64(len(changes)) - 1}
	terms := map[string]*dirtyterms.Term{}
	tfs := func(body string) (map[string]uint32, uint32) {
		toks := analysis.AppendTokens(nil, body)
		tf := map[string]uint32{}
		for _, t := range toks {
			tf[t]++
		}
		return tf, uint32(len(toks))
	}
	op := func(term string, o dirtyterms.Op) {
		if terms[term] == nil {
			terms[term] = &dirtyterms.Term{Index: "books", Field: "body", Term: term}
		}
		terms[term].Ops = append(terms[term].Ops, o)
	}
	for i, c := range changes {
		old, had := m.docs[c.id]
		rec := dirtyterms.Record{Offset: m.off, Index: "books", ID: c.id, Deleted: c.body == ""}
		m.off++
		var oldTF, newTF map[string]uint32
		var oldLen, newLen uint32
		if had {
			oldTF, oldLen = tfs(old)
		}
		if !rec.Deleted {
			newTF, newLen = tfs(c.body)
			rec.Source, _ = json.Marshal(map[string]string{"id": c.id, "body": c.body})
			m.docs[c.id] = c.body
		} else {
			delete(m.docs, c.id)
		}
		switch {
		case !had && !rec.Deleted:
			rec.Count = 1
			rec.Fields = []dirtyterms.FieldDelta{{Field: "body", Docs: 1, Length: int64(newLen)}}
		case had && rec.Deleted:
			rec.Count = -1
			rec.Fields = []dirtyterms.FieldDelta{{Field: "body", Docs: -1, Length: -int64(oldLen)}}
		case had:
			rec.Fields = []dirtyterms.FieldDelta{{Field: "body", Length: int64(newLen) - int64(oldLen)}}
		}
		ev.Records = append(ev.Records, rec)
		for t := range oldTF {
			if _, ok := newTF[t]; !ok {
				op(t, dirtyterms.Op{Rec: i})
			}
		}
		for t, n := range newTF {
			if oldTF[t] != n || oldLen != newLen {
				op(t, dirtyterms.Op{Rec: i, TF: n, Length: newLen})
			}
		}
	}
	keys := make([]string, 0, len(terms))
	for k := range terms {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ev.Terms = append(ev.Terms, *terms[k])
	}
	return ev
}

// crashChunk is the chunk size of the crash tests: small enough to split
// lists of a few hundred postings, which keeps each attempt fast.
const crashChunk = 100

// crashScript is a sequence of events that exercises every kind of term
// write: new terms, chunk splits (more than crashChunk postings), updates that
// move postings between terms, and deletes that empty terms.
func crashScript() []*dirtyterms.Event {
	m := &eventModel{docs: map[string]string{}}
	var evs []*dirtyterms.Event
	var c []change
	for i := range 300 {
		c = append(c, change{fmt.Sprintf("d%d", i), fmt.Sprintf("common w%d g%d", i%50, i%7)})
	}
	evs = append(evs, m.event(c[:150]), m.event(c[150:])) // the second splits "common" (crashChunk)
	// Updates only (no split, no removal: these batches skip the
	// journal): tf changes in the split "common" and in inline terms,
	// new documents joining inline terms.
	var u []change
	for i := 10; i < 40; i++ {
		u = append(u, change{fmt.Sprintf("d%d", i), fmt.Sprintf("common common w%d g%d", i%50, i%7)})
	}
	u = append(u, change{"new2", "w5 g3 gamma"}, change{"new3", "gamma gamma"})
	evs = append(evs, m.event(u[:16]), m.event(u[16:]))
	evs = append(evs, m.event([]change{
		{"d1", "common rare alpha"}, {"d2", ""}, {"d3", "alpha"}, {"new1", "alpha beta"},
	}))
	c = nil
	for i := range 200 { // empties w0..w3 and g-terms partly; shrinks "common"
		if i%50 < 4 {
			c = append(c, change{fmt.Sprintf("d%d", i), ""})
		}
	}
	c = append(c, change{"new1", ""}, change{"d1", "beta"})
	evs = append(evs, m.event(c))
	return evs
}

// dump reads every collection the persister writes, ordered by _id.
func dump(t *testing.T, s *Store) map[string][]bson.M {
	t.Helper()
	out := map[string][]bson.M{}
	for _, c := range []string{CollDocuments, CollTerms, CollChunks, CollIndexStats, CollFieldStats, CollCheckpoints, CollJournal} {
		cur, err := s.db.Collection(c).Find(context.Background(), bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.M
		if err := cur.All(context.Background(), &docs); err != nil {
			t.Fatal(err)
		}
		sort.Slice(docs, func(i, j int) bool { return fmt.Sprint(docs[i]["_id"]) < fmt.Sprint(docs[j]["_id"]) })
		out[c] = docs
	}
	return out
}

var errCrash = errors.New("crash")

// TestApplyCrashAtEveryWrite kills the persister (a write fails and the
// process "restarts" with a new Store, or retries on the same one) at seeded
// random writes of every event, including writes made while recovering from
// the previous crash, and replays from the checkpoint; the database must end
// exactly as after a run without crashes.
func TestApplyCrashAtEveryWrite(t *testing.T) {
	evs := crashScript()
	ctx := context.Background()

	ref := openTestStore(t)
	ref.maxChunk = crashChunk
	cp := Checkpoint{Offset: -1}
	for i, ev := range evs {
		if _, err := ref.Apply(ctx, int64(i), ev, &cp); err != nil {
			t.Fatal(err)
		}
	}
	want := dump(t, ref)
	if n := len(want[CollJournal]); n != 0 {
		t.Fatalf("%d journal documents left after a clean run", n)
	}
	if len(want[CollChunks]) < 2 {
		t.Fatalf("script made no split: %d chunks for %d terms", len(want[CollChunks]), len(want[CollTerms]))
	}
	// Split points depend on how events were batched, so chunks are
	// compared by content: each term's postings, and the chunk limit.
	want[CollTerms], want[CollChunks] = logicalTerms(want[CollTerms]), logicalChunks(t, want[CollTerms], want[CollChunks])
	want[CollIndexStats], want[CollFieldStats] = withoutOff(want[CollIndexStats]), withoutOff(want[CollFieldStats])

	// Every attempt at an event crashes one write later than the one
	// before, until an attempt gets through: each write position of each
	// event, including the writes of the recovery itself, is crashed once.
	// "parts" is "restart" with journals split into many documents;
	// "steps" is "restart" with write commands of two documents, two in
	// flight at once, so a crash fails one command while another
	// completes.
	for _, mode := range []string{"restart", "retry", "mixed", "parts", "steps"} {
		t.Run("mode="+mode, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 0))
			s := openTestStore(t)
			s.maxChunk = crashChunk
			if mode == "parts" {
				s.journalPartMax = 1500
			}
			if mode == "steps" {
				s.writeStep = 2
			}
			name := s.db.Name()
			crashes := 0
			var writes, crashAt int
			hook := func() error {
				writes++
				if writes == crashAt {
					return errCrash
				}
				return nil
			}
			s.writeHook = hook
			cp, err := s.LoadCheckpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			writes, crashAt = 0, 1
			reached := int64(0)
			for next := int64(0); next < int64(len(evs)); {
				// The persister applies a poll's events as one batch; a
				// replay after a crash may cut the batches differently.
				var items []Item
				for i := next; i < int64(len(evs)) && i < next+1+int64(rng.IntN(3)); i++ {
					items = append(items, Item{Offset: i, Event: evs[i]})
				}
				c := cp // the persister hands Apply a copy and keeps it on success
				_, err := s.ApplyBatch(ctx, items, &c)
				if err == nil {
					cp = c
					next += int64(len(items))
					writes = 0
					if next > reached { // a new event: crash its first write first
						reached, crashAt = next, 1
					}
					continue
				}
				if !errors.Is(err, errCrash) {
					t.Fatal(err)
				}
				crashes++
				writes, crashAt = 0, crashAt+1
				if mode == "restart" || mode == "parts" || mode == "steps" || mode == "mixed" && rng.IntN(2) == 0 {
					// Restart: a new store and the stored checkpoint; Kafka
					// redelivers from the last committed event (which may
					// be older than the checkpoint).
					s2, err := Open(ctx, testURI(t), name, zerolog.Nop())
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { _ = s2.Close(context.Background()) })
					s2.writeHook, s2.maxChunk, s2.journalPartMax, s2.writeStep = hook, crashChunk, s.journalPartMax, s.writeStep
					s = s2
					if cp, err = s.LoadCheckpoint(ctx); err != nil {
						t.Fatal(err)
					}
					next = max(0, next-int64(rng.IntN(2)))
				}
			}
			// A crash right after the last checkpoint can leave its journal
			// behind; the next start removes it.
			s.writeHook = nil
			if _, err := s.recover(ctx); err != nil {
				t.Fatal(err)
			}
			got := dump(t, s)
			// Split points depend on how events were batched, so chunks are
			// compared by content: each term's postings, and the chunk limit.
			got[CollTerms], got[CollChunks] = logicalTerms(got[CollTerms]), logicalChunks(t, got[CollTerms], got[CollChunks])
			got[CollIndexStats], got[CollFieldStats] = withoutOff(got[CollIndexStats]), withoutOff(got[CollFieldStats])
			for c, docs := range want {
				if c == CollCheckpoints {
					continue
				}
				if !reflect.DeepEqual(docs, got[c]) {
					t.Errorf("%s differs after %d crashes: %d documents, want %d%s", c, crashes, len(got[c]), len(docs), firstDiff(docs, got[c]))
				}
			}
			t.Logf("%d crashes", crashes)
		})
	}
}

func firstDiff(want, got []bson.M) string {
	for i := range min(len(want), len(got)) {
		if !reflect.DeepEqual(want[i], got[i]) {
			w, g := fmt.Sprint(want[i]), fmt.Sprint(got[i])
			return fmt.Sprintf("; first difference:\n want %.300s\n got  %.300s", w, g)
		}
	}
	return ""
}

func testURI(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(os.Getenv("TERMFLOW_TEST_MONGO_URI"))
}

// withoutOff drops the offset statistics documents are stamped with (the
// last batch that changed them, which depends on batch boundaries).
func withoutOff(docs []bson.M) []bson.M {
	out := make([]bson.M, len(docs))
	for i, d := range docs {
		c := bson.M{}
		for k, v := range d {
			if k != "off" {
				c[k] = v
			}
		}
		out[i] = c
	}
	return out
}

// logicalTerms drops the chunk layout from term heads: their chunk list
// and inline postings.
func logicalTerms(heads []bson.M) []bson.M {
	out := make([]bson.M, len(heads))
	for i, h := range heads {
		c := bson.M{}
		for k, v := range h {
			if k != "chunks" && k != "p" {
				c[k] = v
			}
		}
		out[i] = c
	}
	return out
}

// logicalChunks merges each term's postings, inline in its head or in its
// chunks (which a term uses depends on how events were batched), into its
// sorted postings, and checks the chunk size limit.
func logicalChunks(t *testing.T, heads, chunks []bson.M) []bson.M {
	t.Helper()
	byTerm := map[string][]string{}
	add := func(tk string, id, p any) {
		b, ok := p.(bson.Binary)
		if !ok {
			t.Fatalf("%v: p is %T", id, p)
		}
		ps, err := posting.Decode(nil, b.Data)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) > crashChunk {
			t.Errorf("%v holds %d postings, over %d", id, len(ps), crashChunk)
		}
		for _, p := range ps {
			byTerm[tk] = append(byTerm[tk], fmt.Sprintf("%s:%d:%d", p.Doc, p.TF, p.Length))
		}
	}
	for _, h := range heads {
		if p, ok := h["p"]; ok {
			if cs, ok := h["chunks"]; ok { // implied by the postings, not stored
				t.Errorf("head %v has inline postings and stores chunks %v", h["_id"], cs)
			}
			add(h["_id"].(string), h["_id"], p)
		}
	}
	for _, c := range chunks {
		add(c["tk"].(string), c["_id"], c["p"])
	}
	var out []bson.M
	for _, tk := range slices.Sorted(maps.Keys(byTerm)) {
		ps := byTerm[tk]
		sort.Strings(ps)
		out = append(out, bson.M{"tk": tk, "postings": ps})
	}
	return out
}
