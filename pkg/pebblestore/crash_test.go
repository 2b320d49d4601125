package pebblestore

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// The crash test applies batches shaped like the indexer's (per record: the
// postings that changed and the forward entry, then the partition's applied
// offset) from several goroutines at once, one per group of partitions, like
// the indexer handling several partitions of a poll in parallel. At random
// write operations of the file system (a WAL append, a sync, a flush or
// compaction writing an sstable, a manifest edit) it takes a crash clone: the
// synced data plus a random share of the unsynced data. Every clone is
// reopened and must hold, per partition, exactly the state after the batch
// its applied offset names: every batch up to it fully, nothing of a later
// one. Commits are synced, so the applied offset must also be at least the
// last batch whose Commit had returned before the crash.

const (
	crashPartitions = 4
	crashWriters    = 2
	crashBatches    = 40 // per partition
	crashDocs       = 12 // document ids per partition
	crashTopic      = "docs"
)

var crashVocab = []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
	"india", "juliett", "kilo", "lima", "mike", "november", "oscar", "papa"}

// crashRecord is one document version: fwd nil deletes the document.
type crashRecord struct {
	id  string
	fwd *Forward
}

type crashBatch struct {
	last int64 // offset of the batch's last record: its applied offset
	recs []crashRecord
	// after is the partition's forward index after this batch.
	after map[string]*Forward
}

func crashIndex(p int) string { return "i" + strconv.Itoa(p) }

// crashWorkload generates every partition's batches deterministically.
func crashWorkload(rng *rand.Rand) [][]crashBatch {
	out := make([][]crashBatch, crashPartitions)
	for p := range out {
		state := map[string]*Forward{}
		off := int64(0)
		for range crashBatches {
			b := crashBatch{}
			for range 1 + rng.IntN(6) {
				id := "d" + strconv.Itoa(rng.IntN(crashDocs))
				var fwd *Forward
				if rng.IntN(4) > 0 { // three in four are upserts
					tf := map[string]uint32{}
					n := 1 + rng.IntN(6)
					for range n {
						tf[crashVocab[rng.IntN(len(crashVocab))]]++
					}
					fl := ForwardField{Name: "title", Length: uint32(n)}
					for term, f := range tf {
						fl.Terms = append(fl.Terms, TermFreq{Term: term, TF: f})
					}
					slices.SortFunc(fl.Terms, func(a, b TermFreq) int {
						if a.Term < b.Term {
							return -1
						}
						return 1
					})
					all := fl
					all.Name = "_all"
					fwd = &Forward{Fields: []ForwardField{all, fl}}
				}
				b.recs = append(b.recs, crashRecord{id: id, fwd: fwd})
				if fwd == nil {
					delete(state, id)
				} else {
					state[id] = fwd
				}
				// Gaps in the offsets, like dead letters and compaction leave.
				off += 1 + int64(rng.IntN(2))
			}
			b.last = off - 1
			b.after = make(map[string]*Forward, len(state))
			for k, v := range state {
				b.after[k] = v
			}
			out[p] = append(out[p], b)
		}
	}
	return out
}

// postingsOf maps field/term → id → posting, derived from a forward index.
func crashPostings(fwd map[string]*Forward) map[string]map[string]Posting {
	m := map[string]map[string]Posting{}
	for id, f := range fwd {
		for _, fl := range f.Fields {
			for _, t := range fl.Terms {
				k := fl.Name + "/" + t.Term
				if m[k] == nil {
					m[k] = map[string]Posting{}
				}
				m[k][id] = Posting{ID: id, TF: t.TF, Length: fl.Length}
			}
		}
	}
	return m
}

// apply writes one batch the way the indexer does: per record, remove the
// postings the document lost, set the new or changed ones, store the forward
// entry; then the applied offset.
func (b crashBatch) apply(s *Store, p int, before map[string]*Forward) error {
	pb := s.NewBatch()
	defer pb.Close()
	cur := map[string]*Forward{}
	for k, v := range before {
		cur[k] = v
	}
	index := crashIndex(p)
	for _, r := range b.recs {
		var oldP, newP map[string]map[string]Posting
		if cur[r.id] != nil {
			oldP = crashPostings(map[string]*Forward{r.id: cur[r.id]})
		}
		if r.fwd != nil {
			newP = crashPostings(map[string]*Forward{r.id: r.fwd})
		}
		for k := range oldP {
			if _, ok := newP[k]; !ok {
				field, term := splitFieldTerm(k)
				pb.SetPosting(index, field, term, r.id, 0, 0)
			}
		}
		for k, ps := range newP {
			if old, ok := oldP[k]; ok && old[r.id] == ps[r.id] {
				continue
			}
			field, term := splitFieldTerm(k)
			pb.SetPosting(index, field, term, r.id, ps[r.id].TF, ps[r.id].Length)
		}
		pb.SetForward(index, r.id, r.fwd)
		cur[r.id] = r.fwd
	}
	pb.SetApplied(crashTopic, int32(p), b.last)
	return pb.Commit()
}

func splitFieldTerm(k string) (string, string) {
	for i := 0; i < len(k); i++ {
		if k[i] == '/' {
			return k[:i], k[i+1:]
		}
	}
	panic(k)
}

// crashPoint is a clone and what was known about the batches when it was
// taken: per partition, how many batches had committed before (done) and
// had started committing after (started).
type crashPoint struct {
	op            int64
	unsynced      int
	fs            *vfs.MemFS
	done, started [crashPartitions]int64
}

// crashRun writes the whole workload once, cloning the file system at the
// write operations named in at (sorted). It returns the clones and the number
// of write operations the run made.
func crashRun(t *testing.T, work [][]crashBatch, at []int64, rng *rand.Rand) ([]*crashPoint, int64) {
	mem := vfs.NewCrashableMem()
	var done, started [crashPartitions]atomic.Int64
	var (
		mu     sync.Mutex
		ops    int64
		points []*crashPoint
	)
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.ReadOrWrite() != errorfs.OpIsWrite {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		n := ops
		ops++
		if len(points) < len(at) && at[len(points)] == n {
			cp := &crashPoint{op: n, unsynced: []int{0, 0, 10, 50, 100}[rng.IntN(5)]}
			for p := range done {
				cp.done[p] = done[p].Load()
			}
			cp.fs = mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: cp.unsynced, RNG: rng})
			for p := range started {
				cp.started[p] = started[p].Load()
			}
			points = append(points, cp)
		}
		return nil
	})
	s, err := Open("db", Options{FS: errorfs.Wrap(mem, inj), MemTableBytes: 64 << 10, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, crashWriters)
	for w := range crashWriters {
		wg.Go(func() {
			// Each writer owns some partitions and interleaves their batches.
			var mine []int
			for p := w; p < crashPartitions; p += crashWriters {
				mine = append(mine, p)
			}
			for j := range crashBatches {
				for _, p := range mine {
					var before map[string]*Forward
					if j > 0 {
						before = work[p][j-1].after
					}
					started[p].Store(int64(j + 1))
					if err := work[p][j].apply(s, p, before); err != nil {
						errs <- err
						return
					}
					done[p].Store(int64(j + 1))
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return points, ops
}

// checkCrashState reopens a clone and checks every partition.
// It reports how many partitions kept a batch that was still committing.
func checkCrashState(t *testing.T, work [][]crashBatch, cp *crashPoint) (inFlight int) {
	t.Helper()
	s, err := Open("db", Options{FS: cp.fs, Logger: quietLogger{}})
	if err != nil {
		t.Fatalf("reopen after crash at write %d: %v", cp.op, err)
	}
	defer s.Close()
	keys := 0
	for p := range crashPartitions {
		applied, err := s.Applied(crashTopic, int32(p))
		if err != nil {
			t.Fatal(err)
		}
		// n is the number of batches the applied offset covers.
		n := -1
		if applied == -1 {
			n = 0
		}
		for j, b := range work[p] {
			if b.last == applied {
				n = j + 1
			}
		}
		if n < 0 {
			t.Fatalf("crash at write %d (unsynced %d%%): partition %d applied offset %d is no batch's last offset", cp.op, cp.unsynced, p, applied)
		}
		if n < int(cp.done[p]) || n > int(cp.started[p]) {
			t.Fatalf("crash at write %d (unsynced %d%%): partition %d has %d batches applied; %d had committed before the crash and %d had started",
				cp.op, cp.unsynced, p, n, cp.done[p], cp.started[p])
		}
		if n > int(cp.done[p]) {
			inFlight++
		}
		if applied >= 0 {
			keys++
		}
		var want map[string]*Forward
		if n > 0 {
			want = work[p][n-1].after
		}
		index := crashIndex(p)
		for d := range crashDocs {
			id := "d" + strconv.Itoa(d)
			got, err := s.Forward(index, id)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want[id]) {
				t.Fatalf("crash at write %d (unsynced %d%%): partition %d after %d batches: forward %s = %+v, want %+v",
					cp.op, cp.unsynced, p, n, id, got, want[id])
			}
			if got != nil {
				keys++
			}
		}
		wantP := crashPostings(want)
		for _, field := range []string{"title", "_all"} {
			for _, term := range crashVocab {
				got, err := s.Postings(index, field, term)
				if err != nil {
					t.Fatal(err)
				}
				w := wantP[field+"/"+term]
				if len(got) != len(w) {
					t.Fatalf("crash at write %d (unsynced %d%%): partition %d after %d batches: %s:%s has %d postings, want %d",
						cp.op, cp.unsynced, p, n, field, term, len(got), len(w))
				}
				for _, g := range got {
					if w[g.ID] != g {
						t.Fatalf("crash at write %d (unsynced %d%%): partition %d after %d batches: %s:%s posting %+v, want %+v",
							cp.op, cp.unsynced, p, n, field, term, g, w[g.ID])
					}
				}
				keys += len(got)
			}
		}
	}
	// Nothing else is in the store: no posting or forward entry outside what
	// the applied offsets cover (every posting the logs replay to counts).
	it, err := s.DB().NewIter(&pebble.IterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for it.First(); it.Valid(); it.Next() {
		// Posting logs are counted by their postings below; the layout
		// version is not state.
		if k := it.Key()[0]; k != 't' && k != 'v' {
			total++
		}
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.EachPosting(func(string, string, string, Posting) error { total++; return nil }); err != nil {
		t.Fatal(err)
	}
	if total != keys {
		t.Fatalf("crash at write %d (unsynced %d%%): %d keys in the store, %d expected", cp.op, cp.unsynced, total, keys)
	}
	return inFlight
}

// TestCrashKeepsAppliedOffsetWithItsBatch is scenario 10 of issue 3. Set
// TERMFLOW_CRASH_SEED to replay a failing seed.
func TestCrashKeepsAppliedOffsetWithItsBatch(t *testing.T) {
	seed := uint64(20250301)
	if s := os.Getenv("TERMFLOW_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	iterations, perRun := 60, 6
	if testing.Short() || raceEnabled {
		iterations = 12
	}
	// One run without crashes counts the write operations of a run.
	work := crashWorkload(rand.New(rand.NewPCG(seed, 0)))
	_, ops := crashRun(t, work, nil, rand.New(rand.NewPCG(seed, 1)))
	t.Logf("seed %d: %d batches, %d file system writes per run", seed, crashPartitions*crashBatches, ops)
	var points, inFlight atomic.Int64
	defer func() {
		t.Logf("%d crash points checked; %d times a partition kept a batch whose commit had not returned", points.Load(), inFlight.Load())
	}()
	for i := range iterations {
		t.Run(fmt.Sprintf("iteration=%d", i), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(i)+2))
			work := crashWorkload(rng)
			at := make([]int64, perRun)
			for j := range at {
				at[j] = rng.Int64N(ops + ops/10) // a run's count varies with background work
			}
			slices.Sort(at)
			at = slices.Compact(at)
			cps, _ := crashRun(t, work, at, rng)
			for _, cp := range cps {
				inFlight.Add(int64(checkCrashState(t, work, cp)))
			}
			points.Add(int64(len(cps)))
		})
	}
}

// quietLogger drops Pebble's informational lines (every reopen logs its WAL
// replay) and keeps errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)         {}
func (quietLogger) Errorf(f string, args ...any) { fmt.Fprintf(os.Stderr, "pebble: "+f+"\n", args...) }
func (quietLogger) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }
