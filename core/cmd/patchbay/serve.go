package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/config"
	"github.com/patchbayhq/patchbay/core/logscrub"
)

// Shutdown budget: in-flight HTTP requests get httpDrain to finish, then
// the plugins get pluginStop (Stop RPC, then their process groups are
// killed).
const (
	httpDrain  = 30 * time.Second
	pluginStop = 30 * time.Second
)

// MinAdminTokenLength is the shortest PATCHBAY_ADMIN_TOKEN serve accepts
// (without -dev): the admin token is a password to everything, and a short
// one can be guessed.
const MinAdminTokenLength = 32

// errWeakAdminToken is returned when PATCHBAY_ADMIN_TOKEN is too short.
var errWeakAdminToken = fmt.Errorf("PATCHBAY_ADMIN_TOKEN is shorter than %d characters; generate one with `openssl rand -hex 32` (or pass -dev on a development machine)", MinAdminTokenLength)

// checkAdminToken refuses a short admin token unless dev is set. An empty
// one is allowed: it disables the admin token.
func checkAdminToken(tok string, dev bool) error {
	if tok == "" || dev || len(tok) >= MinAdminTokenLength {
		return nil
	}
	return errWeakAdminToken
}

func cmdServe(ctx context.Context, args []string, _, stderr io.Writer) (err error) {
	fs := newFlagSet("serve", "-config FILE", stderr)
	cfgPath := fs.String("config", "config/patchbay.hcl", "configuration file")
	pprofAddr := fs.String("pprof", "", "serve Go runtime profiles (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060 (off when empty)")
	dev := fs.Bool("dev", false, "development mode: accept a PATCHBAY_ADMIN_TOKEN shorter than 32 characters (`make run` uses it; never in production)")
	var lf logFlags
	lf.register(fs, "info")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	// First: no process of our uid (a plugin) may read our memory or
	// environment from now on.
	if err := setNonDumpable(); err != nil {
		return err
	}
	adminToken := os.Getenv("PATCHBAY_ADMIN_TOKEN")
	if err := checkAdminToken(adminToken, *dev); err != nil {
		return err
	}
	scrub := logscrub.New()
	scrub.Set("admin", []string{adminToken})
	// The error run prints at the end bypasses the logger: scrub it too.
	defer func() { err = scrub.Error(err) }()
	logger, err := lf.logger(stderr, scrub)
	if err != nil {
		return err
	}
	if *dev {
		logger.Warn("development mode (-dev): a short admin token is accepted; never run a production server this way")
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	for _, ch := range cfg.Channels {
		scrub.Set("channel:"+ch.Name, ch.SecretValues())
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
	return serve(ctx, cfg, logger, serveOptions{adminToken: adminToken, scrub: scrub})
}

// serveOptions are what serve takes besides the configuration.
type serveOptions struct {
	// adminToken is PATCHBAY_ADMIN_TOKEN (checked by the caller).
	adminToken string
	// scrub is the log scrubber behind logger; channels' secrets are added
	// to it as their plugins describe themselves.
	scrub *logscrub.Scrubber
}

// serve runs the core until ctx ends (SIGINT/SIGTERM), then shuts down in
// order: stop accepting connections and finish in-flight requests, stop the
// plugins, close the rest (store last).
func serve(ctx context.Context, cfg *config.Config, logger hclog.Logger, opts serveOptions) error {
	reg, err := newRegistry()
	if err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, logger, reg, opts)
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

	// Body reads have their own deadline (http.body_read_timeout, set per
	// request by the API); event streams set a write deadline per write.
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

	// Event streams first: they never end by themselves, and a stalled
	// client's stream is unblocked by an immediate write deadline.
	if a.onShutdown != nil {
		a.onShutdown()
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
