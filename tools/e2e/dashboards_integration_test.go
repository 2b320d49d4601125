//go:build integration

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"
)

// TestOperationsAgainstPrometheus is the proof of the operations tooling
// (issue 5): the three real services run an end-to-end load while a real
// Prometheus server (Debian package prometheus) scrapes them with the
// compose configuration (deploy/prometheus/prometheus.yml, targets pointed at
// the test's addresses, every alert rule loaded). Then:
//
//   - every panel query of every Grafana dashboard (deploy/grafana/dashboards)
//     and every dashboard variable's query is evaluated through Prometheus'
//     HTTP API: each must parse and return data;
//   - every alert rule evaluates without error, and the dead-letter alert
//     fires for the poison record the load produced;
//   - every service's /metrics passes `promtool check metrics` and
//     client_golang's linter, and has the metrics the issue lists.
func TestOperationsAgainstPrometheus(t *testing.T) {
	for _, tool := range []string{"prometheus", "promtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (Debian package prometheus): make integration installs it with scripts/prometheus.sh ensure; "+
				"run that as root, or sudo apt-get install prometheus", tool)
		}
	}
	s := newStack(t)
	s.startAll()
	prom := startPrometheus(t, s)

	indexes := []string{"books", "films"}
	ops := s.operationsLoad(indexes)
	for _, op := range ops {
		s.waitCompleted(op, 3*time.Minute)
	}

	// Prometheus has scraped the end of the load: every accepted document
	// persisted, the poison record dead-lettered.
	accepted := prom.waitValue(t, "sum(termflow_ingest_documents_accepted_total)", func(v float64) bool { return v > 0 })
	prom.waitValue(t, "sum(termflow_persister_documents_persisted_total)", func(v float64) bool { return v >= accepted })
	prom.waitValue(t, "sum(termflow_indexer_dead_letter_records_total)", func(v float64) bool { return v >= 1 })
	// A few more scrapes so that every rate() window holds several samples.
	time.Sleep(5 * time.Second)

	t.Run("dashboards", func(t *testing.T) { prom.checkDashboards(t, strings.Join(indexes, "|"), indexes) })
	t.Run("alert rules", func(t *testing.T) { prom.checkRules(t) })
	t.Run("metrics lint", func(t *testing.T) {
		for name, addr := range map[string]string{"ingest": s.http, "indexer": s.ops["indexer"], "persister": s.ops["persister"]} {
			lintMetrics(t, name, addr)
		}
	})
}

// operationsLoad sends what the dashboards and alerts watch: bulk requests
// to several indexes, a PUT and a DELETE, an invalid request (400), searches,
// and one poison record produced straight to the documents topic (dead
// letter). It returns the operations to wait for.
func (s *stack) operationsLoad(indexes []string) []string {
	s.t.Helper()
	var ops []string
	words := []string{"limited", "edition", "river", "stone", "glass", "orbit", "maple", "signal"}
	for round := range 3 {
		for _, index := range indexes {
			docs := make([]map[string]any, 150)
			for i := range docs {
				docs[i] = map[string]any{"id": fmt.Sprintf("%d-%d", round, i),
					"title": words[(round+i)%len(words)] + " " + words[(i*3)%len(words)], "n": i}
			}
			ops = append(ops, s.bulk(index, docs))
		}
		time.Sleep(2 * time.Second) // spread over several scrapes
	}
	code, m := s.do("PUT", "/indexes/books/documents/0-1", "application/json", []byte(`{"title": "replaced edition"}`))
	if code != 202 {
		s.t.Fatalf("PUT: %d %v", code, m)
	}
	ops = append(ops, m["operationId"].(string))
	code, m = s.do("DELETE", "/indexes/films/documents/0-2", "", nil)
	if code != 202 {
		s.t.Fatalf("DELETE: %d %v", code, m)
	}
	ops = append(ops, m["operationId"].(string))
	if code, m := s.do("POST", "/bulk-indexing/books", "application/json", []byte(`[{"title": "no id"}]`)); code != 400 {
		s.t.Fatalf("invalid bulk: %d %v, want 400", code, m)
	}
	for _, q := range []string{"limited", "title:river", "stone+glass"} {
		if code, m := s.do("GET", "/indexes/books/search?q="+q, "", nil); code != 200 {
			s.t.Fatalf("search %s: %d %v", q, code, m)
		}
	}
	cl := s.kafkaClient(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	poison := &kgo.Record{Topic: s.docTopic, Partition: 0, Key: []byte("books/poison"), Value: []byte("{not json")}
	if err := cl.ProduceSync(ctx, poison).FirstErr(); err != nil {
		s.t.Fatalf("produce poison record: %v", err)
	}
	return ops
}

// ---------------------------------------------------------------- Prometheus

type promServer struct {
	addr string
	dir  string
}

// startPrometheus runs a Prometheus server with the compose configuration,
// its scrape targets replaced by the stack's addresses, a 1s scrape and
// evaluation interval, and the repository's alert rules.
func startPrometheus(t *testing.T, s *stack) *promServer {
	t.Helper()
	root := repoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, "deploy/prometheus/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("deploy/prometheus/prometheus.yml: %v", err)
	}
	p := &promServer{addr: freeAddr(t), dir: t.TempDir()}
	targets := map[string]string{"ingest": s.http, "indexer": s.ops["indexer"], "persister": s.ops["persister"], "prometheus": p.addr}
	global, _ := cfg["global"].(map[string]any)
	if global == nil {
		global = map[string]any{}
	}
	global["scrape_interval"], global["scrape_timeout"], global["evaluation_interval"] = "1s", "1s", "1s"
	cfg["global"] = global
	cfg["rule_files"] = []string{filepath.Join(root, "deploy/prometheus/rules/*.yml")}
	jobs := map[string]bool{}
	scrapes, _ := cfg["scrape_configs"].([]any)
	for _, sc := range scrapes {
		sc := sc.(map[string]any)
		job, _ := sc["job_name"].(string)
		addr, ok := targets[job]
		if !ok {
			t.Fatalf("prometheus.yml: job %q is none of %v", job, targets)
		}
		jobs[job] = true
		statics, _ := sc["static_configs"].([]any)
		if len(statics) != 1 {
			t.Fatalf("prometheus.yml: job %s has %d static_configs, want 1", job, len(statics))
		}
		statics[0].(map[string]any)["targets"] = []string{addr}
	}
	for job := range targets {
		if !jobs[job] {
			t.Fatalf("prometheus.yml does not scrape %s", job)
		}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(p.dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, out, 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(s.dataDir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("prometheus", "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(p.dir, "data"),
		"--web.listen-address="+p.addr, "--storage.tsdb.retention.time=1h")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + p.addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(s.dataDir, "prometheus.log"))
			t.Fatalf("prometheus not ready: %v\n%s", err, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return p
}

type promResult struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`
}

// query evaluates expr now; the error covers a failed request, a parse or
// evaluation error, and a result that is not an instant vector or scalar.
func (p *promServer) query(expr string) ([]promResult, error) {
	resp, err := http.PostForm("http://"+p.addr+"/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decode answer (HTTP %d): %w", resp.StatusCode, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("%s: %s", body.ErrorType, body.Error)
	}
	switch body.Data.ResultType {
	case "vector":
		var rs []promResult
		err := json.Unmarshal(body.Data.Result, &rs)
		return rs, err
	case "scalar":
		var v []any
		err := json.Unmarshal(body.Data.Result, &v)
		return []promResult{{Value: v}}, err
	}
	return nil, fmt.Errorf("result type %s", body.Data.ResultType)
}

// waitValue waits until expr's single value satisfies ok and returns it.
func (p *promServer) waitValue(t *testing.T, expr string, ok func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last []promResult
	var err error
	for time.Now().Before(deadline) {
		last, err = p.query(expr)
		if err == nil && len(last) == 1 {
			var v float64
			if s, _ := last[0].Value[1].(string); s != "" {
				fmt.Sscan(s, &v)
			}
			if ok(v) {
				return v
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("prometheus: %s is %v (%v) after 90s", expr, last, err)
	return 0
}

type grafanaPanel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

// labelValues is Grafana's label_values(metric, label) variable query.
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// checkDashboards evaluates every panel query and every variable query of
// every dashboard. Variables take the value vars; $index must list the
// load's indexes.
func (p *promServer) checkDashboards(t *testing.T, indexVar string, indexes []string) {
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy/grafana/dashboards/*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards (%v)", err)
	}
	replacer := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "15s", "$__range", "1h", "$index", indexVar)
	queries := 0
	for _, file := range files {
		name := filepath.Base(file)
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var dash struct {
			Panels     []grafanaPanel `json:"panels"`
			Templating struct {
				List []struct {
					Name       string `json:"name"`
					Definition string `json:"definition"`
				} `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(raw, &dash); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, v := range dash.Templating.List {
			m := labelValues.FindStringSubmatch(v.Definition)
			if m == nil {
				t.Errorf("%s: variable %s: query %q is not label_values(metric, label)", name, v.Name, v.Definition)
				continue
			}
			expr := fmt.Sprintf("group by (%s) (%s)", m[2], m[1])
			rs, err := p.query(expr)
			if err != nil {
				t.Errorf("%s: variable %s: %s: %v", name, v.Name, expr, err)
				continue
			}
			var got []string
			for _, r := range rs {
				got = append(got, r.Metric[m[2]])
			}
			if v.Name == "index" {
				for _, want := range indexes {
					if !slices.Contains(got, want) {
						t.Errorf("%s: variable index offers %v, not %s", name, got, want)
					}
				}
			} else if len(got) == 0 {
				t.Errorf("%s: variable %s has no values", name, v.Name)
			}
		}
		var panels []grafanaPanel
		for _, pn := range dash.Panels {
			panels = append(panels, pn)
			panels = append(panels, pn.Panels...)
		}
		for _, pn := range panels {
			for _, tg := range pn.Targets {
				expr := replacer.Replace(tg.Expr)
				queries++
				rs, err := p.query(expr)
				switch {
				case err != nil:
					t.Errorf("%s: panel %q %s: %s: %v", name, pn.Title, tg.RefID, expr, err)
				case len(rs) == 0:
					t.Errorf("%s: panel %q %s: %s: no data", name, pn.Title, tg.RefID, expr)
				}
			}
		}
	}
	t.Logf("%d dashboards, %d panel queries evaluated", len(files), queries)
}

// checkRules requires every alert rule loaded and evaluating without error,
// and the dead-letter alert firing for the poison record.
func (p *promServer) checkRules(t *testing.T) {
	type rule struct {
		Name      string `json:"name"`
		Health    string `json:"health"`
		LastError string `json:"lastError"`
		Type      string `json:"type"`
		Alerts    []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	fetch := func() map[string]rule {
		resp, err := http.Get("http://" + p.addr + "/api/v1/rules")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Data struct {
				Groups []struct {
					Rules []rule `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		out := map[string]rule{}
		for _, g := range body.Data.Groups {
			for _, r := range g.Rules {
				out[r.Name] = r
			}
		}
		return out
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		rules := fetch()
		firing := false
		for _, a := range rules["TermflowDeadLetters"].Alerts {
			firing = firing || (a.State == "firing" && a.Labels["stage"] == "indexer")
		}
		unevaluated := false
		for _, r := range rules {
			unevaluated = unevaluated || r.Health == "unknown"
		}
		if firing && !unevaluated {
			var names []string
			for name, r := range rules {
				names = append(names, name)
				if r.Health != "ok" {
					t.Errorf("rule %s: health %s: %s", name, r.Health, r.LastError)
				}
			}
			sort.Strings(names)
			for _, want := range []string{"TermflowServiceDown", "TermflowDocumentsLagGrowing", "TermflowDirtyTermsLagGrowing",
				"TermflowPersisterStalled", "TermflowPersisterRetrying", "TermflowDeadLetters", "TermflowOperationStuck"} {
				if !slices.Contains(names, want) {
					t.Errorf("alert %s not loaded (have %v)", want, names)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: TermflowDeadLetters firing=%v, rules not yet evaluated=%v: %+v", firing, unevaluated, rules)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// requiredMetrics are the families issue 5 asks of each service.
var requiredMetrics = map[string][]string{
	"ingest": {"termflow_ingest_documents_accepted_total", "termflow_ingest_documents_rejected_total",
		"termflow_ingest_operations", "termflow_ingest_requests_total", "termflow_ingest_mongo_command_duration_seconds",
		"termflow_ingest_mongo_command_errors_total", "termflow_ingest_kafka_connects_total",
		"termflow_ingest_documents_kafka_produce_bytes_total", "go_goroutines", "process_cpu_seconds_total"},
	"indexer": {"termflow_indexer_batches_indexed_total", "termflow_indexer_documents_indexed_total",
		"termflow_indexer_batch_duration_seconds", "termflow_indexer_batch_dirty_terms", "termflow_indexer_consumer_lag_records",
		"termflow_indexer_dead_letter_records_total", "termflow_pebble_disk_usage_bytes", "termflow_pebble_compactions_total",
		"termflow_pebble_write_stalls_total", "termflow_indexer_kafka_fetch_bytes_total", "go_goroutines", "process_cpu_seconds_total"},
	"persister": {"termflow_persister_events_applied_total", "termflow_persister_documents_persisted_total",
		"termflow_persister_persistence_latency_seconds", "termflow_persister_consumer_lag_records",
		"termflow_persister_mongo_command_duration_seconds", "termflow_persister_mongo_command_errors_total",
		"termflow_persister_retries_total", "termflow_persister_dead_letter_records_total",
		"termflow_persister_kafka_fetch_bytes_total", "go_goroutines", "process_cpu_seconds_total"},
}

// kpromGauges are kprom's gauges named like counters (franz-go's plugin,
// not ours); the linters' complaint about their _total suffix is expected.
var kpromGauges = regexp.MustCompile(`^termflow_\w+_kafka_buffered_(produce|fetch)_records_total$`)

// lintMetrics checks a service's /metrics with promtool check metrics and
// client_golang's linter (the same as testutil.CollectAndLint, on the
// exposition) and requires the families issue 5 lists.
func lintMetrics(t *testing.T, name, addr string) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("%s /metrics: %v", name, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s /metrics: %d %v", name, resp.StatusCode, err)
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("%s: promlint: %v", name, err)
	}
	for _, p := range problems {
		if kpromGauges.MatchString(p.Metric) {
			continue
		}
		t.Errorf("%s: lint %s: %s", name, p.Metric, p.Text)
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		// promtool exits 3 on lint problems: accept only kprom's.
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			metric, _, _ := strings.Cut(line, " ")
			if line == "" || kpromGauges.MatchString(metric) {
				continue
			}
			t.Errorf("%s: promtool check metrics: %s", name, line)
		}
	}
	families := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f, _, _ := strings.Cut(rest, " ")
			families[f] = true
		}
	}
	for _, want := range requiredMetrics[name] {
		if !families[want] {
			t.Errorf("%s: /metrics lacks %s", name, want)
		}
	}
	for f := range families {
		if strings.HasPrefix(f, "termflow_") && !strings.HasPrefix(f, "termflow_"+name+"_") && !strings.HasPrefix(f, "termflow_pebble_") {
			t.Errorf("%s: metric %s is not named termflow_%s_*", name, f, name)
		}
	}
}
