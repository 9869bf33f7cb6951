package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/config"
)

// Shutdown budget: in-flight HTTP requests get httpDrain to finish, then
// the plugins get pluginStop (Stop RPC, then their process groups are
// killed).
const (
	httpDrain  = 30 * time.Second
	pluginStop = 30 * time.Second
)

func cmdServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("serve", "-config FILE", stderr)
	cfgPath := fs.String("config", "config/patchbay.hcl", "configuration file")
	pprofAddr := fs.String("pprof", "", "serve Go runtime profiles (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060 (off when empty)")
	var lf logFlags
	lf.register(fs, "info")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	logger, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if *pprofAddr != "" {
		ln, err := listenPprof(*pprofAddr)
		if err != nil {
			return err
		}
		go servePprof(ctx, ln, logger)
	}
	for _, ch := range cfg.Redacted().Channels {
		logger.Debug("channel configured", "channel", ch.Name, "plugin", ch.Plugin, "brand", ch.Brand, "config", string(ch.Config))
	}
	return serve(ctx, cfg, logger)
}

// serve runs the core until ctx ends (SIGINT/SIGTERM), then shuts down in
// order: stop accepting connections and finish in-flight requests, stop the
// plugins, close the rest (store last).
func serve(ctx context.Context, cfg *config.Config, logger hclog.Logger) error {
	reg, err := newRegistry()
	if err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, logger, reg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		_ = a.close(context.Background())
		return fmt.Errorf("listen on %s: %w", cfg.HTTP.Listen, err)
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = a.plugins.Start(startCtx)
	cancel()
	if err != nil && ctx.Err() == nil {
		ln.Close()
		_ = a.close(context.Background())
		return fmt.Errorf("start plugins: %w", err)
	}
	for _, ch := range a.plugins.Channels() {
		if ch.State != "running" {
			logger.Warn("channel not running; retrying in the background", "channel", ch.Name, "state", ch.State, "error", ch.LastError)
		}
	}

	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          logger.Named("http").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	if a.onShutdown != nil {
		srv.RegisterOnShutdown(a.onShutdown)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "config", cfg.Path, "channels", len(cfg.Channels))

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
	}

	drainCtx, cancel := context.WithTimeout(context.Background(), httpDrain)
	if err := srv.Shutdown(drainCtx); err != nil {
		logger.Warn("in-flight requests did not finish in time", "error", err)
		_ = srv.Close()
	}
	cancel()
	stopCtx, cancel := context.WithTimeout(context.Background(), pluginStop)
	if err := a.plugins.Stop(stopCtx); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if err := a.close(stopCtx); err != nil {
		runErr = errors.Join(runErr, err)
	}
	cancel()
	if runErr == nil {
		logger.Info("stopped")
	}
	return runErr
}
