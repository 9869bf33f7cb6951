package mcp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/modelcontextprotocol/go-sdk/auth"
	gomcp "github.com/modelcontextprotocol/go-sdk/mcp"
)

// DefaultSessionTimeout closes an HTTP session after this long without a
// request when Options.SessionTimeout is zero.
const DefaultSessionTimeout = 30 * time.Minute

// Options configure a Server: either API (in-process, for /mcp) or URL
// and Token (the stdio bridge to a running core).
type Options struct {
	// API is the core's API handler (core/api's Server). Tools call it in
	// process with the bearer token of the MCP request.
	API http.Handler
	// URL is the base URL of a running core (http://127.0.0.1:8080), used
	// when API is nil. A trailing /mcp is ignored.
	URL string
	// Token is the bearer token sent to URL.
	Token string
	// HTTPClient sends requests to URL; nil is a client without a total
	// timeout (the event stream is long-lived). Each tool's API call has a
	// deadline of its own.
	HTTPClient *http.Client
	// Version is the server version shown to clients.
	Version string
	// Logger receives the server's logs; nil discards them.
	Logger hclog.Logger
	// SessionTimeout closes HTTP sessions idle this long (default 30 min).
	SessionTimeout time.Duration
	// RetryDelay is the first wait before reopening a broken event stream
	// (default 1 s, doubling up to 30 s).
	RetryDelay time.Duration
}

// Server is Patchbay's MCP server. Handler serves it over streamable HTTP;
// ServeStdio over standard input and output.
type Server struct {
	http    *http.Client
	base    string
	token   string
	version string
	log     hclog.Logger
	sdkLog  *slog.Logger
	timeout time.Duration
	retry   time.Duration
	tools   []toolDef
	cache   *gomcp.SchemaCache
	ctx     context.Context
	cancel  context.CancelFunc
	handler http.Handler
	// probe answers the SDK's per-request question of which protocol
	// versions the server speaks, for requests of existing sessions; it
	// is never connected.
	probe    *gomcp.Server
	mu       sync.Mutex
	sessions map[*gomcp.ServerSession]struct{}
}

// New returns the MCP server for opts.
func New(opts Options) (*Server, error) {
	s := &Server{
		version:  opts.Version,
		log:      opts.Logger,
		timeout:  opts.SessionTimeout,
		retry:    opts.RetryDelay,
		cache:    gomcp.NewSchemaCache(),
		sessions: map[*gomcp.ServerSession]struct{}{},
	}
	switch {
	case opts.API != nil:
		s.http = &http.Client{Transport: handlerTransport{h: opts.API}}
		s.base = "http://patchbay.in-process"
	case opts.URL != "":
		base := strings.TrimRight(opts.URL, "/")
		base = strings.TrimSuffix(base, "/mcp")
		if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
			return nil, errors.New("mcp: the core's URL must start with http:// or https://")
		}
		s.base, s.token = base, opts.Token
		s.http = opts.HTTPClient
		if s.http == nil {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.ResponseHeaderTimeout = 0
			tr.TLSHandshakeTimeout = 10 * time.Second
			s.http = &http.Client{Transport: tr}
		}
	default:
		return nil, errors.New("mcp: Options.API or Options.URL is required")
	}
	if s.version == "" {
		s.version = "dev"
	}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	if s.timeout <= 0 {
		s.timeout = DefaultSessionTimeout
	}
	if s.retry <= 0 {
		s.retry = time.Second
	}
	// The SDK logs through slog: its warnings and errors go to our log.
	s.sdkLog = slog.New(slog.NewTextHandler(s.log.StandardWriter(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}),
		&slog.HandlerOptions{Level: slog.LevelWarn}))
	tools, err := toolDefs()
	if err != nil {
		return nil, err
	}
	s.tools = tools
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.probe = gomcp.NewServer(&gomcp.Implementation{Name: "patchbay", Version: s.version}, &gomcp.ServerOptions{Logger: s.sdkLog})
	s.handler = s.newHandler()
	return s, nil
}

// ServeHTTP serves MCP over streamable HTTP: see Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Close ends every session (and its event stream). Call it when the HTTP
// server shuts down: a session's notification stream never becomes idle.
func (s *Server) Close() {
	s.cancel()
	s.mu.Lock()
	open := make([]*gomcp.ServerSession, 0, len(s.sessions))
	for ss := range s.sessions {
		open = append(open, ss)
	}
	s.mu.Unlock()
	for _, ss := range open {
		_ = ss.Close()
	}
}

type sessionSlotKey struct{}

// sessionSlot carries the SDK server made for a request that opens a
// session: the SDK asks for it twice while handling one request.
type sessionSlot struct{ srv *gomcp.Server }

// Handler serves MCP over streamable HTTP (the MCP spec's HTTP transport;
// mount it at /mcp). It must be served behind the API's bearer-token check
// (core/api does this for api.Options.MCP); it binds each session to the
// token that opened it, so another token cannot use the session's id.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) newHandler() http.Handler {
	sh := gomcp.NewStreamableHTTPHandler(func(r *http.Request) *gomcp.Server {
		slot, _ := r.Context().Value(sessionSlotKey{}).(*sessionSlot)
		if slot == nil {
			// A request of an existing session: the SDK routes it to the
			// session's own server and only asks for protocol versions.
			return s.probe
		}
		if slot.srv == nil {
			slot.srv = s.newSession(r.RemoteAddr, true).srv
		}
		return slot.srv
	}, &gomcp.StreamableHTTPOptions{
		SessionTimeout: s.timeout,
		Logger:         s.sdkLog,
		// The SDK's DNS-rebinding guard refuses loopback connections whose
		// Host is not a loopback name: that is every request through a
		// reverse proxy on the same machine (help.acme.test → 127.0.0.1).
		// A rebinding page gains nothing here anyway: /mcp, like /api/v1,
		// answers only requests carrying a bearer token, which browsers
		// never add by themselves.
		DisableLocalhostProtection: true,
	})
	// The token was verified by the API; the SDK binds the session to it
	// (a hash, never the token itself).
	verify := func(_ context.Context, tok string, _ *http.Request) (*auth.TokenInfo, error) {
		sum := sha256.Sum256([]byte(tok))
		return &auth.TokenInfo{UserID: hex.EncodeToString(sum[:16])}, nil
	}
	authed := auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(sh)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Mcp-Session-Id") == "" {
			// Only a request that opens a session needs a new server.
			r = r.WithContext(context.WithValue(r.Context(), sessionSlotKey{}, &sessionSlot{}))
		}
		authed.ServeHTTP(w, r)
	})
}

// ServeStdio serves one MCP session over r and w (newline-delimited
// JSON-RPC: standard input and output of `patchbay mcp`) until the client
// closes it or ctx ends. Before serving it checks that the core answers
// and accepts the token, so a misconfigured bridge fails at once with a
// clear error instead of on the first tool call.
func (s *Server) ServeStdio(ctx context.Context, r io.ReadCloser, w io.WriteCloser) error {
	if err := s.Check(ctx); err != nil {
		return err
	}
	sess := s.newSession("", false)
	return sess.srv.Run(ctx, &gomcp.IOTransport{Reader: r, Writer: w})
}

// Check calls GET /api/v1/me with the configured token: nil when the core
// answers and accepts the token.
func (s *Server) Check(ctx context.Context) error {
	a := &apiClient{http: s.http, base: s.base, auth: s.staticAuth()}
	var me struct {
		Role  string `json:"role"`
		Scope string `json:"scope"`
	}
	if err := a.do(ctx, call{method: http.MethodGet, path: "/api/v1/me"}, &me); err != nil {
		return err
	}
	s.log.Info("connected to the core", "url", redactURL(s.base), "role", me.Role, "scope", me.Scope)
	return nil
}

// redactURL drops a password from a URL before it is logged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func (s *Server) staticAuth() string {
	if s.token == "" {
		return ""
	}
	return "Bearer " + s.token
}

func (s *Server) track(ss *gomcp.ServerSession) {
	s.mu.Lock()
	s.sessions[ss] = struct{}{}
	s.mu.Unlock()
	go func() {
		_ = ss.Wait()
		s.mu.Lock()
		delete(s.sessions, ss)
		s.mu.Unlock()
	}()
}

// session is one MCP session: its SDK server, the tools bound to it, and
// its resource subscriptions.
type session struct {
	s          *Server
	srv        *gomcp.Server
	remoteAddr string
	// idles is true for HTTP sessions, which the SDK closes after
	// Options.SessionTimeout without a request.
	idles bool
	subs  *subscriptions
}

// instructions is what the server tells the model about itself at
// initialization.
const instructions = `Patchbay is a helpdesk: customers write on email, Slack, WhatsApp or LINE, and every conversation is a ticket.
Work tickets with these tools: search_tickets or list_view_tickets to find them, get_ticket to read one with its conversation,
reply_to_ticket to answer the customer on their channel (public: the customer reads it), add_internal_note for agents only,
update_ticket for status, priority, assignee, group and tags. Read a ticket before changing it and pass its version as if_match;
pass an idempotency_key on replies and notes so that retries never send twice. Errors carry the API's code (e.g. ticket_closed,
precondition_failed, insufficient_scope, window_closed). Tickets are also resources, patchbay://tickets/{id}: subscribe to one to be told when it changes.`

func (s *Server) newSession(remoteAddr string, idles bool) *session {
	sess := &session{s: s, remoteAddr: remoteAddr, idles: idles}
	sess.subs = newSubscriptions(sess)
	srv := gomcp.NewServer(&gomcp.Implementation{Name: "patchbay", Title: "Patchbay", Version: s.version}, &gomcp.ServerOptions{
		Instructions:       instructions,
		Logger:             s.sdkLog,
		SchemaCache:        s.cache,
		SubscribeHandler:   sess.subs.subscribe,
		UnsubscribeHandler: sess.subs.unsubscribe,
		InitializedHandler: func(_ context.Context, req *gomcp.InitializedRequest) { s.track(req.Session) },
		Capabilities: &gomcp.ServerCapabilities{
			Tools:     &gomcp.ToolCapabilities{},
			Resources: &gomcp.ResourceCapabilities{Subscribe: true},
		},
	})
	srv.AddReceivingMiddleware(toolErrors)
	for _, d := range s.tools {
		d.add(srv, sess, d.tool)
	}
	srv.AddResourceTemplate(&gomcp.ResourceTemplate{
		URITemplate: ticketURITemplate,
		Name:        "ticket",
		Title:       "Ticket",
		Description: "A ticket with its requester and its conversation (the first 50 comments, newest last), as get_ticket returns it. Subscribe to be notified when it changes.",
		MIMEType:    "application/json",
	}, sess.readTicket)
	srv.AddResource(&gomcp.Resource{
		URI:         macrosURI,
		Name:        "macros",
		Title:       "Macros",
		Description: "The active macros (id, title, description, actions) that apply_macro can apply.",
		MIMEType:    "application/json",
	}, sess.readMacros)
	sess.srv = srv
	return sess
}

// api returns the API client for one request: the request's own bearer
// token over HTTP, the configured token on stdio.
func (sess *session) api(req gomcp.Request) *apiClient {
	return sess.apiFor(req.GetExtra())
}

func (sess *session) apiFor(extra *gomcp.RequestExtra) *apiClient {
	a := &apiClient{http: sess.s.http, base: sess.s.base, auth: sess.s.staticAuth()}
	if extra != nil && extra.Header != nil {
		if h := extra.Header.Get("Authorization"); h != "" && sess.s.token == "" {
			a.auth = h
		}
	}
	if sess.remoteAddr != "" {
		a.ctxRemote = sess.remoteAddr
	}
	return a
}

// toolErrors gives a tool's API error the structured form clients can
// switch on: structuredContent {"error": {"code", "field", "message",
// "status"}}, and the same as text for the model.
func toolErrors(next gomcp.MethodHandler) gomcp.MethodHandler {
	return func(ctx context.Context, method string, req gomcp.Request) (gomcp.Result, error) {
		res, err := next(ctx, method, req)
		if method != "tools/call" || err != nil {
			return res, err
		}
		r, ok := res.(*gomcp.CallToolResult)
		if !ok || !r.IsError {
			return res, err
		}
		if ae, ok := asAPIError(r.GetError()); ok {
			// Headers the tools set from arguments: name the argument.
			switch ae.Field {
			case "If-Match":
				ae.Field = "if_match"
			case "Idempotency-Key":
				ae.Field = "idempotency_key"
			}
			r.StructuredContent = map[string]any{"error": ae}
			r.Content = []gomcp.Content{&gomcp.TextContent{Text: ae.Error()}}
		}
		return res, err
	}
}
