package rules

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	events      prometheus.Counter
	triggers    prometheus.Counter
	automations prometheus.Counter
	autoReplies prometheus.Counter
	webhooks    *prometheus.CounterVec
	errors      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "patchbay", Subsystem: "rules", Name: name, Help: help})
	}
	m := &metrics{
		events:      c("events_processed_total", "Events of the log read by the trigger follower."),
		triggers:    c("trigger_firings_total", "Trigger firings."),
		automations: c("automation_firings_total", "Automation firings."),
		autoReplies: c("auto_replies_total", "Channel auto-replies queued."),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "patchbay", Subsystem: "rules",
			Name: "webhook_attempts_total", Help: "Outgoing webhook attempts by result (delivered, retry, failed)."}, []string{"result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "patchbay", Subsystem: "rules",
			Name: "errors_total", Help: "Rule evaluation errors by stage (trigger, automation, action)."}, []string{"stage"}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.triggers, m.automations, m.autoReplies, m.webhooks, m.errors)
	}
	return m
}
