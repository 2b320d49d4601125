//go:build integration

package compose

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// promtool runs promtool with args in the repository root; a missing
// promtool fails the test (make integration installs it with
// scripts/prometheus.sh ensure).
func promtool(t *testing.T, root string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Fatalf("promtool not found (Debian package prometheus): run scripts/prometheus.sh ensure as root, or sudo apt-get install prometheus")
	}
	cmd := exec.Command("promtool", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out)
	}
	t.Logf("promtool %v:\n%s", args, out)
}

// TestAlertRules checks the compose Prometheus config and the alert rules,
// and runs the rules' unit tests (one firing and one quiet case per alert).
func TestAlertRules(t *testing.T) {
	r := load(t)
	rules, err := filepath.Glob(filepath.Join(r.root, "deploy/prometheus/rules/*.yml"))
	if err != nil || len(rules) == 0 {
		t.Fatalf("no rule files in deploy/prometheus/rules (%v)", err)
	}
	tests, err := filepath.Glob(filepath.Join(r.root, "deploy/prometheus/tests/*.yml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no rule tests in deploy/prometheus/tests (%v)", err)
	}
	promtool(t, r.root, "check", "config", "deploy/prometheus/prometheus.yml")
	promtool(t, r.root, append([]string{"check", "rules"}, rules...)...)
	promtool(t, r.root, append([]string{"test", "rules"}, tests...)...)
}
