package inbound

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the inbound counters; registered only when Options.Registerer
// is set.
type metrics struct {
	messages *prometheus.CounterVec   // instance, result: stored, duplicate, error
	rejected *prometheus.CounterVec   // instance
	latency  *prometheus.HistogramVec // instance
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "patchbay", Subsystem: "inbound", Name: "messages_total",
			Help: "Inbound messages by channel instance and result (stored, duplicate, error).",
		}, []string{"instance", "result"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "patchbay", Subsystem: "inbound", Name: "attachments_rejected_total",
			Help: "Inbound attachments refused by the channel's policy.",
		}, []string{"instance"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "patchbay", Subsystem: "inbound", Name: "deliver_seconds",
			Help:    "Time from Deliver to the durable commit.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
		}, []string{"instance"}),
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.rejected, m.latency)
	}
	return m
}

func (m *metrics) delivered(instance string, start time.Time, duplicate bool, err error) {
	result := "stored"
	switch {
	case err != nil:
		result = "error"
	case duplicate:
		result = "duplicate"
	}
	m.messages.WithLabelValues(instance, result).Inc()
	if err == nil {
		m.latency.WithLabelValues(instance).Observe(time.Since(start).Seconds())
	}
}
