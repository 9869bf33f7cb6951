package pluginhost

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the host's Prometheus collectors.
type metrics struct {
	restarts *prometheus.CounterVec
	up       *prometheus.GaugeVec
	launches *prometheus.CounterVec
	// webhookBusy counts webhooks refused because the channel had
	// http.max_webhook_in_flight requests in progress.
	webhookBusy *prometheus.CounterVec
	// webhookInFlight is how many webhook requests each channel has in
	// progress (at most http.max_webhook_in_flight).
	webhookInFlight *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patchbay_plugin_restarts_total",
			Help: "Plugin restarts after a crash or a failed health check, per channel.",
		}, []string{"channel"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "patchbay_plugin_up",
			Help: "1 while the channel's plugin is running and configured, else 0.",
		}, []string{"channel"}),
		launches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patchbay_plugin_launch_failures_total",
			Help: "Failed plugin launches (not found, checksum, handshake, configure), per channel.",
		}, []string{"channel"}),
		webhookBusy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patchbay_webhooks_busy_total",
			Help: "Webhooks answered 503 because the channel had http.max_webhook_in_flight requests in progress, per channel.",
		}, []string{"channel"}),
		webhookInFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "patchbay_webhooks_in_flight",
			Help: "Webhook requests being read or handled, per channel (at most http.max_webhook_in_flight).",
		}, []string{"channel"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.restarts, m.up, m.launches, m.webhookBusy, m.webhookInFlight} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("pluginhost: register metrics: %w", err)
			}
		}
	}
	return m, nil
}
