package metrictest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestValue(t *testing.T) {
	reg := prometheus.NewRegistry()
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sent_total", Help: "h"}, []string{"channel", "result"})
	degraded := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "degraded", Help: "h"}, []string{"channel"})
	reg.MustRegister(sent, degraded)
	sent.WithLabelValues("wa", "ok").Add(3)
	sent.WithLabelValues("wa", "failed").Add(1)
	sent.WithLabelValues("slack", "ok").Add(7)
	degraded.WithLabelValues("wa").Set(1)

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
		ok     bool
	}{
		{"sent_total", map[string]string{"channel": "wa", "result": "failed"}, 1, true},
		{"sent_total", map[string]string{"channel": "slack"}, 7, true},
		{"degraded", map[string]string{"channel": "wa"}, 1, true},
		{"degraded", map[string]string{"channel": "line"}, 0, false},
		{"missing", nil, 0, false},
	} {
		got, ok := Value(t, reg, c.name, c.labels)
		if got != c.want || ok != c.ok {
			t.Errorf("Value(%s, %v) = %v, %v; want %v, %v", c.name, c.labels, got, ok, c.want, c.ok)
		}
	}
}
