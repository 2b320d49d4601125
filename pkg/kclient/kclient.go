// Package kclient builds franz-go clients the same way for every service:
// seed brokers, client id, SASL and TLS, logs through zerolog and metrics
// through kprom on the service's own registry.
package kclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/plugin/kprom"
	"github.com/twmb/franz-go/plugin/kzerolog"

	"github.com/termflow/termflow/pkg/flagenv"
)

// Config is the connection to Kafka.
type Config struct {
	// Brokers are the seed brokers, comma separated in flags and
	// KAFKA_BROKERS. The default value is "127.0.0.1:9092".
	Brokers string
	// SASLMechanism is "" (no SASL), "SCRAM-SHA-256", "SCRAM-SHA-512" or
	// "PLAIN" (-kafka-sasl-mechanism, TERMFLOW_KAFKA_SASL_MECHANISM). The
	// default value is "".
	SASLMechanism string
	// SASLUser is the SASL user (-kafka-sasl-user, TERMFLOW_KAFKA_SASL_USER).
	SASLUser string
	// SASLPassword is the SASL password (TERMFLOW_KAFKA_SASL_PASSWORD,
	// environment only: no secrets in process lists).
	SASLPassword string
	// TLS turns TLS on (-kafka-tls, TERMFLOW_KAFKA_TLS "on"), verifying the
	// brokers against the system roots or TLSCAFile. The default value is
	// "off"; setting any TLS file turns it on too.
	TLS string
	// TLSCAFile is a PEM file of CA certificates to verify the brokers with
	// (-kafka-tls-ca-file, TERMFLOW_KAFKA_TLS_CA_FILE).
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are a PEM client certificate and key for
	// mutual TLS (-kafka-tls-cert-file, TERMFLOW_KAFKA_TLS_CERT_FILE,
	// -kafka-tls-key-file, TERMFLOW_KAFKA_TLS_KEY_FILE).
	TLSCertFile, TLSKeyFile string
	// TLSServerName overrides the name verified in the brokers'
	// certificates (-kafka-tls-server-name, TERMFLOW_KAFKA_TLS_SERVER_NAME).
	TLSServerName string
}

// Flags binds the connection's flags and environment variables on fs, the
// brokers defaulting to defBrokers.
func Flags(fs *flagenv.Set, c *Config, defBrokers string) {
	fs.String(&c.Brokers, "kafka-brokers", "KAFKA_BROKERS", defBrokers, "Kafka seed brokers, comma separated")
	SecurityFlags(fs, c)
}

// SecurityFlags registers the SASL and TLS settings alone, for tools that
// name their broker flag differently.
func SecurityFlags(fs *flagenv.Set, c *Config) {
	fs.String(&c.SASLMechanism, "kafka-sasl-mechanism", "TERMFLOW_KAFKA_SASL_MECHANISM", "", "Kafka SASL mechanism: SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN (empty: none)")
	fs.String(&c.SASLUser, "kafka-sasl-user", "TERMFLOW_KAFKA_SASL_USER", "", "Kafka SASL user (password: env TERMFLOW_KAFKA_SASL_PASSWORD)")
	c.SASLPassword = fs.Getenv("TERMFLOW_KAFKA_SASL_PASSWORD")
	fs.String(&c.TLS, "kafka-tls", "TERMFLOW_KAFKA_TLS", "off", "TLS to the Kafka brokers (on or off)")
	fs.String(&c.TLSCAFile, "kafka-tls-ca-file", "TERMFLOW_KAFKA_TLS_CA_FILE", "", "PEM CA certificates for the Kafka brokers")
	fs.String(&c.TLSCertFile, "kafka-tls-cert-file", "TERMFLOW_KAFKA_TLS_CERT_FILE", "", "PEM client certificate for Kafka (mutual TLS)")
	fs.String(&c.TLSKeyFile, "kafka-tls-key-file", "TERMFLOW_KAFKA_TLS_KEY_FILE", "", "PEM client key for Kafka (mutual TLS)")
	fs.String(&c.TLSServerName, "kafka-tls-server-name", "TERMFLOW_KAFKA_TLS_SERVER_NAME", "", "name to verify in the Kafka brokers' certificates")
}

// Validate checks the broker list, the SASL settings and the TLS files.
func (c Config) Validate() error {
	var errs []error
	if len(c.SeedBrokers()) == 0 {
		errs = append(errs, fmt.Errorf("no Kafka brokers configured (KAFKA_BROKERS)"))
	}
	if _, err := c.mechanism(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.tlsConfig(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// SeedBrokers splits Brokers.
func (c Config) SeedBrokers() []string {
	var out []string
	for _, b := range strings.Split(c.Brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// mechanism is the SASL mechanism, nil without SASL.
func (c Config) mechanism() (sasl.Mechanism, error) {
	if c.SASLMechanism == "" {
		if c.SASLUser != "" || c.SASLPassword != "" {
			return nil, errors.New("kafka SASL user or password set without TERMFLOW_KAFKA_SASL_MECHANISM")
		}
		return nil, nil
	}
	if c.SASLUser == "" || c.SASLPassword == "" {
		return nil, fmt.Errorf("kafka SASL %s: want TERMFLOW_KAFKA_SASL_USER and TERMFLOW_KAFKA_SASL_PASSWORD", c.SASLMechanism)
	}
	switch strings.ToUpper(c.SASLMechanism) {
	case "SCRAM-SHA-256":
		return scram.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsSha512Mechanism(), nil
	case "PLAIN":
		return plain.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsMechanism(), nil
	}
	return nil, fmt.Errorf("kafka SASL mechanism %q: want SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN", c.SASLMechanism)
}

// tlsConfig is the TLS configuration, nil without TLS.
func (c Config) tlsConfig() (*tls.Config, error) {
	on := c.TLSCAFile != "" || c.TLSCertFile != "" || c.TLSKeyFile != "" || c.TLSServerName != ""
	switch c.TLS {
	case "on":
		on = true
	case "off", "":
	default:
		return nil, fmt.Errorf("kafka TLS %q: want on or off", c.TLS)
	}
	if !on {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLSServerName}
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka TLS CA file: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka TLS CA file %q: no PEM certificate in it", c.TLSCAFile)
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return nil, errors.New("kafka TLS: want both a client certificate and its key, or neither")
	}
	if c.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka TLS client certificate: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

// Options returns the common client options. name becomes the client id and
// the kprom subsystem ("termflow_<name>_kafka_..."); reg may be nil. A
// configuration that does not Validate makes every connection fail with
// its error.
func Options(cfg Config, name string, log zerolog.Logger, reg prometheus.Registerer) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.SeedBrokers()...),
		kgo.ClientID("termflow-" + name),
		kgo.WithLogger(kzerolog.New(&log)),
	}
	if reg != nil {
		m := kprom.NewMetrics("termflow", kprom.Subsystem(name+"_kafka"), kprom.Registerer(reg), kprom.WithClientLabel())
		opts = append(opts, kgo.WithHooks(m))
	}
	mech, err := cfg.mechanism()
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	t, terr := cfg.tlsConfig()
	if err = errors.Join(err, terr); err != nil {
		opts = append(opts, kgo.Dialer(func(context.Context, string, string) (net.Conn, error) {
			return nil, fmt.Errorf("kafka client configuration: %w", err)
		}))
	} else if t != nil {
		opts = append(opts, kgo.DialTLSConfig(t))
	}
	return opts
}
