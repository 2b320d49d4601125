package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseDefaultsAndEnvironment(t *testing.T) {
	c, err := parse(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.InstanceID != "persister-1" || c.SessionTimeout != 20*time.Second || c.ShutdownTimeout != 30*time.Second ||
		c.MinBackoff != 100*time.Millisecond || c.MaxBackoff != 10*time.Second || c.Config.Failpoints.Armed() {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = parse(nil, env(map[string]string{"TERMFLOW_SHUTDOWN_TIMEOUT": "5s", "TERMFLOW_PERSISTER_INSTANCE_ID": "p2",
		"TERMFLOW_FAILPOINTS": "persister.after-apply=2"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.ShutdownTimeout != 5*time.Second || c.InstanceID != "p2" || !c.Config.Failpoints.Armed() {
		t.Fatalf("from the environment: %+v", c)
	}
}

func TestParseRejectsBadSettings(t *testing.T) {
	for _, e := range []map[string]string{
		{"TERMFLOW_SHUTDOWN_TIMEOUT": "0s"},
		{"TERMFLOW_MIN_BACKOFF": "2s", "TERMFLOW_MAX_BACKOFF": "1s"},
		{"TERMFLOW_FAILPOINTS": "persister.after-apply"},
	} {
		if _, err := parse(nil, env(e), io.Discard); err == nil {
			t.Errorf("%v accepted", e)
		} else if strings.TrimSpace(err.Error()) == "" {
			t.Errorf("%v: empty error", e)
		}
	}
	if _, err := parse([]string{"-instance-id="}, env(nil), io.Discard); err == nil {
		t.Error("an empty instance id accepted")
	}
}
