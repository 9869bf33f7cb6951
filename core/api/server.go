package api

import (
	"crypto/sha256"
	_ "embed"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/patchbayhq/patchbay/core/rules"
	"github.com/patchbayhq/patchbay/core/store"
)

// DefaultMaxBodyBytes is the request body limit when Options.MaxBodyBytes
// is zero.
const DefaultMaxBodyBytes = 1 << 20

// DefaultHeartbeat is the interval of SSE heartbeat comments when
// Options.Heartbeat is zero.
const DefaultHeartbeat = 15 * time.Second

// Options configure the API server. Store is required.
type Options struct {
	// Store is the open ticket store.
	Store *store.Store
	// Channels lists the channel instances for GET /api/v1/channels; nil
	// lists none.
	Channels ChannelLister
	// Hooks serves /hooks/ (the plugin manager's HooksHandler); nil answers
	// 404 there.
	Hooks http.Handler
	// AdminToken is the value of PATCHBAY_ADMIN_TOKEN; empty disables the
	// admin token (agent tokens still work).
	AdminToken string
	// Registerer receives the API's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Gatherer is served at GET /metrics; nil serves an empty registry.
	Gatherer prometheus.Gatherer
	// Logger receives the access log and errors; nil discards them.
	Logger hclog.Logger
	// MaxBodyBytes limits request bodies outside /hooks/ (default 1 MiB);
	// larger bodies answer 413.
	MaxBodyBytes int64
	// MaxUploadBytes limits files sent to POST /api/v1/attachments
	// (default 20 MiB).
	MaxUploadBytes int64
	// Clock returns the current time; nil is time.Now.
	Clock func() time.Time
	// Heartbeat is the interval of SSE heartbeat comments (default 15s).
	Heartbeat time.Duration
	// IdempotencyTTL is how long Idempotency-Key answers are kept (default
	// 24h).
	IdempotencyTTL time.Duration
	// RateLimit limits the requests of each API token (429 beyond it);
	// the zero value turns the limit off.
	RateLimit RateLimit
	// PresenceTTL is how long a presence (POST …/presence) lasts unless
	// renewed (default 30s).
	PresenceTTL time.Duration
	// Rules is the business-rules engine behind /api/v1/triggers,
	// automations, macros, views, webhooks and auto_replies; nil answers
	// 503 there.
	Rules *rules.Engine
	// Web serves the browser workspace: GET and HEAD requests outside
	// /api/, /hooks/, /healthz and /metrics go to it; nil answers the JSON
	// 404 there.
	Web http.Handler
	// SessionTTL is how long a workspace session lasts (default 12h).
	SessionTTL time.Duration
	// SecureCookies marks the session cookie Secure even on plain HTTP
	// requests (set it behind a TLS-terminating proxy).
	SecureCookies bool
	// Argon2 sets the cost of password hashing; zero fields take the
	// defaults (DefaultArgon2Time, …).
	Argon2 Argon2Params
}

// Server is the agent HTTP API. It is an http.Handler.
type Server struct {
	store     *store.Store
	channels  ChannelLister
	hooks     http.Handler
	adminHash []byte
	log       hclog.Logger
	maxBody   int64
	maxUpload int64
	now       func() time.Time
	heartbeat time.Duration
	idemTTL   time.Duration
	metrics   *metrics
	gatherer  prometheus.Gatherer

	mux      *http.ServeMux
	patterns []string
	hub      *hub
	limiter  *rateLimiter
	presence *presence
	// queryParams maps each route pattern to the query parameters the
	// OpenAPI document lets it take; any other parameter is a 422.
	queryParams map[string][]string

	web            http.Handler
	sessionTTL     time.Duration
	secureCookies  bool
	passwords      *hasher
	signin         *failureLimiter
	sessionStreams *sessionStreams

	done      chan struct{}
	closeOnce sync.Once
}

// openAPIDocument is the OpenAPI 3 description of every route.
//
//go:embed openapi.json
var openAPIDocument []byte

// New returns the API server for opts.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("api: Options.Store is required")
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{
		store:     opts.Store,
		channels:  opts.Channels,
		hooks:     opts.Hooks,
		log:       opts.Logger,
		maxBody:   opts.MaxBodyBytes,
		maxUpload: opts.MaxUploadBytes,
		now:       opts.Clock,
		heartbeat: opts.Heartbeat,
		idemTTL:   opts.IdempotencyTTL,
		metrics:   m,
		gatherer:  opts.Gatherer,
		mux:       http.NewServeMux(),
		done:      make(chan struct{}),

		web:           opts.Web,
		sessionTTL:    opts.SessionTTL,
		secureCookies: opts.SecureCookies,
		passwords:     newHasher(opts.Argon2),
		signin:        newFailureLimiter(signinMaxFailures, signinWindow),

		sessionStreams: newSessionStreams(),
	}
	if s.sessionTTL <= 0 {
		s.sessionTTL = DefaultSessionTTL
	}
	if opts.AdminToken != "" {
		sum := sha256.Sum256([]byte(opts.AdminToken))
		s.adminHash = sum[:]
	}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.maxUpload <= 0 {
		s.maxUpload = DefaultMaxUploadBytes
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.heartbeat <= 0 {
		s.heartbeat = DefaultHeartbeat
	}
	if s.idemTTL <= 0 {
		s.idemTTL = 24 * time.Hour
	}
	if s.gatherer == nil {
		s.gatherer = prometheus.NewRegistry()
	}
	s.hub = newHub(s.store, s.log, s.done)
	s.limiter = newRateLimiter(opts.RateLimit, s.now)
	if opts.PresenceTTL <= 0 {
		opts.PresenceTTL = DefaultPresenceTTL
	}
	s.presence = newPresence(opts.PresenceTTL, s.now, s.done)
	if s.queryParams, err = documentQueryParams(openAPIDocument); err != nil {
		return nil, err
	}
	s.routes()
	s.rulesRoutes(opts.Rules)
	return s, nil
}

// eventsRoute is the pattern of the event stream.
const eventsRoute = "GET /api/v1/events"

// routes registers every endpoint. The OpenAPI document must describe each
// pattern registered here (TestOpenAPICoversRoutes).
func (s *Server) routes() {
	s.route("GET /healthz", public, s.health)
	s.route("GET /metrics", public, s.serveMetrics)
	s.route("GET /api/v1/openapi.json", public, s.openAPI)

	s.route("GET /api/v1/tickets", agentOnly, s.listTickets)
	s.route("POST /api/v1/tickets", agentOnly, s.createTicket)
	s.route("GET /api/v1/tickets/count", agentOnly, s.countTickets)
	s.route("GET /api/v1/tickets/{id}", agentOnly, s.getTicket)
	s.route("PATCH /api/v1/tickets/{id}", agentOnly, s.patchTicket)
	s.route("GET /api/v1/tickets/{id}/comments", agentOnly, s.listComments)
	s.route("POST /api/v1/tickets/{id}/comments", agentOnly, s.createComment)
	s.route("GET /api/v1/tickets/{id}/presence", agentOnly, s.getPresence)
	s.route("POST /api/v1/tickets/{id}/presence", agentOnly, s.postPresence)
	s.route("DELETE /api/v1/tickets/{id}/presence", agentOnly, s.deletePresence)

	s.route("GET /api/v1/users", agentOnly, s.listUsers)
	s.route("GET /api/v1/users/{id}", agentOnly, s.getUser)
	s.route("POST /api/v1/users/{id}/merge", agentOnly, s.mergeUser)

	s.route("GET /api/v1/me", agentOnly, s.me)
	s.route("GET /api/v1/channels", agentOnly, s.listChannels)
	s.route("POST /api/v1/attachments", agentOnly, s.uploadAttachment)
	s.route("GET /api/v1/attachments/{id}", agentOnly, s.getAttachment)
	s.route(eventsRoute, agentOnly, s.events)

	s.route("POST /api/v1/session", public, s.createSession)
	s.route("GET /api/v1/session", agentOnly, s.getSession)
	s.route("DELETE /api/v1/session", agentOnly, s.deleteSession)
	s.route("PUT /api/v1/users/{id}/password", adminOnly, s.setPassword)
	s.route("DELETE /api/v1/users/{id}/password", adminOnly, s.deletePassword)

	s.route("GET /api/v1/tokens", adminOnly, s.listTokens)
	s.route("POST /api/v1/tokens", adminOnly, s.createToken)
	s.route("DELETE /api/v1/tokens/{id}", adminOnly, s.revokeToken)
	s.route(backupRoute, adminOnly, s.backup)

	s.route("/hooks/", public, s.serveHooks)
	// Everything else: JSON 404, or 405 with Allow.
	s.mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.web != nil && webPath(r) {
			s.web.ServeHTTP(w, r)
			return
		}
		if err := s.notFoundOrMethod(w, r); err != nil {
			ae := writeError(w, err)
			if ri := reqInfoFrom(r.Context()); ri != nil {
				ri.err = ae
			}
		}
	}))
}

// webPath reports whether a request no API route matched belongs to the
// browser workspace: a GET or HEAD outside the API's own paths.
func webPath(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := r.URL.Path
	return !strings.HasPrefix(p, "/api/") && p != "/api" && !strings.HasPrefix(p, "/hooks/")
}

// Close ends open event streams (call it when the HTTP server shuts down,
// e.g. with http.Server.RegisterOnShutdown, since a stream never becomes
// idle). Other requests are not affected.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

// Patterns returns the registered route patterns (for docs and tests).
func (s *Server) Patterns() []string { return append([]string(nil), s.patterns...) }

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	if err := s.store.View(func(*store.ReadTx) error { return nil }); err != nil {
		return unavailable(err)
	}
	// The data directory's disk is short of space: the store refuses
	// writes (inbound answers 5xx/451) until space is freed, then resumes
	// by itself (core/store/space.go).
	if err := s.store.Writable(); err != nil {
		w.Header().Set("Retry-After", "10")
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "writes are refused until disk space is freed: " + strings.TrimPrefix(err.Error(), "store: "), err: err}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPIDocument)
	return nil
}

func (s *Server) serveHooks(w http.ResponseWriter, r *http.Request) error {
	if s.hooks == nil {
		return notFound("no channels are configured")
	}
	s.hooks.ServeHTTP(w, r)
	return nil
}
