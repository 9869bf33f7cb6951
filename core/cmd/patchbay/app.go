package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/patchbayhq/patchbay/config"
	"github.com/patchbayhq/patchbay/core/api"
	"github.com/patchbayhq/patchbay/core/inbound"
	"github.com/patchbayhq/patchbay/core/mcp"
	"github.com/patchbayhq/patchbay/core/outbox"
	"github.com/patchbayhq/patchbay/core/pluginhost"
	"github.com/patchbayhq/patchbay/core/rules"
	"github.com/patchbayhq/patchbay/core/search"
	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/web"
)

// app is the wired core that `patchbay serve` runs: the HTTP handler, the
// plugin manager and whatever must be closed after them.
type app struct {
	handler http.Handler
	plugins *pluginhost.Manager
	// closers run after the HTTP server and the plugins stopped, last
	// added first (e.g. the outbox worker, then the store).
	closers []func(context.Context) error
	// onShutdown runs when the HTTP server shuts down (it ends event
	// streams, which would otherwise keep the drain waiting).
	onShutdown func()
}

// newApp wires the core together. It is the one place where the store,
// inbound routing, the outbox and the API are assembled:
//
//   - the store (Badger under data_dir/store) is opened first and closed
//     last, after the plugins stopped and the workers ended;
//   - inbound.Service is the Backend that plugins reach through Host
//     (Deliver, attachments, state, delivery receipts);
//   - the outbox worker sends public replies through the plugin manager;
//   - the API serves /api/v1/, /hooks/ (the manager), /healthz and /metrics,
//     and hands other GET requests to the workspace (core/web).
func newApp(ctx context.Context, cfg *config.Config, logger hclog.Logger, reg *prometheus.Registry, opts serveOptions) (*app, error) {
	st, err := store.Open(store.Options{
		Dir:    filepath.Join(cfg.DataDir, "store"),
		Logger: logger.Named("store"),
	})
	if err != nil {
		return nil, err
	}
	a := &app{closers: []func(context.Context) error{func(context.Context) error { return st.Close() }}}
	if reg != nil {
		for _, c := range st.SpaceCollectors() {
			if err := reg.Register(c); err != nil {
				_ = a.close(ctx)
				return nil, fmt.Errorf("metrics: %w", err)
			}
		}
	}

	instances := make([]inbound.Instance, 0, len(cfg.Channels))
	kinds := make(map[string]string, len(cfg.Channels))
	for _, ch := range cfg.Channels {
		instances = append(instances, inbound.Instance{Name: ch.Name, Kind: ch.Plugin, Brand: ch.Brand, Attachments: attachmentPolicy(ch.Attachments)})
		kinds[ch.Name] = ch.Plugin
	}
	backend := inbound.New(st, instances, inbound.Options{
		Logger:     logger.Named("inbound"),
		Registerer: reg,
	})
	// Business rules; closing solved tickets is its seeded automation.
	engine := rules.New(st, rules.Options{
		Logger:          logger.Named("rules"),
		Registerer:      reg,
		AutoCloseAfter:  cfg.Tickets.AutoCloseAfter,
		WebhookNetworks: rules.NetworkPolicy{Allow: cfg.OutgoingWebhooks.AllowNetworks},
	})

	// The full-text index is derived data beside the store: opened (or
	// found missing, unreadable or stale and rebuilt by its Run) after the
	// store, closed before it, after its follower ended.
	index, err := search.Open(st, search.Options{
		Dir:        searchDir(cfg),
		Logger:     logger.Named("search"),
		Registerer: reg,
	})
	if err != nil {
		_ = a.close(ctx)
		return nil, err
	}
	a.closers = append(a.closers, func(context.Context) error { return index.Close() })

	// Background work runs until close; it is stopped before the store.
	bgCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	a.closers = append(a.closers, func(context.Context) error {
		cancel()
		wg.Wait()
		return nil
	})

	// A channel whose plugin is running again gets the replies that waited
	// for it sent at once (the worker exists before any plugin starts).
	var worker *outbox.Worker
	onRunning := func(channel string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := worker.ChannelUp(bgCtx, channel); err != nil && bgCtx.Err() == nil {
				logger.Warn("retrying replies of a recovered channel failed; they go out after their backoff", "channel", channel, "error", err)
			}
		}()
	}
	hostOpts := []pluginhost.Option{pluginhost.WithRegisterer(reg), pluginhost.WithOnRunning(onRunning)}
	if opts.scrub != nil {
		hostOpts = append(hostOpts, pluginhost.WithSecretSink(func(channel string, secrets []string) {
			opts.scrub.Set("channel:"+channel, secrets)
		}))
	}
	plugins, err := pluginhost.New(pluginhostOptions(cfg), backend, logger, hostOpts...)
	if err != nil {
		_ = a.close(ctx)
		return nil, err
	}
	a.plugins = plugins

	worker = outbox.New(st, plugins, outbox.Options{
		Logger:         logger.Named("outbox"),
		MaxAttempts:    cfg.Outbox.MaxAttempts,
		MaxBackoff:     cfg.Outbox.MaxBackoff,
		Workers:        cfg.Outbox.Workers,
		ChannelWorkers: cfg.Outbox.ChannelWorkers,
		Kinds:          kinds,
		Registerer:     reg,
		// Only channels whose manifest declares threads (email) get the
		// ticket's thread ids; unknown while the plugin starts: sent.
		ThreadIDs: func(instance string) bool {
			for _, c := range plugins.Channels() {
				if c.Name == instance {
					return c.Manifest.Kind == "" || c.Manifest.Capabilities.Threads
				}
			}
			return true
		},
		// A plugin outage never fails a reply: it waits for its channel.
		Unavailable: func(err error) bool { return errors.Is(err, pluginhost.ErrUnavailable) },
	})

	// The agent workspace at /: pages and assets embedded in the binary,
	// a client of the API below.
	workspace, err := web.New(web.Options{Version: version})
	if err != nil {
		_ = a.close(ctx)
		return nil, err
	}

	server, err := api.New(api.Options{
		Store: st,
		Channels: api.ChannelsFunc(func() []api.ChannelInfo {
			cs := plugins.Channels()
			out := make([]api.ChannelInfo, len(cs))
			for i, c := range cs {
				out[i] = api.ChannelInfo(c)
			}
			return out
		}),
		Hooks:        plugins.HooksHandler(),
		AdminToken:   opts.adminToken,
		Registerer:   reg,
		Gatherer:     reg,
		Logger:       logger.Named("api"),
		MaxBodyBytes: cfg.HTTP.MaxBodyBytes,
		RateLimit:    api.RateLimit{PerMinute: cfg.RateLimit.RequestsPerMinute, Burst: cfg.RateLimit.Burst},
		Rules:        engine,

		BodyReadTimeout:    cfg.HTTP.BodyReadTimeout,
		UploadReadTimeout:  cfg.HTTP.UploadReadTimeout,
		MaxStreamsPerToken: cfg.HTTP.MaxStreamsPerToken,
		StreamWriteTimeout: cfg.HTTP.StreamWriteTimeout,
		MaxFailedAuth:      cfg.HTTP.MaxFailedAuth,
		TrustedProxies:     cfg.HTTP.TrustedProxies,
		// The MCP server at /mcp: its tools call this API in process.
		MCP: func(h http.Handler) (http.Handler, error) {
			return mcp.New(mcp.Options{API: h, Version: version, Logger: logger.Named("mcp")})
		},
		Search: index,
		Outbox: worker,
		Web:    workspace,
		// Served over HTTPS (through a proxy): the session cookie is Secure.
		SecureCookies: strings.HasPrefix(strings.ToLower(cfg.HTTP.PublicURL), "https://"),
	})
	if err != nil {
		_ = a.close(ctx)
		return nil, err
	}
	a.handler = server
	a.onShutdown = server.Close

	for name, run := range map[string]func(context.Context) error{
		"inbound": backend.Run,
		"outbox":  worker.Run,
		"rules":   engine.Run,
		"search":  index.Run,
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(bgCtx); err != nil && !errors.Is(err, context.Canceled) {
				logger.Error("background worker stopped", "worker", name, "error", err)
			}
		}()
	}
	return a, nil
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
