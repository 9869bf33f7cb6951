package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/patchbayhq/patchbay/config"
	"github.com/patchbayhq/patchbay/core/pluginhost"
)

// app is the wired core that `patchbay serve` runs: the HTTP handler, the
// plugin manager and whatever must be closed after them.
type app struct {
	handler http.Handler
	plugins *pluginhost.Manager
	// onShutdown run when shutdown begins, while in-flight requests
	// finish: end long-lived responses here (the event stream), since the
	// HTTP server waits for every connection to go idle.
	onShutdown []func()
	// closers run after the HTTP server and the plugins stopped, last
	// added first (e.g. the outbox worker, then the store).
	closers []func(context.Context) error
}

// newApp wires the core together. It is the one place where the store,
// inbound routing, the outbox and the API are assembled:
//
//   - backend is what plugins reach through Host (Deliver, attachments,
//     state); the ticket core provides it (core/inbound.Service over
//     core/store). Without it, Host calls fail with
//     pluginhost.ErrNoBackend, so providers get 5xx and retry: nothing is
//     acknowledged that was not stored.
//   - the handler serves /hooks/ (the manager), /healthz and /metrics; the
//     agent API mounts /api/v1/ on the same mux.
func newApp(ctx context.Context, cfg *config.Config, logger hclog.Logger, reg *prometheus.Registry) (*app, error) {
	var backend pluginhost.Backend

	plugins, err := pluginhost.New(cfg, backend, logger, pluginhost.WithRegisterer(reg))
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(pluginhost.HooksPrefix, plugins.HooksHandler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]map[string]string{"error": {"code": "not_found", "message": "no such endpoint"}})
	})
	return &app{handler: mux, plugins: plugins}, nil
}

// newRegistry returns the process's metrics registry, with Go runtime and
// process collectors.
func newRegistry() (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return reg, nil
}

// close runs the closers, last added first, and joins their errors.
func (a *app) close(ctx context.Context) error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
