//go:build integration

package kclient

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
}

// startSCRAMBroker starts a broker of the test's own with scripts/kafka.sh
// (the shared one of `make test` stays as it is), with a SASL_PLAINTEXT
// listener and SCRAM credentials for user:password, sharing the shared
// broker's jars. It returns the SASL listener's address.
func startSCRAMBroker(t *testing.T, user, password string) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	libs := filepath.Join(root, ".infra", "kafka", "libs")
	if _, err := os.Stat(libs); err != nil {
		t.Fatalf("no Kafka jars in %s: `make test` (scripts/kafka.sh up) fetches them first: %v", libs, err)
	}
	dir := t.TempDir()
	saslPort := freePort(t)
	env := append(os.Environ(), "INFRA_DIR="+dir, "KAFKA_PORT="+freePort(t), "KAFKA_CONTROLLER_PORT="+freePort(t),
		"KAFKA_SASL_PORT="+saslPort, "KAFKA_SCRAM_USERS="+user+":"+password,
		"KAFKA_LIBS_DIR="+libs, "KAFKA_HEAP_OPTS=-Xms128m -Xmx384m", "KAFKA_START_TIMEOUT=120")
	script := func(cmd string) ([]byte, error) {
		c := exec.Command(filepath.Join(root, "scripts", "kafka.sh"), cmd)
		c.Env = env
		return c.CombinedOutput()
	}
	out, err := script("up")
	t.Cleanup(func() {
		if out, err := script("down"); err != nil {
			t.Errorf("kafka.sh down: %v\n%s", err, out)
		}
	})
	if err != nil {
		t.Fatalf("the SCRAM broker did not start (scripts/kafka.sh up with KAFKA_SASL_PORT and KAFKA_SCRAM_USERS): %v\n%s", err, out)
	}
	return "127.0.0.1:" + saslPort
}

// TestSCRAM: clients built by Options authenticate to the real broker
// with SCRAM-SHA-256 and -512, produce and consume through the SASL
// listener; a wrong password or no SASL at all is refused.
func TestSCRAM(t *testing.T) {
	const user, password = "termflow", "scram-test-secret"
	addr := startSCRAMBroker(t, user, password)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			cfg := Config{Brokers: addr, SASLMechanism: mech, SASLUser: user, SASLPassword: password}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			topic := "scram-" + strings.ToLower(mech)
			cl, err := kgo.NewClient(append(Options(cfg, "scram_test", log, nil),
				kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
				t.Fatalf("create topic over SASL %s: %v", mech, err)
			}
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte(mech)}).FirstErr(); err != nil {
				t.Fatalf("produce over SASL %s: %v", mech, err)
			}
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatalf("consume over SASL %s: %v", mech, err)
			}
			if rs := fs.Records(); len(rs) != 1 || string(rs[0].Value) != mech {
				t.Fatalf("consumed %v", rs)
			}

			bad := cfg
			bad.SASLPassword = "wrong-password"
			cl2, err := kgo.NewClient(Options(bad, "scram_test", log, nil)...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl2.Close()
			if err := cl2.Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Fatalf("wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
			}
		})
	}

	// Without SASL the listener answers nothing a client can use.
	cl, err := kgo.NewClient(Options(Config{Brokers: addr}, "scram_test", log, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	defer pcancel()
	if err := cl.Ping(pctx); err == nil {
		t.Fatal("a client without SASL was served by the SASL listener")
	}
}
