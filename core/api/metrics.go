package api

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds the API's Prometheus collectors.
type metrics struct {
	latency *prometheus.HistogramVec
}

// newMetrics registers the API's collectors on reg; a nil reg gives
// collectors that are not exported.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "patchbay",
			Subsystem: "http",
			Name:      "request_duration_seconds",
			Help:      "Latency of HTTP requests by route pattern and status code.",
			Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "code"}),
	}
	if reg == nil {
		return m, nil
	}
	if err := reg.Register(m.latency); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.HistogramVec); ok {
				m.latency = existing
				return m, nil
			}
		}
		return nil, fmt.Errorf("api: registering metrics: %w", err)
	}
	return m, nil
}
