package compose

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// termflowListen names, for each Termflow service, the environment
// variable holding the address its HTTP/metrics endpoint listens on.
var termflowListen = map[string]string{
	"ingest":    "TERMFLOW_HTTP_ADDR",
	"indexer":   "TERMFLOW_OPS_ADDR",
	"persister": "TERMFLOW_OPS_ADDR",
}

// loopbackAllowed lists the environment variables that may legitimately
// name localhost: addresses meant for clients on the Docker host.
var loopbackAllowed = map[string]map[string]bool{
	"kafka": {"KAFKA_ADVERTISED_LISTENERS": true}, // EXTERNAL://localhost:9092
}

type repo struct {
	root    string
	compose *File
}

func load(t *testing.T) repo {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Load(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	return repo{root: root, compose: f}
}

// mountTarget returns the container path where service svc mounts the
// repository path hostPath (e.g. "./deploy/grafana/dashboards").
func (r repo) mountTarget(t *testing.T, svc, hostPath string) string {
	t.Helper()
	for _, m := range r.compose.Services[svc].Volumes {
		if m.Type == "bind" && path.Clean(m.Source) == path.Clean(hostPath) {
			return m.Target
		}
	}
	t.Fatalf("service %s does not bind-mount %s", svc, hostPath)
	return ""
}

func (r repo) listenPort(t *testing.T, svc string) int {
	t.Helper()
	env := termflowListen[svc]
	hps := HostPorts(r.compose.Services[svc].Environment[env])
	if len(hps) != 1 {
		t.Fatalf("%s: %s=%q is not a host:port", svc, env, r.compose.Services[svc].Environment[env])
	}
	return hps[0].Port
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestServicesExist(t *testing.T) {
	r := load(t)
	for _, name := range []string{"kafka", "mongo", "ingest", "indexer", "persister", "prometheus", "grafana"} {
		if _, ok := r.compose.Services[name]; !ok {
			t.Errorf("service %q missing (have %v)", name, sortedKeys(r.compose.Services))
		}
	}
	for name, svc := range r.compose.Services {
		if svc.Image == "" && svc.Build == nil {
			t.Errorf("service %s has neither image nor build", name)
		}
	}
}

func TestTermflowServicesShareTheRepoImage(t *testing.T) {
	r := load(t)
	var image string
	for _, name := range sortedKeys(termflowListen) {
		svc := r.compose.Services[name]
		if svc.Build == nil {
			t.Errorf("%s: no build section", name)
			continue
		}
		ctx := filepath.Join(r.root, filepath.FromSlash(svc.Build.Context))
		dockerfile := svc.Build.Dockerfile
		if dockerfile == "" {
			dockerfile = "Dockerfile"
		}
		if _, err := os.Stat(filepath.Join(ctx, dockerfile)); err != nil {
			t.Errorf("%s: build dockerfile: %v", name, err)
		}
		if image == "" {
			image = svc.Image
		} else if svc.Image != image {
			t.Errorf("%s: image %q, want the shared image %q", name, svc.Image, image)
		}
		if want := "termflow-" + name; len(svc.Command) == 0 || svc.Command[0] != want {
			t.Errorf("%s: command %q, want it to run %s", name, svc.Command, want)
		}
		for _, env := range []string{"KAFKA_BROKERS", "MONGO_URI", termflowListen[name]} {
			if svc.Environment[env] == "" {
				t.Errorf("%s: environment %s not set", name, env)
			}
		}
	}
	idx := r.compose.Services["indexer"]
	if idx.Environment["TERMFLOW_INSTANCE_ID"] == "" {
		t.Error("indexer: TERMFLOW_INSTANCE_ID not set")
	}
	dataDir := idx.Environment["TERMFLOW_DATA_DIR"]
	if !slices.ContainsFunc(idx.Volumes, func(m Mount) bool { return m.Type == "volume" && m.Source != "" && m.Target == dataDir }) {
		t.Errorf("indexer: TERMFLOW_DATA_DIR=%q is not a named volume mount", dataDir)
	}
}

func TestBindMountsExist(t *testing.T) {
	r := load(t)
	n := 0
	for _, name := range sortedKeys(r.compose.Services) {
		for _, m := range r.compose.Services[name].Volumes {
			if m.Type != "bind" {
				continue
			}
			n++
			if !strings.HasPrefix(m.Source, "./") && !strings.HasPrefix(m.Source, "../") {
				t.Errorf("%s: bind mount %q is not relative to the repository", name, m.Source)
				continue
			}
			p := filepath.Join(r.root, filepath.FromSlash(m.Source))
			if rel, err := filepath.Rel(r.root, p); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s: bind mount %q leaves the repository", name, m.Source)
				continue
			}
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s: bind mount source missing: %v", name, err)
			}
			if !m.ReadOnly {
				t.Errorf("%s: configuration bind mount %s should be read-only", name, m.Source)
			}
		}
	}
	if n == 0 {
		t.Error("no bind mounts found; the parser is probably broken")
	}
}

func TestNamedVolumesDeclared(t *testing.T) {
	r := load(t)
	used := map[string]bool{}
	for _, name := range sortedKeys(r.compose.Services) {
		for _, m := range r.compose.Services[name].Volumes {
			if m.Type != "volume" || m.Source == "" {
				continue
			}
			used[m.Source] = true
			if _, ok := r.compose.Volumes[m.Source]; !ok {
				t.Errorf("%s: named volume %q is not declared under volumes:", name, m.Source)
			}
		}
	}
	for v := range r.compose.Volumes {
		if !used[v] {
			t.Errorf("volume %q is declared but never used", v)
		}
	}
	for _, v := range []string{"mongo-data", "indexer-data"} {
		if !used[v] {
			t.Errorf("volume %q not used", v)
		}
	}
}

func TestPublishedPorts(t *testing.T) {
	r := load(t)
	published := map[int]string{}
	for _, name := range sortedKeys(r.compose.Services) {
		for _, p := range r.compose.Services[name].Ports {
			if p.Published == 0 {
				continue
			}
			key := p.Published
			if other, dup := published[key]; dup {
				t.Errorf("host port %d published by both %s and %s", key, other, name)
			}
			published[key] = name
		}
	}
	for port, svc := range map[int]string{8080: "ingest", 9090: "prometheus", 3000: "grafana", 9092: "kafka"} {
		if published[port] != svc {
			t.Errorf("host port %d: published by %q, want %q", port, published[port], svc)
		}
	}
	// Published container ports of the Termflow services are the ones
	// they listen on.
	for _, name := range sortedKeys(termflowListen) {
		port := r.listenPort(t, name)
		ports := r.compose.Services[name].Ports
		if name == "ingest" && !slices.ContainsFunc(ports, func(p Port) bool { return p.Target == port && p.Published != 0 }) {
			t.Errorf("ingest listens on %d but does not publish it", port)
		}
		for _, p := range ports {
			if p.Target != port {
				t.Errorf("%s publishes container port %d but listens on %d", name, p.Target, port)
			}
		}
	}
}

func TestEnvironmentHostPortsReferToServices(t *testing.T) {
	r := load(t)
	refs := 0
	for _, name := range sortedKeys(r.compose.Services) {
		env := r.compose.Services[name].Environment
		for _, key := range sortedKeys(env) {
			for _, hp := range HostPorts(env[key]) {
				switch {
				case hp.IsWildcard():
					continue // a listen address
				case hp.IsLoopback():
					if !loopbackAllowed[name][key] {
						t.Errorf("%s: %s=%q names %s, which inside a container is the container itself",
							name, key, env[key], hp)
					}
					continue
				}
				refs++
				target, ok := r.compose.Services[hp.Host]
				if !ok {
					t.Errorf("%s: %s=%q names %q, which is not a compose service", name, key, env[key], hp.Host)
					continue
				}
				if ports := target.ContainerPorts(); !ports[hp.Port] {
					t.Errorf("%s: %s=%q: service %s does not listen on port %d (known ports %v)",
						name, key, env[key], hp.Host, hp.Port, ports)
				}
			}
		}
	}
	if refs == 0 {
		t.Error("no host:port references found; the parser is probably broken")
	}
	for _, name := range sortedKeys(termflowListen) {
		env := r.compose.Services[name].Environment
		if hps := HostPorts(env["KAFKA_BROKERS"]); len(hps) == 0 || hps[0].Host != "kafka" {
			t.Errorf("%s: KAFKA_BROKERS=%q, want kafka:<port>", name, env["KAFKA_BROKERS"])
		}
		if hps := HostPorts(env["MONGO_URI"]); len(hps) == 0 || hps[0].Host != "mongo" {
			t.Errorf("%s: MONGO_URI=%q, want mongodb://mongo:<port>", name, env["MONGO_URI"])
		}
	}
}

func TestDependsOnAndHealthchecks(t *testing.T) {
	r := load(t)
	for _, name := range sortedKeys(r.compose.Services) {
		svc := r.compose.Services[name]
		for dep, cond := range svc.DependsOn {
			target, ok := r.compose.Services[dep]
			if !ok {
				t.Errorf("%s depends on unknown service %q", name, dep)
				continue
			}
			if cond == "service_healthy" && (target.Healthcheck == nil || target.Healthcheck.Disable || len(target.Healthcheck.Test) == 0) {
				t.Errorf("%s waits for %s to be healthy, but %s has no health check", name, dep, dep)
			}
		}
	}
	for name := range termflowListen {
		svc := r.compose.Services[name]
		for _, dep := range []string{"kafka", "mongo"} {
			if svc.DependsOn[dep] != "service_healthy" {
				t.Errorf("%s: depends_on %s = %q, want service_healthy", name, dep, svc.DependsOn[dep])
			}
		}
		// The health check probes the port the service listens on.
		hc := svc.Healthcheck
		if hc == nil {
			t.Errorf("%s: no health check", name)
			continue
		}
		want := ":" + strconv.Itoa(r.listenPort(t, name)) + "/"
		if !strings.Contains(strings.Join(hc.Test, " "), want) {
			t.Errorf("%s: health check %q does not probe port %s", name, hc.Test, want)
		}
	}
}

// prometheusConfig is the part of prometheus.yml the test checks.
type prometheusConfig struct {
	Global struct {
		ScrapeInterval string `yaml:"scrape_interval"`
	} `yaml:"global"`
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		Scheme        string `yaml:"scheme"`
		StaticConfigs []struct {
			Targets []string          `yaml:"targets"`
			Labels  map[string]string `yaml:"labels"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func TestPrometheusConfig(t *testing.T) {
	r := load(t)
	const configPath = "./deploy/prometheus/prometheus.yml"
	data, err := os.ReadFile(filepath.Join(r.root, filepath.FromSlash(configPath)))
	if err != nil {
		t.Fatal(err)
	}
	var cfg prometheusConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}

	// The config is mounted where --config.file points.
	prom := r.compose.Services["prometheus"]
	target := r.mountTarget(t, "prometheus", configPath)
	if !slices.Contains(prom.Command, "--config.file="+target) {
		t.Errorf("prometheus command %q does not load %s", prom.Command, target)
	}
	rulesDir := r.mountTarget(t, "prometheus", "./deploy/prometheus/rules")
	if len(cfg.RuleFiles) == 0 {
		t.Error("prometheus.yml has no rule_files")
	}
	for _, rf := range cfg.RuleFiles {
		if !strings.HasPrefix(rf, rulesDir+"/") {
			t.Errorf("rule_files entry %q is outside the mounted rules dir %s", rf, rulesDir)
		}
	}

	scraped := map[string]int{}
	jobs := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		if jobs[sc.JobName] {
			t.Errorf("duplicate job_name %q", sc.JobName)
		}
		jobs[sc.JobName] = true
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("job %s: metrics_path %q, want /metrics", sc.JobName, sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			for _, tgt := range st.Targets {
				hps := HostPorts(tgt)
				if len(hps) != 1 {
					t.Errorf("job %s: target %q is not host:port", sc.JobName, tgt)
					continue
				}
				hp := hps[0]
				svc, ok := r.compose.Services[hp.Host]
				if !ok {
					t.Errorf("job %s: target %s is not a compose service", sc.JobName, tgt)
					continue
				}
				if _, isTermflow := termflowListen[hp.Host]; isTermflow {
					if want := r.listenPort(t, hp.Host); hp.Port != want {
						t.Errorf("job %s: target %s, but %s listens on %d (%s)",
							sc.JobName, tgt, hp.Host, want, termflowListen[hp.Host])
					}
				} else if !svc.ContainerPorts()[hp.Port] {
					t.Errorf("job %s: target %s: %s does not listen on %d", sc.JobName, tgt, hp.Host, hp.Port)
				}
				scraped[hp.Host] = hp.Port
			}
		}
	}
	for svc, port := range map[string]int{"ingest": 8080, "indexer": 8081, "persister": 8082} {
		if scraped[svc] != port {
			t.Errorf("%s: scraped on port %d, want %d", svc, scraped[svc], port)
		}
	}
}

func TestGrafanaProvisioning(t *testing.T) {
	r := load(t)
	graf := r.compose.Services["grafana"]
	if graf.Environment["GF_AUTH_ANONYMOUS_ENABLED"] != "true" || graf.Environment["GF_AUTH_ANONYMOUS_ORG_ROLE"] != "Viewer" {
		t.Errorf("grafana: anonymous viewer access not configured: %v", graf.Environment)
	}
	provDir := r.mountTarget(t, "grafana", "./deploy/grafana/provisioning")
	want := graf.Environment["GF_PATHS_PROVISIONING"]
	if want == "" {
		want = "/etc/grafana/provisioning" // Grafana's default
	}
	if provDir != want {
		t.Errorf("provisioning mounted at %s, Grafana reads %s", provDir, want)
	}

	// Datasource.
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, Type, UID, URL, Access string
		} `yaml:"datasources"`
	}
	readYAML(t, r, "deploy/grafana/provisioning/datasources/prometheus.yml", &ds)
	found := false
	for _, d := range ds.Datasources {
		if d.UID != "prometheus" {
			continue
		}
		found = true
		if d.Type != "prometheus" {
			t.Errorf("datasource uid prometheus has type %q", d.Type)
		}
		hps := HostPorts(d.URL)
		if len(hps) != 1 {
			t.Errorf("datasource url %q has no host:port", d.URL)
			continue
		}
		if svc, ok := r.compose.Services[hps[0].Host]; !ok || !svc.ContainerPorts()[hps[0].Port] {
			t.Errorf("datasource url %q does not point at a compose service port", d.URL)
		}
	}
	if !found {
		t.Error("no datasource with uid prometheus")
	}

	// Dashboard provider points at the mounted dashboards directory.
	var prov struct {
		Providers []struct {
			Name    string `yaml:"name"`
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, r, "deploy/grafana/provisioning/dashboards/termflow.yml", &prov)
	dashDir := r.mountTarget(t, "grafana", "./deploy/grafana/dashboards")
	if len(prov.Providers) == 0 {
		t.Fatal("no dashboard providers")
	}
	for _, p := range prov.Providers {
		if p.Type != "file" || path.Clean(p.Options.Path) != path.Clean(dashDir) {
			t.Errorf("provider %s: type %q path %q, want file provider at %s", p.Name, p.Type, p.Options.Path, dashDir)
		}
	}
	if home := graf.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" {
		rel, ok := strings.CutPrefix(home, dashDir+"/")
		if _, err := os.Stat(filepath.Join(r.root, "deploy/grafana/dashboards", rel)); !ok || err != nil {
			t.Errorf("home dashboard %s is not a file in the mounted dashboards dir", home)
		}
	}
}

func readYAML(t *testing.T, r repo, rel string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(r.root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

type dashboardPanel struct {
	ID         int              `json:"id"`
	Type       string           `json:"type"`
	Title      string           `json:"title"`
	Datasource *datasourceRef   `json:"datasource"`
	Targets    []dashboardQuery `json:"targets"`
	Panels     []dashboardPanel `json:"panels"` // collapsed rows
}

type dashboardQuery struct {
	RefID      string         `json:"refId"`
	Expr       string         `json:"expr"`
	Datasource *datasourceRef `json:"datasource"`
}

// datasourceRef is {"type": ..., "uid": ...}; legacy dashboards use a
// plain datasource name string, which the test rejects.
type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func TestDashboards(t *testing.T) {
	r := load(t)
	dir := filepath.Join(r.root, "deploy", "grafana", "dashboards")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no dashboards in %s", dir)
	}
	uids := map[string]string{}
	exprs := map[string]bool{}
	for _, file := range files {
		name := filepath.Base(file)
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var dash struct {
			UID           string           `json:"uid"`
			Title         string           `json:"title"`
			SchemaVersion int              `json:"schemaVersion"`
			Panels        []dashboardPanel `json:"panels"`
		}
		if err := json.Unmarshal(data, &dash); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if dash.UID == "" || dash.Title == "" || dash.SchemaVersion == 0 {
			t.Errorf("%s: uid/title/schemaVersion missing", name)
		}
		if other, dup := uids[dash.UID]; dup {
			t.Errorf("%s: uid %q also used by %s", name, dash.UID, other)
		}
		uids[dash.UID] = name

		var panels []dashboardPanel
		for _, p := range dash.Panels {
			panels = append(panels, p)
			panels = append(panels, p.Panels...)
		}
		ids := map[int]bool{}
		queries := 0
		for _, p := range panels {
			if ids[p.ID] {
				t.Errorf("%s: duplicate panel id %d", name, p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no targets", name, p.Title)
			}
			refs := map[string]bool{}
			for _, q := range p.Targets {
				queries++
				if refs[q.RefID] {
					t.Errorf("%s: panel %q: duplicate refId %q", name, p.Title, q.RefID)
				}
				refs[q.RefID] = true
				if strings.TrimSpace(q.Expr) == "" {
					t.Errorf("%s: panel %q: target %s has no expr", name, p.Title, q.RefID)
				}
				exprs[q.Expr] = true
				ds := q.Datasource
				if ds == nil {
					ds = p.Datasource
				}
				if ds == nil || ds.UID != "prometheus" {
					t.Errorf("%s: panel %q: target %s does not use datasource uid prometheus", name, p.Title, q.RefID)
				}
			}
		}
		if queries == 0 {
			t.Errorf("%s: no queries", name)
		}
	}
	for _, want := range []string{
		"sum(rate(termflow_ingest_documents_accepted_total[1m]))",
		"sum(rate(termflow_indexer_documents_indexed_total[1m]))",
		"sum(rate(termflow_persister_documents_persisted_total[1m]))",
		"sum(termflow_indexer_consumer_lag_records)",
		"sum by (status) (termflow_ingest_operations)",
	} {
		if !exprs[want] {
			t.Errorf("no dashboard panel queries %s", want)
		}
	}
}

func TestParsePort(t *testing.T) {
	tests := []struct {
		in   string
		want Port
		err  bool
	}{
		{in: "8080:8080", want: Port{Published: 8080, Target: 8080, Protocol: "tcp"}},
		{in: "9092:29092", want: Port{Published: 9092, Target: 29092, Protocol: "tcp"}},
		{in: "127.0.0.1:3000:3000", want: Port{HostIP: "127.0.0.1", Published: 3000, Target: 3000, Protocol: "tcp"}},
		{in: "[::1]:53:53/udp", want: Port{HostIP: "::1", Published: 53, Target: 53, Protocol: "udp"}},
		{in: "9090", want: Port{Target: 9090, Protocol: "tcp"}},
		{in: "x:80", err: true},
		{in: "1:2:3:4", err: true},
	}
	for _, tc := range tests {
		got, err := ParsePort(tc.in)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("ParsePort(%q) = %+v, %v; want %+v, err=%v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseMount(t *testing.T) {
	tests := []struct {
		in   string
		want Mount
	}{
		{"./deploy/x.yml:/etc/x.yml:ro", Mount{Type: "bind", Source: "./deploy/x.yml", Target: "/etc/x.yml", ReadOnly: true}},
		{"data:/data", Mount{Type: "volume", Source: "data", Target: "/data"}},
		{"/var/run/docker.sock:/var/run/docker.sock", Mount{Type: "bind", Source: "/var/run/docker.sock", Target: "/var/run/docker.sock"}},
		{"/scratch", Mount{Type: "volume", Target: "/scratch"}},
	}
	for _, tc := range tests {
		got, err := ParseMount(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseMount(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestHostPorts(t *testing.T) {
	tests := []struct {
		in   string
		want []HostPort
	}{
		{"kafka:9092", []HostPort{{"kafka", 9092}}},
		{"kafka:9092, kafka2:9093", []HostPort{{"kafka", 9092}, {"kafka2", 9093}}},
		{"mongodb://user:pw@mongo:27017/db?replicaSet=rs0", []HostPort{{"mongo", 27017}}},
		{"mongodb://a:1,b:2/db", []HostPort{{"a", 1}, {"b", 2}}},
		{"INTERNAL://kafka:9092,EXTERNAL://localhost:9092", []HostPort{{"kafka", 9092}, {"localhost", 9092}}},
		{"1@kafka:9093", []HostPort{{"kafka", 9093}}},
		{"0.0.0.0:8080", []HostPort{{"0.0.0.0", 8080}}},
		{":8081", []HostPort{{"", 8081}}},
		{"http://[::1]:9090/metrics", []HostPort{{"::1", 9090}}},
		{"${MONGO:-mongodb://mongo:27017}", []HostPort{{"mongo", 27017}}},
		{"INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT", nil},
		{"-Xms512m -Xmx1g", nil},
		{"/etc/grafana/dashboards/x.json", nil},
	}
	for _, tc := range tests {
		if got := HostPorts(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("HostPorts(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestEnvironmentForms(t *testing.T) {
	const doc = `
x-common: &common
  A: "1"
services:
  list:
    environment: ["X=1", "Y=a=b", "EMPTY="]
  map:
    environment:
      <<: *common
      B: two
      N:
    depends_on: [list]
    ports:
      - target: 80
        published: "8000"
    volumes:
      - type: bind
        source: ./x
        target: /x
        read_only: true
`
	var f File
	if err := yaml.Unmarshal([]byte(doc), &f); err != nil {
		t.Fatal(err)
	}
	if got := f.Services["list"].Environment; got["X"] != "1" || got["Y"] != "a=b" || len(got) != 3 {
		t.Errorf("list env = %v", got)
	}
	m := f.Services["map"]
	if got := m.Environment; got["A"] != "1" || got["B"] != "two" || len(got) != 3 {
		t.Errorf("map env with merge key = %v", got)
	}
	if m.DependsOn["list"] != "service_started" {
		t.Errorf("depends_on = %v", m.DependsOn)
	}
	if len(m.Ports) != 1 || m.Ports[0] != (Port{Published: 8000, Target: 80, Protocol: "tcp"}) {
		t.Errorf("long port = %+v", m.Ports)
	}
	if len(m.Volumes) != 1 || m.Volumes[0] != (Mount{Type: "bind", Source: "./x", Target: "/x", ReadOnly: true}) {
		t.Errorf("long volume = %+v", m.Volumes)
	}
}
