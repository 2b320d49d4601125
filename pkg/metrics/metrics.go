// Package metrics holds the Prometheus instruments the services share: a
// bounded label for index names and a consumer group's lag read from Kafka
// at scrape time (MongoDB command metrics are in mongomon, so that services
// without MongoDB do not link its driver). Every constructor takes the
// service's own registry.
package metrics

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// OtherIndex is the label value shared by the index names seen after the
// first MaxIndexes.
const OtherIndex = "_other"

// MaxIndexes is how many distinct index names get a label value of their
// own in one process.
const MaxIndexes = 64

// Indexes bounds a label taken from index names, which clients choose: the
// first max distinct names keep their own value, later ones share
// OtherIndex, so a client creating many indexes cannot grow a series set
// without bound. Safe for concurrent use.
type Indexes struct {
	mu   sync.Mutex
	max  int
	seen map[string]struct{}
}

// NewIndexes returns a bound of max distinct names (MaxIndexes if max <= 0).
func NewIndexes(max int) *Indexes {
	if max <= 0 {
		max = MaxIndexes
	}
	return &Indexes{max: max, seen: map[string]struct{}{}}
}

// Label returns the label value for index.
func (x *Indexes) Label(index string) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.seen[index]; ok {
		return index
	}
	if len(x.seen) >= x.max {
		return OtherIndex
	}
	x.seen[index] = struct{}{}
	return index
}

// GroupLag exports, at scrape time, how many records of topic the consumer
// group has not committed yet, per partition, for the partitions assigned to
// this client (so that instances of one group do not report the same
// partition twice). It reads from Kafka at most once per minInterval and
// gives up after a timeout; a failed read exports no lag and counts an
// error.
type GroupLag struct {
	client      *kgo.Client
	adm         *kadm.Client
	group       string
	topic       string
	minInterval time.Duration
	timeout     time.Duration

	desc   *prometheus.Desc
	errors prometheus.Counter

	mu      sync.Mutex
	read    time.Time
	last    map[int32]int64
	lastErr error
}

// NewGroupLag registers termflow_<subsystem>_consumer_lag_records{partition}
// and termflow_<subsystem>_consumer_lag_errors_total on reg. client must be
// the group member's own client.
func NewGroupLag(reg prometheus.Registerer, subsystem string, client *kgo.Client, group, topic string) *GroupLag {
	g := &GroupLag{
		client: client, adm: kadm.NewClient(client), group: group, topic: topic,
		minInterval: time.Second, timeout: 3 * time.Second,
		desc: prometheus.NewDesc("termflow_"+subsystem+"_consumer_lag_records",
			"Records of "+topic+" past the group's committed offset, by partition assigned to this instance.",
			[]string{"partition"}, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "termflow_" + subsystem + "_consumer_lag_errors_total",
			Help: "Failed reads of the consumer group's lag."}),
	}
	if reg != nil {
		reg.MustRegister(g, g.errors)
	}
	return g
}

// Describe implements prometheus.Collector.
func (g *GroupLag) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

// Collect implements prometheus.Collector.
func (g *GroupLag) Collect(ch chan<- prometheus.Metric) {
	lag, err := g.Lag()
	if err != nil {
		return
	}
	for p, n := range lag {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(n), strconv.Itoa(int(p)))
	}
}

// Lag returns the lag per assigned partition, read at most once per
// minInterval.
func (g *GroupLag) Lag() (map[int32]int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if time.Since(g.read) < g.minInterval {
		return g.last, g.lastErr
	}
	g.last, g.lastErr = g.fetch()
	g.read = time.Now()
	if g.lastErr != nil {
		g.errors.Inc()
	}
	return g.last, g.lastErr
}

func (g *GroupLag) fetch() (map[int32]int64, error) {
	member, _ := g.client.GroupMetadata()
	out := map[int32]int64{}
	if member == "" {
		return out, nil // not in the group (yet): nothing assigned
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	lags, err := g.adm.Lag(ctx, g.group)
	if err != nil {
		return nil, err
	}
	dl, ok := lags[g.group]
	if !ok {
		return out, nil
	}
	if err := dl.Error(); err != nil {
		return nil, err
	}
	for p, l := range dl.Lag[g.topic] {
		if l.Member == nil || l.Member.MemberID != member || l.Err != nil || l.Lag < 0 {
			continue
		}
		out[p] = l.Lag
	}
	return out, nil
}
