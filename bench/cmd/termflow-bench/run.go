package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/termflow/termflow/bench/corpus"
	"github.com/termflow/termflow/bench/e2e"
)

// Documents per bulk request and requests in flight for the throughput
// loads: a client loading a large file the way the CLI does.
const (
	loadPerRequest  = 5000
	loadConcurrency = 2
	latencyPerReq   = 150
	opDocs          = 5000
)

// termflowRun loads c into a fresh pipeline and measures it; profile, when
// set, is a directory for CPU profiles of the three services taken during
// the load.
func termflowRun(ctx context.Context, cfg e2e.Config, id string, c named, awaitCompleted bool, profile string, profileSecs int) (TermflowRun, error) {
	run := TermflowRun{Corpus: c.label, Docs: c.Len(), Completed: awaitCompleted}
	logf("termflow %s (%d documents): building request bodies", c.label, c.Len())
	bodies, err := e2e.Bodies(docFunc(c), 0, c.Len(), loadPerRequest)
	if err != nil {
		return run, err
	}
	st, err := e2e.Start(ctx, cfg, id)
	if err != nil {
		return run, err
	}
	defer cleanup(st)
	before := map[string]e2e.Sample{}
	for _, s := range e2e.Services {
		if before[s], err = st.Scrape(ctx, s); err != nil {
			return run, err
		}
	}
	var profiles sync.WaitGroup
	if profile != "" {
		run.Profiles = map[string]string{}
		if err := os.MkdirAll(profile, 0o755); err != nil {
			return run, err
		}
		for _, s := range e2e.Services {
			path := filepath.Join(profile, s+".pprof")
			run.Profiles[s] = path
			profiles.Add(1)
			go func() {
				defer profiles.Done()
				time.Sleep(2 * time.Second)
				if err := st.Profile(ctx, s, time.Duration(profileSecs)*time.Second, path); err != nil {
					logf("profile %s: %v", s, err)
				}
			}()
		}
	}
	// Unthrottled: the load reports a few times a second, and a throttled
	// bar drew its count and its description from different reports.
	b := bar(c.Len(), "termflow "+c.label, progressbar.OptionThrottle(0))
	cpu0 := st.CPUSeconds()
	var cpuIndexed map[string]float64 // when the load was first seen indexed
	lctx, stopWatching := st.Watch(ctx)
	defer stopWatching()
	load, err := st.Client().Load(lctx, "bench", bodies, c.Len(), loadPerRequest, loadConcurrency, awaitCompleted,
		func(accepted, indexed, persisted int) {
			if indexed >= c.Len() && cpuIndexed == nil {
				cpuIndexed = st.CPUSeconds()
			}
			if awaitCompleted {
				_ = b.Set(persisted)
			} else {
				_ = b.Set(indexed)
			}
			b.Describe(fmt.Sprintf("termflow %s: accepted %d, indexed %d, persisted %d", c.label, accepted, indexed, persisted))
		})
	cpuEnd := st.CPUSeconds()
	_ = b.Finish()
	if cpuIndexed == nil {
		cpuIndexed = cpuEnd
	}
	run.CPU = map[string]CPUUse{}
	for name, v := range cpuEnd {
		if v0, ok := cpu0[name]; ok {
			run.CPU[name] = CPUUse{ToIndexed: cpuIndexed[name] - v0, Total: v - v0}
		}
	}
	profiles.Wait()
	if died := st.Died(); died != nil {
		return run, died
	}
	if err != nil {
		return run, fmt.Errorf("%w\nindexer log:\n%s\npersister log:\n%s", err, st.LogTail("indexer"), st.LogTail("persister"))
	}
	run.Load = load
	logf("  termflow %s: indexed %.0f docs/s (%.1f s), completed %.0f docs/s (%.1f s)", c.label,
		load.IndexedDPS, load.IndexedS, load.CompletedDS, load.CompletedS)
	run.Metrics = map[string]e2e.Sample{}
	for _, s := range e2e.Services {
		after, err := st.Scrape(ctx, s)
		if err != nil {
			return run, err
		}
		run.Metrics[s] = termflowOnly(e2e.Delta(before[s], after))
	}
	if run.PeakRSS, err = st.PeakRSS(); err != nil {
		return run, err
	}
	for s, path := range run.Profiles {
		if top, err := pprofTop(filepath.Join(cfg.BinDir, "termflow-"+s), path); err == nil {
			run.ProfileTop = append(run.ProfileTop, ProfileTop{Service: s, Top: top})
		} else {
			logf("pprof %s: %v", s, err)
		}
	}
	return run, st.Stop()
}

// cleanup stops a stack and deletes its topics, groups and database, so a
// run leaves nothing on the broker and MongoDB server.
func cleanup(st *e2e.Stack) {
	_ = st.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := st.Drop(ctx); err != nil {
		logf("cleaning up %s: %v", st.ID, err)
	}
}

// termflowOnly keeps the Termflow metrics of a scrape (not the Go runtime's
// or the Kafka client's).
func termflowOnly(s e2e.Sample) e2e.Sample {
	out := e2e.Sample{}
	for k, v := range s {
		if strings.HasPrefix(k, "termflow_") && v != 0 {
			out[k] = v
		}
	}
	return out
}

func docFunc(c corpus.Corpus) e2e.DocFunc {
	return func(i int) (string, []byte) {
		d := c.Doc(i)
		return d.ID, d.JSON
	}
}

// pprofTop is `go tool pprof -top` of a profile, its first lines.
func pprofTop(bin, profile string) (string, error) {
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", bin, profile).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// latencyRuns measures, on a fresh pipeline, 150-document requests sent at
// half the maximum indexed rate, then the time of 5000-document operations
// from request to completed, one at a time on the idle pipeline.
func latencyRuns(ctx context.Context, cfg e2e.Config, id string, c corpus.Corpus, maxRate float64, o options, r *Result) error {
	if maxRate <= 0 {
		return fmt.Errorf("no completed load measured, so no maximum rate: let -complete-max include one of -sizes")
	}
	rate := maxRate / 2
	n := int(rate*float64(o.latencySecs)) / latencyPerReq * latencyPerReq
	n = max(latencyPerReq, min(n, c.Len()-o.ops5000*opDocs))
	if need := n + o.ops5000*opDocs; need > c.Len() {
		return fmt.Errorf("the latency corpus %s has %d documents; the latency run and %d 5000-document operations need %d: include a larger size in -sizes or lower -op5000-runs",
			c.Name(), c.Len(), o.ops5000, need)
	}
	bodies, err := e2e.Bodies(docFunc(c), 0, n, latencyPerReq)
	if err != nil {
		return err
	}
	st, err := e2e.Start(ctx, cfg, id)
	if err != nil {
		return err
	}
	defer cleanup(st)
	ctx, stopWatching := st.Watch(ctx)
	defer stopWatching()
	cl := st.Client()
	logf("latency: %d requests of %d documents at %.0f docs/s (half the highest completed rate, %.0f)", len(bodies), latencyPerReq, rate, maxRate)
	lat, err := cl.LatencyAt(ctx, "latency", bodies, latencyPerReq, rate)
	if died := st.Died(); died != nil {
		return died
	}
	if err != nil {
		return fmt.Errorf("latency run: %w\npersister log:\n%s", err, st.LogTail("persister"))
	}
	r.Latency = &lat
	logf("  accepted p50 %.0f ms p99 %.0f ms; completed p50 %.0f ms p99 %.0f ms", lat.AcceptP50Ms, lat.AcceptP99Ms, lat.CompleteP50Ms, lat.CompleteP99Ms)
	time.Sleep(2 * time.Second) // let the pipeline go idle
	for k := 0; k < o.ops5000; k++ {
		from := n + k*opDocs
		body, err := e2e.Bodies(docFunc(c), from, from+opDocs, opDocs)
		if err != nil {
			return err
		}
		t0 := time.Now()
		op, _, err := cl.Bulk(ctx, "op5000", body[0])
		if err != nil {
			return errors.Join(st.Died(), err)
		}
		accepted := time.Since(t0).Seconds()
		if _, err := cl.WaitCompleted(ctx, op); err != nil {
			return errors.Join(st.Died(), err)
		}
		total := time.Since(t0).Seconds()
		r.Op5000 = append(r.Op5000, OpTiming{AcceptedS: accepted, CompletedS: total})
		logf("  5000-document operation %d: accepted %.2f s, completed %.2f s", k+1, accepted, total)
		time.Sleep(time.Second)
	}
	return st.Stop()
}
