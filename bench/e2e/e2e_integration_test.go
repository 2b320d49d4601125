//go:build integration

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func mongoClient(uri string) (*mdb.Client, error) {
	return mdb.Connect(options.Client().ApplyURI(uri))
}

// TestLoadThroughRealServices drives a small load through the three real
// services on the real broker and FerretDB and checks that what the
// benchmark reports is what happened.
func TestLoadThroughRealServices(t *testing.T) {
	brokers, mongo := os.Getenv("TERMFLOW_TEST_KAFKA_BROKERS"), os.Getenv("TERMFLOW_TEST_MONGO_URI")
	if brokers == "" || mongo == "" {
		t.Fatal("TERMFLOW_TEST_KAFKA_BROKERS and TERMFLOW_TEST_MONGO_URI must be set: run `make test`")
	}
	bin := t.TempDir()
	for _, s := range Services {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, "termflow-"+s), "github.com/termflow/termflow/services/"+s)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", s, err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id := fmt.Sprintf("benchtest%d", time.Now().UnixNano())
	st, err := Start(ctx, Config{BinDir: bin, Brokers: brokers, MongoURI: mongo, WorkDir: t.TempDir(), Partitions: 2}, id)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()

	doc := func(i int) (string, []byte) {
		return fmt.Sprintf("d%d", i), fmt.Appendf(nil, `{"title":"benchmark document %d","body":"word%d common"}`, i, i%7)
	}
	bodies, err := Bodies(doc, 0, 450, 100)
	if err != nil {
		t.Fatal(err)
	}
	var last [3]int
	c := st.Client()
	before, err := st.Scrape(ctx, "persister")
	if err != nil {
		t.Fatal(err)
	}
	tp, err := c.Load(ctx, "bench", bodies, 450, 100, 2, true, func(a, i, p int) { last = [3]int{a, i, p} })
	if err != nil {
		t.Fatalf("load: %v\npersister log:\n%s", err, st.LogTail("persister"))
	}
	if tp.Requests != 5 || tp.Docs != 450 || tp.IndexedS <= 0 || tp.CompletedS < tp.IndexedS || tp.IndexedS < tp.AcceptedS {
		t.Fatalf("throughput %+v", tp)
	}
	if last != [3]int{450, 450, 450} {
		t.Fatalf("last progress %v, want 450 accepted, indexed and persisted", last)
	}
	after, err := st.Scrape(ctx, "persister")
	if err != nil {
		t.Fatal(err)
	}
	if d := Delta(before, after).Sum("go_gc_duration_seconds_count"); d < 0 {
		t.Fatalf("metrics went backwards: %v", d)
	}
	if len(after) == 0 {
		t.Fatal("no persister metrics")
	}

	lat, err := c.LatencyAt(ctx, "bench2", bodies[:3], 100, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if lat.Requests != 3 || lat.AcceptP50Ms <= 0 || lat.CompleteP99Ms < lat.AcceptP99Ms {
		t.Fatalf("latency %+v", lat)
	}

	rss, err := st.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Services {
		if rss[s] < 1<<20 {
			t.Fatalf("peak RSS of %s: %d bytes", s, rss[s])
		}
	}
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	if err := st.Profile(ctx, "indexer", time.Second, prof); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(prof); err != nil || fi.Size() == 0 {
		t.Fatalf("profile: %v", err)
	}

	// A service that dies fails a watched load at once, naming the
	// service, instead of leaving the load waiting for progress that
	// cannot come.
	if d := st.Died(); d != nil {
		t.Fatalf("a service died during the loads: %v", d)
	}
	wctx, stopWatching := st.Watch(ctx)
	defer stopWatching()
	if err := syscall.Kill(st.PID("indexer"), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Load(wctx, "bench3", bodies[:1], 100, 100, 1, true, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("load with the indexer killed: %v, want it cancelled", err)
	}
	if d := st.Died(); d == nil || !strings.HasPrefix(d.Error(), "indexer exited during the run (signal: killed)") {
		t.Fatalf("Died() = %v, want the indexer's exit", d)
	}
	if err := st.Stop(); err == nil || err.Error() != "indexer exited with signal: killed" {
		t.Fatalf("stop: %v, want only the indexer's exit", err)
	}
	if err := st.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	mc, err := mongoClient(mongo)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Disconnect(ctx)
	names, err := mc.ListDatabaseNames(ctx, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n == id {
			t.Fatalf("database %s is still there after Drop", id)
		}
	}
}
