// Package kclient builds franz-go clients the same way for every service:
// seed brokers, client id, logs through zerolog and metrics through kprom on
// the service's own registry.
package kclient

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"github.com/twmb/franz-go/plugin/kzerolog"
)

// Config is the connection to Kafka.
type Config struct {
	// Brokers are the seed brokers, comma separated in flags and
	// KAFKA_BROKERS. The default value is "127.0.0.1:9092".
	Brokers string
}

// Validate checks the broker list.
func (c Config) Validate() error {
	if len(c.SeedBrokers()) == 0 {
		return fmt.Errorf("no Kafka brokers configured (KAFKA_BROKERS)")
	}
	return nil
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

// Options returns the common client options. name becomes the client id and
// the kprom subsystem ("termflow_<name>_kafka_..."); reg may be nil.
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
	return opts
}
