package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// Workspace sessions: the browser workspace signs in once (with an email
// and password, or with an API token) and then calls the same /api/v1
// routes as any client, authenticated by an HttpOnly, SameSite=Strict
// cookie instead of a bearer token. Every state-changing request of a
// session must carry the session's CSRF token in the X-CSRF-Token header,
// and an Origin header, when the browser sends one, must be this server's.
// Bearer tokens are unaffected: a request with an Authorization header is
// authenticated by it alone and the cookie is ignored.

// SessionCookie is the name of the workspace session cookie.
const SessionCookie = "patchbay_session"

// CSRFHeader is the request header carrying a session's CSRF token.
const CSRFHeader = "X-CSRF-Token"

// DefaultSessionTTL is how long a workspace session lasts when
// Options.SessionTTL is zero.
const DefaultSessionTTL = 12 * time.Hour

// Sign-in limits: after signinMaxFailures failed attempts from one client
// address, or for one email address, within signinWindow, further attempts
// answer 429 until the window ends.
const (
	signinMaxFailures = 10
	signinWindow      = 15 * time.Minute
)

// Password limits (bytes of UTF-8).
const (
	minPasswordLength = 10
	maxPasswordLength = 1024
)

// Session-related error codes (a sign-in after too many failures is
// CodeRateLimited, 429).
const (
	// CodeCSRF is a session request without the session's CSRF token, or
	// from another origin.
	CodeCSRF = "csrf_failed"
)

// sessionAuth records on the principal that it came from a session cookie,
// so that the session routes can find the session.
type sessionAuth struct {
	hash string
	sess *store.Session
}

// hasSessionCookie reports whether the request has a session cookie and no
// Authorization header (a bearer token always wins).
func hasSessionCookie(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" {
		return false
	}
	c, err := r.Cookie(SessionCookie)
	return err == nil && c.Value != ""
}

// safeMethod reports whether a method changes nothing (no CSRF check).
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin reports whether the request's Origin header, if any, names
// this server (scheme-independent: a TLS-terminating proxy changes it).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// adminFingerprint identifies the admin token a session was opened with
// without storing anything that could be checked against guesses of it
// offline more cheaply than the token's own hash.
func (s *Server) adminFingerprint() string {
	if len(s.adminHash) == 0 {
		return ""
	}
	sum := sha256.Sum256(append([]byte("patchbay-session-admin:"), s.adminHash...))
	return "admin:" + hex.EncodeToString(sum[:8])
}

// authenticateSession authenticates a request by its session cookie: the
// session must exist and be unexpired, the token it was opened with must
// not be revoked, the password it was opened with must not have changed,
// and the user must still be an agent. State-changing requests must carry
// the session's CSRF token and come from this origin.
func (s *Server) authenticateSession(r *http.Request) (*Principal, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, unauthorized("no session: sign in again")
	}
	hash := hashToken(c.Value)
	now := s.now()
	var sess *store.Session
	var p *Principal
	err = s.store.View(func(tx *store.ReadTx) error {
		var err error
		sess, err = tx.SessionByHash(hash, now)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(sess.TokenID, "admin:"):
			if sess.TokenID != s.adminFingerprint() {
				return unauthorized("the admin token this session was opened with is no longer valid: sign in again")
			}
			// The admin token's grants, acting as the Administrator user
			// the sign-in created.
			p = adminPrincipal()
			p.UserID = sess.UserID
			return nil
		case sess.TokenID != "":
			id, err := strconv.ParseUint(sess.TokenID, 10, 64)
			if err != nil {
				return unauthorized("session is not valid: sign in again")
			}
			t, err := tx.TokenByID(id)
			if errors.Is(err, store.ErrNotFound) || (err == nil && t.Revoked()) {
				return unauthorized("the token this session was opened with has been revoked")
			}
			if err != nil {
				return err
			}
			// Exactly the token's grants, as of now.
			p = tokenPrincipal(t)
			return nil
		}
		// A person signed in with a password has every right of their role.
		p = &Principal{Role: sess.Role, UserID: sess.UserID, Scope: store.ScopeWrite}
		pw, err := tx.PasswordOf(sess.UserID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && pw.Generation != sess.PasswordGeneration) {
			return unauthorized("the password was changed or removed: sign in again")
		}
		if err != nil {
			return err
		}
		u, err := tx.User(sess.UserID)
		if err != nil {
			return err
		}
		if u.Role != ticket.RoleAgent && u.Role != ticket.RoleAdmin || u.MergedInto != 0 {
			return unauthorized("this user may no longer sign in")
		}
		p.Role = u.Role
		p.TokenID = "user:" + strconv.FormatUint(u.ID, 10)
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, unauthorized("session expired or signed out: sign in again")
	case err != nil:
		var ae *Error
		if errors.As(err, &ae) {
			return nil, ae
		}
		return nil, unavailable(err)
	}
	if !safeMethod(r.Method) {
		if !sameOrigin(r) {
			return nil, &Error{Status: http.StatusForbidden, Code: CodeCSRF, Message: "cross-origin request refused"}
		}
		got := r.Header.Get(CSRFHeader)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) != 1 {
			return nil, &Error{Status: http.StatusForbidden, Code: CodeCSRF, Field: CSRFHeader, Message: "missing or wrong CSRF token: reload the page"}
		}
	}
	p.session = &sessionAuth{hash: hash, sess: sess}
	return p, nil
}

// sessionStreams tracks the open event streams of workspace sessions, so
// that signing out, a password change and a token's revocation end them at
// once rather than at the stream's next reconnection.
type sessionStreams struct {
	mu sync.Mutex
	m  map[*streamEntry]struct{}
}

type streamEntry struct {
	hash     string // the session's hash
	userID   uint64
	tokenID  string // the token the session was opened with; "" for a password
	password bool
	cancel   context.CancelFunc
}

func newSessionStreams() *sessionStreams {
	return &sessionStreams{m: map[*streamEntry]struct{}{}}
}

// add registers a stream of p's session; the returned func removes it.
func (ss *sessionStreams) add(p *Principal, cancel context.CancelFunc) func() {
	e := &streamEntry{hash: p.session.hash, userID: p.UserID, password: p.session.sess.TokenID == "",
		tokenID: p.session.sess.TokenID, cancel: cancel}
	ss.mu.Lock()
	ss.m[e] = struct{}{}
	ss.mu.Unlock()
	return func() {
		ss.mu.Lock()
		delete(ss.m, e)
		ss.mu.Unlock()
	}
}

// end cancels the streams for which match is true.
func (ss *sessionStreams) end(match func(e *streamEntry) bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for e := range ss.m {
		if match(e) {
			e.cancel()
		}
	}
}

// endTokenStreams ends the session streams opened with token id (after
// its revocation).
func (s *Server) endTokenStreams(id string) {
	s.sessionStreams.end(func(e *streamEntry) bool { return e.tokenID == id })
}

// randomSecret returns 32 random bytes, base64url-encoded.
func randomSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// sessionCreate is the body of POST /api/v1/session: email and password,
// or an API token.
type sessionCreate struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Token    string `json:"token"`
}

// sessionJSON describes the caller's session.
type sessionJSON struct {
	CSRFToken string       `json:"csrf_token"`
	ExpiresAt time.Time    `json:"expires_at"`
	Role      ticket.Role  `json:"role"`
	Method    string       `json:"method"`
	User      *ticket.User `json:"user"`
}

// clientAddr is the request's client address, for sign-in limits.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// createSession serves POST /api/v1/session: signs in and sets the
// session cookie. Wrong credentials are 401 with one message whatever was
// wrong; too many failures are 429.
func (s *Server) createSession(w http.ResponseWriter, r *http.Request) error {
	if !sameOrigin(r) {
		return &Error{Status: http.StatusForbidden, Code: CodeCSRF, Message: "cross-origin sign-in refused"}
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var in sessionCreate
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	in.Email = strings.TrimSpace(in.Email)
	switch {
	case in.Token != "" && (in.Email != "" || in.Password != ""):
		return invalidField("token", "give either email and password, or token, not both")
	case in.Token == "" && in.Email == "":
		return invalidField("email", "is required (or sign in with a token)")
	case in.Token == "" && in.Password == "":
		return invalidField("password", "is required")
	case len(in.Password) > maxPasswordLength:
		return invalidField("password", "must be at most %d bytes", maxPasswordLength)
	}
	var email string
	if in.Token == "" {
		if email, err = normalizeEmail("email", in.Email); err != nil {
			return err
		}
	}
	addr := clientAddr(r)
	keys := []string{"addr:" + addr}
	if email != "" {
		keys = append(keys, "email:"+email)
	}
	if wait := s.signin.blocked(s.now(), keys...); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+1)))
		return &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited, Message: "too many failed sign-in attempts: try again later"}
	}

	sess := &store.Session{CSRF: randomSecret(), ExpiresAt: s.now().Add(s.sessionTTL)}
	method := "password"
	if in.Token != "" {
		method = "token"
		err = s.tokenSession(r, in.Token, sess)
	} else {
		err = s.passwordSession(email, in.Password, sess)
	}
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
			s.signin.fail(s.now(), keys...)
			s.log.Info("sign-in failed", "method", method, "client", addr)
		}
		return err
	}
	if email != "" {
		s.signin.reset("email:" + email)
	}
	secret := randomSecret()
	sess.Hash = hashToken(secret)
	var u *ticket.User
	err = s.store.Update(r.Context(), func(tx *store.Tx) error {
		if sess.UserID == 0 {
			// The admin token acts as the Administrator user: create it now
			// so that the workspace knows who "me" is.
			id, err := s.actorID(tx, &Principal{Role: ticket.RoleAdmin, TokenID: adminTokenID})
			if err != nil {
				return err
			}
			sess.UserID = id
		}
		var err error
		if u, err = tx.User(sess.UserID); err != nil {
			return err
		}
		return tx.PutSession(sess)
	})
	if err != nil {
		return storeError(err)
	}
	http.SetCookie(w, s.sessionCookie(r, secret, sess.ExpiresAt))
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, sessionJSON{CSRFToken: sess.CSRF, ExpiresAt: sess.ExpiresAt, Role: sess.Role, Method: method, User: u})
	return nil
}

// tokenSession fills sess for a sign-in with an API token.
func (s *Server) tokenSession(r *http.Request, tok string, sess *store.Session) error {
	rr := r.Clone(r.Context())
	rr.Header = http.Header{"Authorization": {"Bearer " + strings.TrimSpace(tok)}}
	p, err := s.authenticate(rr)
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
			return unauthorized("this token is not valid")
		}
		return err
	}
	sess.Role, sess.UserID, sess.TokenID = p.Role, p.UserID, p.TokenID
	if p.TokenID == adminTokenID {
		sess.TokenID = s.adminFingerprint()
	}
	return nil
}

// passwordSession fills sess for a sign-in with email and password. The
// KDF runs whether or not the user exists, so timing does not tell.
func (s *Server) passwordSession(email, password string, sess *store.Session) error {
	var u *ticket.User
	var pw *store.Password
	err := s.store.View(func(tx *store.ReadTx) error {
		var err error
		u, err = tx.UserByIdentity("email", email)
		if err != nil {
			return err
		}
		pw, err = tx.PasswordOf(u.ID)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return unavailable(err)
	}
	hash := ""
	if pw != nil {
		hash = pw.Hash
	}
	ok := s.passwords.verify(hash, password)
	if !ok || pw == nil || u.MergedInto != 0 || (u.Role != ticket.RoleAgent && u.Role != ticket.RoleAdmin) {
		return unauthorized("wrong email or password")
	}
	sess.Role, sess.UserID, sess.PasswordGeneration = u.Role, u.ID, pw.Generation
	return nil
}

// sessionCookie is the session cookie: HttpOnly, SameSite=Strict, for the
// whole site, Secure when the request came over TLS (or the server is told
// it is behind TLS).
func (s *Server) sessionCookie(r *http.Request, value string, expires time.Time) *http.Cookie {
	c := &http.Cookie{
		Name:     SessionCookie,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   r.TLS != nil || s.secureCookies,
	}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	return c
}

// getSession serves GET /api/v1/session: the caller's session with its
// CSRF token (the workspace reads it on load). A bearer-token caller has
// no session: 404.
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	if p.session == nil {
		return notFound("no workspace session: this request was authenticated with a bearer token")
	}
	out := sessionJSON{CSRFToken: p.session.sess.CSRF, ExpiresAt: p.session.sess.ExpiresAt, Role: p.Role, Method: "password"}
	if p.session.sess.TokenID != "" {
		out.Method = "token"
	}
	err := s.view(func(tx *store.ReadTx) error {
		var err error
		out.User, err = tx.User(p.UserID)
		return err
	})
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deleteSession serves DELETE /api/v1/session: signs out (the session is
// deleted and the cookie cleared). A bearer-token caller has no session:
// 404.
func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	if p.session == nil {
		return notFound("no workspace session: this request was authenticated with a bearer token")
	}
	err := s.store.Update(r.Context(), func(tx *store.Tx) error {
		tx.DeleteSession(p.session.hash)
		return nil
	})
	if err != nil {
		return storeError(err)
	}
	s.sessionStreams.end(func(e *streamEntry) bool { return e.hash == p.session.hash })
	http.SetCookie(w, s.sessionCookie(r, "", time.Time{}))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// passwordSet is the body of PUT /api/v1/users/{id}/password.
type passwordSet struct {
	Password string `json:"password"`
}

// signInUser reads the {id} of a password route: an existing, unmerged
// agent or admin.
func signInUser(tx *store.Tx, raw string) (*ticket.User, error) {
	id, err := strconv.ParseUint(raw, 10, 64)
	if err != nil || id == 0 {
		return nil, notFound("user %q not found", raw)
	}
	u, err := tx.User(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("user %d not found", id)
	}
	if err != nil {
		return nil, err
	}
	if u.MergedInto != 0 {
		return nil, invalidField("id", "user %d was merged into user %d", id, u.MergedInto)
	}
	if u.Role != ticket.RoleAgent && u.Role != ticket.RoleAdmin {
		return nil, invalidField("id", "user %d is not an agent: only agents and admins sign in", id)
	}
	return u, nil
}

// setPassword serves PUT /api/v1/users/{id}/password (admin): sets or
// resets an agent's password. Sessions opened with the old password end.
func (s *Server) setPassword(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var in passwordSet
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if err := checkPassword(in.Password); err != nil {
		return err
	}
	hash, err := s.passwords.hash(in.Password)
	if err != nil {
		return internal(err)
	}
	var userID uint64
	err = s.store.Update(r.Context(), func(tx *store.Tx) error {
		u, err := signInUser(tx, r.PathValue("id"))
		if err != nil {
			return err
		}
		userID = u.ID
		_, err = tx.SetPassword(u.ID, hash)
		return err
	})
	if err != nil {
		return storeError(err)
	}
	s.sessionStreams.end(func(e *streamEntry) bool { return e.password && e.userID == userID })
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deletePassword serves DELETE /api/v1/users/{id}/password (admin): the
// agent can no longer sign in with a password and their password sessions
// end (their API tokens are revoked separately).
func (s *Server) deletePassword(w http.ResponseWriter, r *http.Request) error {
	var userID uint64
	err := s.store.Update(r.Context(), func(tx *store.Tx) error {
		u, err := signInUser(tx, r.PathValue("id"))
		if err != nil {
			return err
		}
		userID = u.ID
		if err := tx.DeletePassword(u.ID); errors.Is(err, store.ErrNotFound) {
			return notFound("user %d has no password", u.ID)
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return storeError(err)
	}
	s.sessionStreams.end(func(e *streamEntry) bool { return e.password && e.userID == userID })
	w.WriteHeader(http.StatusNoContent)
	return nil
}
