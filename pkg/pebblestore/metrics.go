package pebblestore

import "github.com/prometheus/client_golang/prometheus"

// RegisterMetrics exports Pebble's own metrics as termflow_pebble_*, read
// once per scrape from the open store.
func RegisterMetrics(reg prometheus.Registerer, s *Store) {
	reg.MustRegister(&collector{s: s, descs: pebbleDescs()})
}

type metricDesc struct {
	*prometheus.Desc
	kind prometheus.ValueType
}

type collector struct {
	s     *Store
	descs map[string]metricDesc
}

func pebbleDescs() map[string]metricDesc {
	d := map[string]metricDesc{}
	add := func(name, help string, kind prometheus.ValueType) {
		d[name] = metricDesc{prometheus.NewDesc("termflow_pebble_"+name, help, nil, nil), kind}
	}
	g, c := prometheus.GaugeValue, prometheus.CounterValue
	add("disk_usage_bytes", "Bytes Pebble uses on disk (tables, WAL, manifests, obsolete files not yet deleted).", g)
	add("compactions_total", "Compactions run.", c)
	add("compaction_debt_bytes", "Estimated bytes compactions must still rewrite to reach a stable shape.", g)
	add("compactions_in_progress", "Compactions running now.", g)
	add("flushes_total", "Memtable flushes.", c)
	add("write_stalls_total", "Write stalls (writes blocked on flushes or L0 compactions).", c)
	add("memtable_bytes", "Bytes allocated in memtables.", g)
	add("read_amplification", "Read amplification: sublevels of L0 plus non-empty levels below it.", g)
	add("l0_sublevels", "Sublevels of L0; writes stall when they pile up.", g)
	add("tables", "Live sstables across all levels.", g)
	add("block_cache_bytes", "Bytes in the block cache.", g)
	add("block_cache_hits_total", "Block cache hits.", c)
	add("block_cache_misses_total", "Block cache misses.", c)
	return d
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d.Desc
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := c.s.db.Metrics()
	var tables int64
	for _, l := range m.Levels {
		tables += l.TablesCount
	}
	for name, v := range map[string]float64{
		"disk_usage_bytes":         float64(m.DiskSpaceUsage()),
		"compactions_total":        float64(m.Compact.Count),
		"compaction_debt_bytes":    float64(m.Compact.EstimatedDebt),
		"compactions_in_progress":  float64(m.Compact.NumInProgress),
		"flushes_total":            float64(m.Flush.Count),
		"write_stalls_total":       float64(c.s.stalls.Load()),
		"memtable_bytes":           float64(m.MemTable.Size),
		"read_amplification":       float64(m.ReadAmp()),
		"l0_sublevels":             float64(m.Levels[0].Sublevels),
		"tables":                   float64(tables),
		"block_cache_bytes":        float64(m.BlockCache.Size),
		"block_cache_hits_total":   float64(m.BlockCache.Hits),
		"block_cache_misses_total": float64(m.BlockCache.Misses),
	} {
		d := c.descs[name]
		ch <- prometheus.MustNewConstMetric(d.Desc, d.kind, v)
	}
}
