package search

import "github.com/prometheus/client_golang/prometheus"

// metrics are the index's Prometheus metrics (patchbay_search_*).
type metrics struct {
	events       prometheus.Counter
	tickets      prometheus.Counter
	batches      prometheus.Counter
	errors       prometheus.Counter
	batchSeconds prometheus.Histogram
	querySeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "patchbay", Subsystem: "search", Name: name, Help: help})
	}
	h := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "patchbay", Subsystem: "search", Name: name, Help: help,
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}})
	}
	m := &metrics{
		events:       c("events_indexed_total", "Events of the log read by the search indexer."),
		tickets:      c("tickets_indexed_total", "Ticket documents written to the search index (rebuilds included)."),
		batches:      c("batches_total", "Incremental index batches committed."),
		errors:       c("errors_total", "Indexing failures (retried)."),
		batchSeconds: h("batch_seconds", "Time to read and index one incremental batch."),
		querySeconds: h("query_seconds", "Time to answer one search, snippets included."),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.tickets, m.batches, m.errors, m.batchSeconds, m.querySeconds)
	}
	return m
}
