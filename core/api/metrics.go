package api

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds the API's Prometheus collectors.
type metrics struct {
	latency *prometheus.HistogramVec
	streams prometheus.Gauge
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
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "patchbay",
			Subsystem: "http",
			Name:      "event_streams",
			Help:      "Open GET /api/v1/events streams (not counted in the latency histogram).",
		}),
	}
	if reg == nil {
		return m, nil
	}
	// A second Server on the same registry shares the collectors.
	if err := reg.Register(m.latency); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, fmt.Errorf("api: registering metrics: %w", err)
		}
		existing, ok := are.ExistingCollector.(*prometheus.HistogramVec)
		if !ok {
			return nil, fmt.Errorf("api: registering metrics: %w", err)
		}
		m.latency = existing
	}
	if err := reg.Register(m.streams); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, fmt.Errorf("api: registering metrics: %w", err)
		}
		existing, ok := are.ExistingCollector.(prometheus.Gauge)
		if !ok {
			return nil, fmt.Errorf("api: registering metrics: %w", err)
		}
		m.streams = existing
	}
	return m, nil
}
