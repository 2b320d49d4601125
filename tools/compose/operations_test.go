package compose

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/termflow/termflow/pkg/topic"
)

// TestKafkaInitCreatesTheServicesTopics checks that the compose stack's
// kafka-init creates exactly the topics the services use, with the partition
// counts and settings pkg/topic specifies (a service refuses a topic that
// contradicts its spec), and that the services wait for it.
func TestKafkaInitCreatesTheServicesTopics(t *testing.T) {
	r := load(t)
	init, ok := r.compose.Services["kafka-init"]
	if !ok {
		t.Fatal("no kafka-init service")
	}
	if init.DependsOn["kafka"] != "service_healthy" {
		t.Errorf("kafka-init: depends_on kafka = %q, want service_healthy", init.DependsOn["kafka"])
	}
	type created struct {
		partitions int
		configs    map[string]string
	}
	got := map[string]created{}
	for _, line := range strings.Split(strings.Join(init.Command, "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "topics" {
			continue
		}
		var name string
		c := created{configs: map[string]string{}}
		for i := 1; i+1 < len(f); i += 2 {
			switch f[i] {
			case "--topic":
				name = f[i+1]
			case "--partitions":
				c.partitions, _ = strconv.Atoi(f[i+1])
			case "--config":
				k, v, _ := strings.Cut(f[i+1], "=")
				c.configs[k] = v
			default:
				t.Errorf("kafka-init: unexpected argument %q in %q", f[i], line)
			}
		}
		got[name] = c
	}
	specs := topic.Defaults().All()
	for _, s := range specs {
		c, ok := got[s.Name]
		if !ok {
			t.Errorf("kafka-init does not create %s", s.Name)
			continue
		}
		if c.partitions != int(s.Partitions) {
			t.Errorf("kafka-init: %s with %d partitions, the services want %d", s.Name, c.partitions, s.Partitions)
		}
		for k, v := range s.Configs {
			if c.configs[k] != v {
				t.Errorf("kafka-init: %s %s=%q, the services want %q", s.Name, k, c.configs[k], v)
			}
		}
		for k := range c.configs {
			if _, ok := s.Configs[k]; !ok {
				t.Errorf("kafka-init: %s sets %s, which the services do not", s.Name, k)
			}
		}
	}
	if len(got) != len(specs) {
		t.Errorf("kafka-init creates %d topics, the services use %d", len(got), len(specs))
	}
	for _, name := range sortedKeys(termflowListen) {
		if c := r.compose.Services[name].DependsOn["kafka-init"]; c != "service_completed_successfully" {
			t.Errorf("%s: depends_on kafka-init = %q, want service_completed_successfully", name, c)
		}
	}
}

// TestDockerfileHasEveryWorkspaceModule: the image builds in workspace
// mode, which needs the go.mod of every module go.work lists.
func TestDockerfileHasEveryWorkspaceModule(t *testing.T) {
	r := load(t)
	work, err := os.ReadFile(filepath.Join(r.root, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	docker, err := os.ReadFile(filepath.Join(r.root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var mods []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(string(work)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "use ("):
			in = true
		case in && line == ")":
			in = false
		case in && line != "":
			mods = append(mods, strings.TrimPrefix(line, "./"))
		case strings.HasPrefix(line, "use "):
			mods = append(mods, strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(line, "use ")), "./"))
		}
	}
	if len(mods) == 0 {
		t.Fatal("no modules in go.work")
	}
	for _, m := range mods {
		if !strings.Contains(string(docker), "COPY "+m+"/go.mod ") {
			t.Errorf("Dockerfile does not copy %s/go.mod, which go.work uses: the image's go mod download fails", m)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type ruleTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestAlertsTestedAndDocumented: every alert has a promtool unit test where
// it fires and one where it stays quiet, the tests load every rule file, and
// the README's Operations section says what each alert means.
func TestAlertsTestedAndDocumented(t *testing.T) {
	r := load(t)
	ruleFiles, _ := filepath.Glob(filepath.Join(r.root, "deploy/prometheus/rules/*.yml"))
	var alerts []string
	for _, f := range ruleFiles {
		var rf ruleFile
		readYAML(t, r, must(filepath.Rel(r.root, f)), &rf)
		for _, g := range rf.Groups {
			for _, rule := range g.Rules {
				if rule.Alert != "" {
					alerts = append(alerts, rule.Alert)
				}
			}
		}
	}
	for _, want := range []string{"TermflowDocumentsLagGrowing", "TermflowPersisterStalled", "TermflowDeadLetters", "TermflowOperationStuck"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alert %s missing (issue 5: consumer lag growing, persister stalled, dead letters, operation stuck)", want)
		}
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	loaded := map[string]bool{}
	testFiles, _ := filepath.Glob(filepath.Join(r.root, "deploy/prometheus/tests/*.yml"))
	for _, f := range testFiles {
		var rt ruleTests
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, &rt); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, rf := range rt.RuleFiles {
			loaded[filepath.Clean(filepath.Join(filepath.Dir(f), rf))] = true
		}
		for _, tc := range rt.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
		}
	}
	for _, f := range ruleFiles {
		if !loaded[filepath.Clean(f)] {
			t.Errorf("no rule test loads %s", f)
		}
	}
	ops := readmeOperations(t, r)
	for _, a := range alerts {
		if !fires[a] || !quiet[a] {
			t.Errorf("alert %s: unit tests where it fires: %v, where it stays quiet: %v; want both", a, fires[a], quiet[a])
		}
		if !strings.Contains(ops, a) {
			t.Errorf("README Operations section does not explain alert %s", a)
		}
	}
}

// TestReadmeKcatRecipes: the Operations section reads every topic with kcat
// and shows how to produce a document and a tombstone.
func TestReadmeKcatRecipes(t *testing.T) {
	r := load(t)
	ops := readmeOperations(t, r)
	reads := map[string]bool{}
	produce := false
	for _, line := range strings.Split(ops, "\n") {
		if !strings.Contains(line, "kcat ") {
			continue
		}
		m := regexp.MustCompile(`-t\s+(\S+)`).FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if strings.Contains(line, " -C ") {
			reads[m[1]] = true
		}
		if strings.Contains(line, " -P ") && m[1] == topic.Defaults().Documents {
			produce = true
		}
	}
	for _, s := range topic.Defaults().All() {
		if !reads[s.Name] {
			t.Errorf("README Operations: no kcat recipe reads %s", s.Name)
		}
	}
	if !produce {
		t.Error("README Operations: no kcat recipe produces to the documents topic")
	}
	readme, _ := os.ReadFile(filepath.Join(r.root, "README.md"))
	if n := strings.Count(string(readme), "kcat -C -b"); n != strings.Count(ops, "kcat -C -b") {
		t.Errorf("kcat read recipes outside the Operations section (%d in README, %d in Operations): keep them in one place",
			n, strings.Count(ops, "kcat -C -b"))
	}
}

// TestDashboardSet: the dashboards issue 5 asks for exist and the overview
// shows both consumer lags and the errors.
func TestDashboardSet(t *testing.T) {
	r := load(t)
	titles := map[string]string{}
	exprs := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(r.root, "deploy/grafana/dashboards/*.json"))
	for _, f := range files {
		var d struct {
			Title  string           `json:"title"`
			Panels []dashboardPanel `json:"panels"`
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		titles[filepath.Base(f)] = d.Title
		for _, p := range d.Panels {
			for _, q := range p.Targets {
				exprs[q.Expr] = true
			}
		}
	}
	for _, want := range []string{"pipeline-overview.json", "per-index.json", "storage.json", "kafka-clients.json"} {
		if titles[want] == "" {
			t.Errorf("dashboard %s missing (have %v)", want, titles)
		}
	}
	for _, want := range []string{
		"sum(termflow_persister_consumer_lag_records)",
		"sum by (stage) (rate(termflow_indexer_dead_letter_records_total[5m]))",
		"sum by (stage) (rate(termflow_persister_dead_letter_records_total[5m]))",
	} {
		if !exprs[want] {
			t.Errorf("no dashboard panel queries %s", want)
		}
	}
}

// readmeOperations returns the README's "## Operations" section.
func readmeOperations(t *testing.T, r repo) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(r.root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "\n## Operations\n")
	if !ok {
		t.Fatal("README.md has no \"## Operations\" section")
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
