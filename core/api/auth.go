package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// tokenPrefix starts every agent token, so that leaked tokens are easy to
// recognise (secret scanners) and to tell from the admin token.
const tokenPrefix = "pbt_"

// Principal is the authenticated caller of a request.
type Principal struct {
	// Role is ticket.RoleAdmin or ticket.RoleAgent.
	Role ticket.Role
	// TokenID identifies the token (never the token itself): the stored
	// token's id, or "admin" for the PATCHBAY_ADMIN_TOKEN.
	TokenID string
	// UserID is the agent user the token acts as; 0 for the admin token
	// until it first needs an author (see Server.actorID).
	UserID uint64
	// Scope is store.ScopeRead (GET routes only) or store.ScopeWrite
	// (everything the role allows; the admin token's scope).
	Scope string
	// session is set when the request was authenticated by a workspace
	// session cookie (session.go).
	session *sessionAuth
}

// readOnly reports whether the principal may only read.
func (p *Principal) readOnly() bool { return p.Scope == store.ScopeRead }

// adminTokenID is the TokenID of the PATCHBAY_ADMIN_TOKEN principal.
const adminTokenID = "admin"

type principalKey struct{}

func withPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalFrom returns the request's authenticated caller, or nil on an
// unauthenticated route.
func principalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// bearerToken extracts the token from an "Authorization: Bearer …" header.
func bearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", unauthorized("missing bearer token: send Authorization: Bearer <token>")
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", unauthorized("malformed Authorization header: send Authorization: Bearer <token>")
	}
	return strings.TrimSpace(tok), nil
}

// hashToken returns the stored form of a token: hex SHA-256. Tokens carry
// 256 bits of entropy, so a fast hash is enough (no password stretching).
func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// isAdminToken compares tok with the admin token's hash in constant time
// (hashing first so that lengths do not leak either).
func isAdminToken(adminHash []byte, tok string) bool {
	if len(adminHash) == 0 {
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], adminHash) == 1
}

// newToken returns a fresh agent token: the prefix and 32 random bytes.
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// authenticate checks the request's bearer token: the admin token, or an
// agent token looked up by its hash. Missing, unknown and revoked tokens
// are 401. A request without an Authorization header but with a workspace
// session cookie is authenticated by its session (session.go).
func (s *Server) authenticate(r *http.Request) (*Principal, error) {
	if hasSessionCookie(r) {
		return s.authenticateSession(r)
	}
	tok, err := bearerToken(r)
	if err != nil {
		return nil, err
	}
	if isAdminToken(s.adminHash, tok) {
		return adminPrincipal(), nil
	}
	if !strings.HasPrefix(tok, tokenPrefix) {
		return nil, unauthorized("invalid token")
	}
	var t *store.Token
	err = s.store.View(func(tx *store.ReadTx) error {
		var err error
		t, err = tx.TokenByHash(hashToken(tok))
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, unauthorized("invalid token")
	case err != nil:
		return nil, unavailable(err)
	case t.Revoked():
		return nil, unauthorized("token has been revoked")
	}
	return tokenPrincipal(t), nil
}

// adminPrincipal is the caller of the admin token (and of a workspace
// session opened with it).
func adminPrincipal() *Principal {
	return &Principal{Role: ticket.RoleAdmin, TokenID: adminTokenID, Scope: store.ScopeWrite}
}

// tokenPrincipal is the caller of a stored, unrevoked token (and of a
// workspace session opened with it): everything the token grants is set
// here, in one place, so that a session never grants more than its token.
func tokenPrincipal(t *store.Token) *Principal {
	role := t.Role
	if role != ticket.RoleAdmin {
		role = ticket.RoleAgent
	}
	return &Principal{Role: role, TokenID: strconv.FormatUint(t.ID, 10), UserID: t.UserID, Scope: t.EffectiveScope()}
}
