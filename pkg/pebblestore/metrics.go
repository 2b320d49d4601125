package pebblestore

import "github.com/prometheus/client_golang/prometheus"

// RegisterMetrics exports Pebble's own metrics, read at scrape time.
func RegisterMetrics(reg prometheus.Registerer, s *Store) {
	gauge := func(name, help string, fn func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "termflow_pebble_" + name, Help: help}, fn)
	}
	counter := func(name, help string, fn func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "termflow_pebble_" + name, Help: help}, fn)
	}
	reg.MustRegister(
		gauge("disk_usage_bytes", "Bytes Pebble uses on disk.", func() float64 { return float64(s.db.Metrics().DiskSpaceUsage()) }),
		counter("compactions_total", "Compactions run.", func() float64 { return float64(s.db.Metrics().Compact.Count) }),
		counter("write_stalls_total", "Write stalls.", func() float64 { return float64(s.stalls.Load()) }),
		gauge("memtable_bytes", "Bytes in memtables.", func() float64 { return float64(s.db.Metrics().MemTable.Size) }),
	)
}
