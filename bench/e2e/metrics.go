package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is a scrape of one service's /metrics, flattened: "name{l1=v1,...}"
// → value (counters and gauges; histograms give their _sum and _count).
type Sample map[string]float64

// Scrape reads a service's /metrics.
func (s *Stack) Scrape(ctx context.Context, name string) (Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.ops[name]+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", name, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse %s metrics: %w", name, err)
	}
	return flatten(fams), nil
}

func flatten(fams map[string]*dto.MetricFamily) Sample {
	out := Sample{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			labels := make([]string, 0, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Untyped != nil:
				out[key] = m.GetUntyped().GetValue()
			case m.Histogram != nil:
				out[strings.Replace(key, name, name+"_sum", 1)] = m.GetHistogram().GetSampleSum()
				out[strings.Replace(key, name, name+"_count", 1)] = float64(m.GetHistogram().GetSampleCount())
			case m.Summary != nil:
				out[strings.Replace(key, name, name+"_sum", 1)] = m.GetSummary().GetSampleSum()
				out[strings.Replace(key, name, name+"_count", 1)] = float64(m.GetSummary().GetSampleCount())
			}
		}
	}
	return out
}

// Sum adds every series of a metric name (all label values), e.g.
// Sum("termflow_persister_mongo_documents_written_total").
func (s Sample) Sum(name string) float64 {
	var t float64
	for k, v := range s {
		if k == name || strings.HasPrefix(k, name+"{") {
			t += v
		}
	}
	return t
}

// SumWhere adds the series of a metric whose labels include every
// "label=value" given.
func (s Sample) SumWhere(name string, labels ...string) float64 {
	var t float64
	for k, v := range s {
		rest, ok := strings.CutPrefix(k, name+"{")
		if !ok {
			continue
		}
		have := strings.Split(strings.TrimSuffix(rest, "}"), ",")
		all := true
		for _, want := range labels {
			found := false
			for _, h := range have {
				if h == want {
					found = true
				}
			}
			all = all && found
		}
		if all {
			t += v
		}
	}
	return t
}

// Delta is after − before for every series of after.
func Delta(before, after Sample) Sample {
	out := Sample{}
	for k, v := range after {
		out[k] = v - before[k]
	}
	return out
}
