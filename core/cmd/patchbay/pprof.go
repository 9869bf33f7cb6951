package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
)

// errPprofAddr is returned when -pprof names an address that is not on
// the loopback interface.
var errPprofAddr = errors.New("-pprof must listen on a loopback address (127.0.0.1 or [::1]): profiles expose the process's internals")

// pprofMux returns the Go runtime profiling handlers on their usual
// /debug/pprof/ paths, on a mux of their own (never http.DefaultServeMux).
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// loopbackHost reports whether a request's Host header names the loopback
// interface (localhost, 127.0.0.0/8 or ::1, any port).
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// loopbackOnly refuses requests whose Host is not loopback with 403: a
// web page the operator opens cannot reach the profiles through a DNS name
// it rebinds to 127.0.0.1 (the browser sends that name as Host).
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, "the profiling endpoint answers only requests addressed to localhost, 127.0.0.1 or [::1]", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// listenPprof checks that addr is a loopback host:port and listens on it.
func listenPprof(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("-pprof %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("-pprof %q: %w", addr, errPprofAddr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-pprof: %w", err)
	}
	return ln, nil
}

// servePprof serves the profiling handlers on ln until ctx ends.
func servePprof(ctx context.Context, ln net.Listener, logger hclog.Logger) {
	srv := &http.Server{Handler: loopbackOnly(pprofMux()), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	logger.Info("profiling endpoint enabled", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("profiling endpoint stopped", "error", err)
	}
}
