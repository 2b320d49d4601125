package kclient

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/termflow/termflow/pkg/flagenv"
)

func TestFlags(t *testing.T) {
	env := map[string]string{"KAFKA_BROKERS": "a:1, b:2", "TERMFLOW_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
		"TERMFLOW_KAFKA_SASL_USER": "alice", "TERMFLOW_KAFKA_SASL_PASSWORD": "secret"}
	fs := flagenv.New("t", func(k string) string { return env[k] })
	fs.SetOutput(io.Discard)
	var c Config
	Flags(fs, &c, "127.0.0.1:9092")
	if err := fs.Parse([]string{"-kafka-sasl-user", "bob"}); err != nil {
		t.Fatal(err)
	}
	if c.SASLMechanism != "SCRAM-SHA-512" || c.SASLUser != "bob" || c.SASLPassword != "secret" || len(c.SeedBrokers()) != 2 {
		t.Fatalf("%+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if fs.Lookup("kafka-sasl-password") != nil {
		t.Fatal("the password must not be a flag")
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := "127.0.0.1:9092"
	for _, tt := range []struct {
		c   Config
		err string
	}{
		{Config{Brokers: b}, ""},
		{Config{Brokers: b, SASLMechanism: "SCRAM-SHA-256", SASLUser: "u", SASLPassword: "p"}, ""},
		{Config{Brokers: b, SASLMechanism: "scram-sha-512", SASLUser: "u", SASLPassword: "p", TLS: "on"}, ""},
		{Config{Brokers: b, SASLMechanism: "PLAIN", SASLUser: "u", SASLPassword: "p"}, ""},
		{Config{Brokers: " "}, "no Kafka brokers"},
		{Config{Brokers: b, SASLMechanism: "GSSAPI", SASLUser: "u", SASLPassword: "p"}, `mechanism "GSSAPI"`},
		{Config{Brokers: b, SASLMechanism: "SCRAM-SHA-256", SASLUser: "u"}, "want TERMFLOW_KAFKA_SASL_USER and TERMFLOW_KAFKA_SASL_PASSWORD"},
		{Config{Brokers: b, SASLUser: "u", SASLPassword: "p"}, "without TERMFLOW_KAFKA_SASL_MECHANISM"},
		{Config{Brokers: b, TLS: "yes"}, `kafka TLS "yes"`},
		{Config{Brokers: b, TLSCAFile: filepath.Join(dir, "missing.pem")}, "kafka TLS CA file"},
		{Config{Brokers: b, TLSCAFile: junk}, "no PEM certificate"},
		{Config{Brokers: b, TLSCertFile: junk}, "both a client certificate and its key"},
		{Config{Brokers: b, TLSCertFile: junk, TLSKeyFile: junk}, "kafka TLS client certificate"},
	} {
		err := tt.c.Validate()
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%+v: err %v, want %q", tt.c, err, tt.err)
		}
		if err != nil && tt.c.SASLPassword != "" && strings.Contains(err.Error(), tt.c.SASLPassword+" ") {
			t.Errorf("error %v shows the password", err)
		}
	}
}
