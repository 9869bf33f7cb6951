package api

import (
	"cmp"
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/patchbayhq/patchbay/core/outbox"
	"github.com/patchbayhq/patchbay/core/rules"
	"github.com/patchbayhq/patchbay/core/search"
	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/internal/ratelog"
)

// quietInterval is the least time between two access log lines of one
// rate-limited fault.
const quietInterval = 10 * time.Second

// diskRetryAfter is the Retry-After, in seconds, of a webhook refused for
// lack of disk space: the store admits writes again within a second of
// space being freed.
const diskRetryAfter = 30

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

	// BodyReadTimeout is how long a client has to send a request body,
	// API call or webhook, once the headers arrived (default 30s); a body
	// still arriving then answers 408 and the connection is closed.
	BodyReadTimeout time.Duration
	// UploadReadTimeout replaces BodyReadTimeout for POST
	// /api/v1/attachments (default 10m).
	UploadReadTimeout time.Duration
	// MaxStreamsPerToken caps the event streams one token keeps open
	// (default 8); one more answers 429.
	MaxStreamsPerToken int
	// StreamWriteTimeout ends an event stream whose client does not take a
	// write within it (default 10s).
	StreamWriteTimeout time.Duration
	// MaxFailedAuth is the failed authentications one client address may
	// make per minute (default 10); beyond it, its authenticated requests
	// answer 429 with Retry-After.
	MaxFailedAuth int
	// TrustedProxies are reverse proxies whose X-Forwarded-For gives the
	// client address for the failed-auth limit; empty: the TCP peer.
	TrustedProxies []netip.Prefix
	// MCP builds the handler served at /mcp (core/mcp's streamable HTTP
	// MCP server) from the API handler itself, which its tools call in
	// process. Requests reach it only with a valid bearer token (401
	// otherwise), whatever its scope: each tool call is checked as the API
	// call it makes. If the handler has a Close method, Server.Close calls
	// it. nil: /mcp answers 404.
	MCP func(api http.Handler) (http.Handler, error)
	// Search is the full-text index behind GET /api/v1/search; nil
	// answers 503 there.
	Search *search.Index
	// Outbox is the reply worker, for the outbox state of each channel in
	// GET /api/v1/channels; nil shows none. Retried replies are found by
	// the worker through the store's commit notifications either way.
	Outbox OutboxStatus
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

// OutboxStatus reports the outbox state per channel instance;
// *outbox.Worker satisfies it.
type OutboxStatus interface {
	ChannelStatus() (map[string]outbox.ChannelStatus, error)
}

// Defaults of the request-hardening options.
const (
	DefaultBodyReadTimeout    = 30 * time.Second
	DefaultUploadReadTimeout  = 10 * time.Minute
	DefaultMaxStreamsPerToken = 8
	DefaultStreamWriteTimeout = 10 * time.Second
	DefaultMaxFailedAuth      = 20
)

// Server is the agent HTTP API. It is an http.Handler.
type Server struct {
	store    *store.Store
	channels ChannelLister
	outbox   OutboxStatus
	// quiet rate-limits access log lines of errors with a quietKey.
	quiet     *ratelog.Limiter
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
	search    *search.Index

	bodyTimeout   time.Duration
	uploadTimeout time.Duration
	streamWrite   time.Duration
	live          *liveRequests
	authLimit     *authLimiter

	mux      *http.ServeMux
	patterns []string
	hub      *hub
	mcp      http.Handler
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
		outbox:    opts.Outbox,
		quiet:     ratelog.New(quietInterval),
		hooks:     opts.Hooks,
		log:       opts.Logger,
		maxBody:   opts.MaxBodyBytes,
		maxUpload: opts.MaxUploadBytes,
		now:       opts.Clock,
		heartbeat: opts.Heartbeat,
		idemTTL:   opts.IdempotencyTTL,
		metrics:   m,
		gatherer:  opts.Gatherer,
		search:    opts.Search,
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
	s.bodyTimeout = cmp.Or(opts.BodyReadTimeout, DefaultBodyReadTimeout)
	s.uploadTimeout = cmp.Or(opts.UploadReadTimeout, DefaultUploadReadTimeout)
	s.streamWrite = cmp.Or(opts.StreamWriteTimeout, DefaultStreamWriteTimeout)
	s.live = newLiveRequests(cmp.Or(opts.MaxStreamsPerToken, DefaultMaxStreamsPerToken))
	s.authLimit = newAuthLimiter(cmp.Or(opts.MaxFailedAuth, DefaultMaxFailedAuth), opts.TrustedProxies)
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
	if opts.MCP != nil {
		h, err := opts.MCP(s)
		if err != nil {
			return nil, fmt.Errorf("api: the MCP server: %w", err)
		}
		s.mcp = h
		for _, m := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
			s.route(m+" "+mcpPath, anyScope, s.serveMCP)
		}
	}
	return s, nil
}

// eventsRoute is the pattern of the event stream.
const eventsRoute = "GET /api/v1/events"

// mcpPath is where the MCP server is served (streamable HTTP).
const mcpPath = "/mcp"

// mcpStreamRoute is the MCP server's notification stream: long-lived, like
// eventsRoute.
const mcpStreamRoute = "GET " + mcpPath

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
	s.route("GET /api/v1/tickets/{id}/comments/{comment_id}/raw", agentOnly, s.getCommentRaw)
	s.route("GET /api/v1/tickets/{id}/presence", agentOnly, s.getPresence)
	s.route("POST /api/v1/tickets/{id}/presence", agentOnly, s.postPresence)
	s.route("DELETE /api/v1/tickets/{id}/presence", agentOnly, s.deletePresence)
	s.route("GET /api/v1/search", agentOnly, s.searchTickets)
	s.route("POST /api/v1/tickets/{id}/comments/{comment_id}/retry", agentOnly, s.retryComment)

	s.route("GET /api/v1/users", agentOnly, s.listUsers)
	s.route("POST /api/v1/users", adminOnly, s.createAgent)
	s.route("GET /api/v1/users/{id}", agentOnly, s.getUser)
	s.route("POST /api/v1/users/{id}/merge", agentOnly, s.mergeUser)

	s.route("GET /api/v1/me", agentOnly, s.me)
	s.route("GET /api/v1/channels", agentOnly, s.listChannels)
	s.route("POST /api/v1/channels/{name}/retry-failed", agentOnly, s.retryFailed)
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
// idle): each stream's pending write is given an immediate deadline, so a
// stalled client does not hold the shutdown. Other requests are not
// affected.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.live.endStreams()
		if c, ok := s.mcp.(interface{ Close() }); ok {
			c.Close()
		}
	})
}

func (s *Server) serveMCP(w http.ResponseWriter, r *http.Request) error {
	s.mcp.ServeHTTP(w, r)
	return nil
}

// Patterns returns the registered route patterns (for docs and tests).
func (s *Server) Patterns() []string { return append([]string(nil), s.patterns...) }

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	if err := s.store.View(func(*store.ReadTx) error { return nil }); err != nil {
		return unavailable(err)
	}
	// A stored record failed to read back: a data file is damaged. The
	// store serves what it can read, but the operator must restore it
	// (docs/operations.md, "Damaged store files").
	if f := s.store.ReadFailure(); f != nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeStoreDamaged, Message: "a stored record could not be read at " + f.At.UTC().Format(time.RFC3339) + ": the data directory is damaged; stop the server, run patchbay check and restore from a backup (the log names the record and the error)"}
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
	// A disk short of space refuses every write: answer the provider 503
	// with Retry-After at once (it redelivers later) instead of letting
	// the plugin fail the message with a 500, and log it once in a while,
	// not per webhook.
	if err := s.store.Writable(); err != nil {
		w.Header().Set("Retry-After", strconv.Itoa(diskRetryAfter))
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the server is short of disk space and accepts no messages for now; retry later", err: err, quietKey: "hooks-disk"}
	}
	s.hooks.ServeHTTP(w, r)
	return nil
}
