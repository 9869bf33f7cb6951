package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// access is who may call a route.
type access int

const (
	public    access = iota // no token (healthz, metrics, openapi, hooks)
	agentOnly               // any valid token: agent or admin
	adminOnly               // the admin token or an admin-role token
	// anyScope is any valid token whatever its scope and the method: the
	// handler (the MCP server) checks each operation as the API call it
	// makes.
	anyScope
)

// handlerFunc is an API handler: it writes a success answer itself, or
// returns an error that the adapter writes in the JSON error shape.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// reqInfo is per-request state shared between the outer middleware and the
// handler adapter (for the access log).
type reqInfo struct {
	principal *Principal
	err       *Error
	live      *liveRequest // the registered request, for an authenticated route
}

type reqInfoKey struct{}

func reqInfoFrom(ctx context.Context) *reqInfo {
	ri, _ := ctx.Value(reqInfoKey{}).(*reqInfo)
	return ri
}

// route registers h on the mux for pattern ("GET /api/v1/tickets/{id}"),
// behind authentication and authorisation for acc.
func (s *Server) route(pattern string, acc access, h handlerFunc) {
	s.patterns = append(s.patterns, pattern)
	// The query parameters the OpenAPI document gives the route; the
	// provider webhooks (/hooks/) take whatever their provider sends.
	params, checkParams := s.queryParams[pattern]
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := reqInfoFrom(r.Context())
		fail := func(err error) {
			ae := writeError(w, err)
			if ri != nil {
				ri.err = ae
			}
		}
		if acc != public {
			if wait := s.authLimit.blocked(r); wait > 0 {
				fail(authRateLimited(w, wait))
				return
			}
			p, err := s.authenticate(r)
			if err != nil {
				var ae *Error
				if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized && r.Header.Get("Authorization") != "" {
					// A token was presented and is wrong: a guess.
					s.authLimit.fail(r)
				}
				fail(err)
				return
			}
			if acc == adminOnly && p.Role != ticket.RoleAdmin {
				err = forbidden("this call needs an admin token")
			}
			if err == nil && acc != anyScope && p.readOnly() && !readMethod(r.Method) {
				err = insufficientScope(r.Method)
			}
			if err == nil && s.limiter != nil {
				err = s.limiter.allow(w, p.TokenID) // ratelimit.go
			}
			if err == nil && checkParams {
				_, err = query(r, params...)
			}
			if err != nil {
				fail(err)
				return
			}
			if ri != nil {
				ri.principal = p
			}
			// Registered while it runs: revoking the token ends it, and the
			// token's event streams are counted.
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			lr := &liveRequest{tokenID: p.TokenID, stream: pattern == eventsRoute, cancel: cancel, rc: http.NewResponseController(w)}
			if err := s.live.add(lr); err != nil {
				// Too many streams: one closes when its client goes away.
				w.Header().Set("Retry-After", "5")
				fail(err)
				return
			}
			defer s.live.remove(lr)
			if ri != nil {
				ri.live = lr
			}
			r = r.WithContext(withPrincipal(ctx, p))
			if p.session != nil && pattern == eventsRoute {
				// A session's event stream ends with the session (session.go).
				ctx, cancel := context.WithCancel(r.Context())
				defer cancel()
				defer s.sessionStreams.add(p, cancel)()
				r = r.WithContext(ctx)
			}
		} else if checkParams {
			if _, err := query(r, params...); err != nil {
				fail(err)
				return
			}
		}
		if err := h(w, r); err != nil {
			fail(err)
		}
	}))
}

// readMethod reports whether method only reads: a token with the read
// scope may call these and nothing else.
func readMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead
}

// statusWriter records the status and size of an answer. It passes Flush
// and the underlying writer through (SSE needs both).
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

// WriteHeader records the first status and passes it on.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records the answer's size and passes the bytes on.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush sends buffered data to the client.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ServeHTTP runs every request: body limit, routing, metrics and the access
// log. Neither the Authorization header nor the query string is logged.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	ri := &reqInfo{}
	r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, ri))
	upload := r.Method == http.MethodPost && r.URL.Path == "/api/v1/attachments"
	bodyDeadline := s.bodyTimeout
	if upload {
		bodyDeadline = s.uploadTimeout
	}
	// Every body, webhook or API call, must arrive within its deadline.
	withBodyDeadline(w, r, bodyDeadline)
	switch {
	case strings.HasPrefix(r.URL.Path, "/hooks/") || r.Body == nil:
		// Webhooks have their own limit in the plugin host.
	case upload:
		// Uploads stream into the store; the store enforces the limit too.
		r.Body = http.MaxBytesReader(w, r.Body, s.maxUpload+1)
	default:
		r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
	}
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			ae := internal(fmt.Errorf("panic: %v", v))
			ri.err = ae
			if sw.status == 0 {
				writeError(sw, ae)
			}
		}
		s.finish(r, sw, ri, start)
	}()
	s.mux.ServeHTTP(sw, r)
}

// finish records the request's latency and writes the access log line.
func (s *Server) finish(r *http.Request, sw *statusWriter, ri *reqInfo, start time.Time) {
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	route := r.Pattern
	if route == "" || route == "/" {
		route = "unmatched"
	}
	elapsed := s.now().Sub(start)
	if route != eventsRoute && route != mcpStreamRoute {
		// A stream's lifetime is not a latency.
		s.metrics.latency.WithLabelValues(route, strconv.Itoa(status)).Observe(elapsed.Seconds())
	}

	kv := []any{"method", r.Method, "route", route, "path", r.URL.Path, "status", status,
		"duration", elapsed, "bytes", sw.bytes}
	if ri.principal != nil {
		kv = append(kv, "token_id", ri.principal.TokenID)
	}
	if ri.err != nil && ri.err.quietKey != "" {
		ok, n := s.quiet.Allow(ri.err.quietKey)
		if !ok {
			return
		}
		kv = append(kv, "refused_since_last_line", n+1)
	}
	switch {
	case status >= 500:
		if ri.err != nil && ri.err.err != nil {
			kv = append(kv, "error", ri.err.err.Error())
		}
		s.log.Error("request failed", kv...)
	case status >= 400:
		if ri.err != nil {
			kv = append(kv, "code", ri.err.Code)
		}
		s.log.Info("request rejected", kv...)
	default:
		s.log.Debug("request", kv...)
	}
}

// notFoundOrMethod answers requests no route matched: 405 with Allow when
// the path exists under another method, else 404, both as JSON errors.
func (s *Server) notFoundOrMethod(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, p := s.mux.Handler(probe); p != "" && p != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
			Message: fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allow, ", "))}
	}
	return notFound("no such endpoint: %s %s", r.Method, r.URL.Path)
}
