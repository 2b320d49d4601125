// Package compose holds the subset of the Compose file format that the
// consistency test of the repository's docker-compose.yml needs, plus small
// helpers for the short-syntax strings (ports, mounts, host:port values).
//
// The test itself (compose_test.go) checks docker-compose.yml against the
// repository and the Prometheus/Grafana configuration under deploy/.
package compose

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// File is a Compose file.
type File struct {
	Name     string             `yaml:"name"`
	Services map[string]Service `yaml:"services"`
	// Volumes are the declared named volumes (values are often null).
	Volumes map[string]*yaml.Node `yaml:"volumes"`
}

// Service is one Compose service.
type Service struct {
	Image         string       `yaml:"image"`
	Build         *Build       `yaml:"build"`
	Hostname      string       `yaml:"hostname"`
	Command       StringOrList `yaml:"command"`
	Environment   Environment  `yaml:"environment"`
	Ports         []Port       `yaml:"ports"`
	Expose        []string     `yaml:"expose"`
	Volumes       []Mount      `yaml:"volumes"`
	DependsOn     DependsOn    `yaml:"depends_on"`
	Healthcheck   *Healthcheck `yaml:"healthcheck"`
	Restart       string       `yaml:"restart"`
	StopGraceTime string       `yaml:"stop_grace_period"`
}

// Build is the build section (string context or long form).
type Build struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

// UnmarshalYAML accepts `build: ./dir` and the long form.
func (b *Build) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		b.Context = n.Value
		return nil
	}
	type plain Build
	return n.Decode((*plain)(b))
}

// Healthcheck is a service health check.
type Healthcheck struct {
	Test     StringOrList `yaml:"test"`
	Disable  bool         `yaml:"disable"`
	Interval string       `yaml:"interval"`
	Timeout  string       `yaml:"timeout"`
	Retries  int          `yaml:"retries"`
}

// StringOrList is a command-like value: a string or a list of strings.
type StringOrList []string

// UnmarshalYAML accepts a scalar or a sequence.
func (s *StringOrList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = StringOrList{n.Value}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*s = l
	return nil
}

// Environment is a service environment, from either the map or the
// KEY=VALUE list form. Merge keys (<<: *anchor) are resolved.
type Environment map[string]string

// UnmarshalYAML accepts both forms.
func (e *Environment) UnmarshalYAML(n *yaml.Node) error {
	env := Environment{}
	switch n.Kind {
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, kv := range l {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	default:
		var m map[string]*string
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			if v != nil {
				env[k] = *v
			} else {
				env[k] = ""
			}
		}
	}
	*e = env
	return nil
}

// DependsOn maps a dependency to its condition ("service_started" for the
// short list form).
type DependsOn map[string]string

// UnmarshalYAML accepts the list and the map form.
func (d *DependsOn) UnmarshalYAML(n *yaml.Node) error {
	deps := DependsOn{}
	if n.Kind == yaml.SequenceNode {
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, s := range l {
			deps[s] = "service_started"
		}
	} else {
		var m map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			c := v.Condition
			if c == "" {
				c = "service_started"
			}
			deps[k] = c
		}
	}
	*d = deps
	return nil
}

// Port is a port mapping. Published is 0 when the port is not published on
// the host.
type Port struct {
	HostIP    string
	Published int
	Target    int
	Protocol  string
}

// UnmarshalYAML accepts the short syntax ("8080:8080", "127.0.0.1:80:8080",
// "9090", "53:53/udp") and the long syntax.
func (p *Port) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		q, err := ParsePort(n.Value)
		if err != nil {
			return err
		}
		*p = q
		return nil
	}
	var long struct {
		Target    int    `yaml:"target"`
		Published string `yaml:"published"`
		HostIP    string `yaml:"host_ip"`
		Protocol  string `yaml:"protocol"`
	}
	if err := n.Decode(&long); err != nil {
		return err
	}
	*p = Port{HostIP: long.HostIP, Target: long.Target, Protocol: long.Protocol}
	if long.Published != "" {
		pub, err := strconv.Atoi(long.Published)
		if err != nil {
			return fmt.Errorf("port published %q: %w", long.Published, err)
		}
		p.Published = pub
	}
	if p.Protocol == "" {
		p.Protocol = "tcp"
	}
	return nil
}

// ParsePort parses the short port syntax [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL].
// Port ranges are not supported.
func ParsePort(s string) (Port, error) {
	p := Port{Protocol: "tcp"}
	rest := s
	if i := strings.LastIndex(rest, "/"); i >= 0 {
		p.Protocol, rest = rest[i+1:], rest[:i]
	}
	if strings.HasPrefix(rest, "[") { // [::1]:8080:8080
		end := strings.Index(rest, "]:")
		if end < 0 {
			return Port{}, fmt.Errorf("port %q: bad IPv6 host address", s)
		}
		p.HostIP, rest = rest[1:end], rest[end+2:]
	}
	parts := strings.Split(rest, ":")
	if p.HostIP == "" && len(parts) == 3 {
		p.HostIP, parts = parts[0], parts[1:]
	}
	num := func(v string) (int, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 65535 {
			return 0, fmt.Errorf("port %q: bad port number %q", s, v)
		}
		return n, nil
	}
	var err error
	switch len(parts) {
	case 1:
		p.Target, err = num(parts[0])
	case 2:
		if p.Published, err = num(parts[0]); err == nil {
			p.Target, err = num(parts[1])
		}
	default:
		err = fmt.Errorf("port %q: cannot parse", s)
	}
	if err != nil {
		return Port{}, err
	}
	return p, nil
}

// Mount is a service volume entry.
type Mount struct {
	// Type is "bind", "volume" or "tmpfs"; a named volume has Type
	// "volume" and a Source, an anonymous one has no Source.
	Type     string
	Source   string
	Target   string
	ReadOnly bool
}

// UnmarshalYAML accepts the short ("SRC:DST[:MODE]") and long syntax.
func (m *Mount) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		q, err := ParseMount(n.Value)
		if err != nil {
			return err
		}
		*m = q
		return nil
	}
	var long struct {
		Type     string `yaml:"type"`
		Source   string `yaml:"source"`
		Target   string `yaml:"target"`
		ReadOnly bool   `yaml:"read_only"`
	}
	if err := n.Decode(&long); err != nil {
		return err
	}
	*m = Mount(long)
	return nil
}

// ParseMount parses the short volume syntax.
func ParseMount(s string) (Mount, error) {
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 1:
		return Mount{Type: "volume", Target: parts[0]}, nil
	case 2, 3:
		m := Mount{Source: parts[0], Target: parts[1]}
		if len(parts) == 3 {
			for _, opt := range strings.Split(parts[2], ",") {
				if opt == "ro" {
					m.ReadOnly = true
				}
			}
		}
		if IsHostPath(m.Source) {
			m.Type = "bind"
		} else {
			m.Type = "volume"
		}
		return m, nil
	}
	return Mount{}, fmt.Errorf("volume %q: cannot parse", s)
}

// IsHostPath reports whether a short-syntax volume source is a host path
// (and not a named volume).
func IsHostPath(src string) bool {
	return src == "." || src == ".." || strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../") ||
		strings.HasPrefix(src, "/") || strings.HasPrefix(src, "~")
}

// HostPort is a host:port reference found in a configuration value.
type HostPort struct {
	Host string
	Port int
}

func (hp HostPort) String() string { return net.JoinHostPort(hp.Host, strconv.Itoa(hp.Port)) }

// IsWildcard reports whether the host is a listen-on-all-interfaces
// address (empty, 0.0.0.0 or ::).
func (hp HostPort) IsWildcard() bool {
	return hp.Host == "" || hp.Host == "0.0.0.0" || hp.Host == "::"
}

// IsLoopback reports whether the host is localhost or a loopback address.
func (hp HostPort) IsLoopback() bool {
	if hp.Host == "localhost" {
		return true
	}
	ip := net.ParseIP(hp.Host)
	return ip != nil && ip.IsLoopback()
}

var interpolation = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(?:(?::?[-?+])([^}]*))?\}`)

// HostPorts extracts host:port references from a configuration value such
// as "kafka:9092", "a:1,b:2", "mongodb://user:pw@mongo:27017/db?x=y",
// "INTERNAL://kafka:9092,EXTERNAL://localhost:9092", "1@kafka:9093" or
// "0.0.0.0:8080". Compose ${VAR:-default} interpolations are replaced by
// their default. Things like "INTERNAL:PLAINTEXT" (no numeric port) are not
// references.
func HostPorts(value string) []HostPort {
	value = interpolation.ReplaceAllString(value, "$1")
	var out []HostPort
	for _, tok := range strings.FieldsFunc(value, func(r rune) bool {
		return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n'
	}) {
		if _, after, ok := strings.Cut(tok, "://"); ok {
			tok = after
		}
		if i := strings.IndexAny(tok, "/?#"); i >= 0 {
			tok = tok[:i]
		}
		if i := strings.LastIndex(tok, "@"); i >= 0 {
			tok = tok[i+1:]
		}
		host, port, err := net.SplitHostPort(tok)
		if err != nil {
			continue
		}
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 || n > 65535 {
			continue
		}
		out = append(out, HostPort{Host: host, Port: n})
	}
	return out
}

// ContainerPorts returns the ports a service is known to listen on inside
// the compose network: container ports of `ports`, `expose` entries, and
// ports of listen addresses (wildcard host) in its environment.
func (s Service) ContainerPorts() map[int]bool {
	ports := map[int]bool{}
	for _, p := range s.Ports {
		ports[p.Target] = true
	}
	for _, e := range s.Expose {
		e, _, _ = strings.Cut(e, "/")
		if n, err := strconv.Atoi(e); err == nil {
			ports[n] = true
		}
	}
	for _, v := range s.Environment {
		for _, hp := range HostPorts(v) {
			if hp.IsWildcard() {
				ports[hp.Port] = true
			}
		}
	}
	return ports
}

// Load parses a Compose file.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &f, nil
}

// RepoRoot walks up from dir to the directory containing go.work.
func RepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.work found above %s", dir)
		}
		dir = parent
	}
}
