package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// tokenJSON is a token as the API shows it: never the secret, never its
// hash.
type tokenJSON struct {
	ID          uint64      `json:"id"`
	Role        ticket.Role `json:"role"`
	UserID      uint64      `json:"user_id"`
	Scope       string      `json:"scope"`
	Description string      `json:"description,omitempty"`
	CreatedAt   time.Time   `json:"created_at"`
	RevokedAt   time.Time   `json:"revoked_at,omitzero"`
}

// newTokenJSON is the answer of POST /api/v1/tokens: the only time the
// secret is shown.
type newTokenJSON struct {
	tokenJSON
	// Token is the secret. It is omitted from an idempotent replay: the
	// secret is never stored, only its hash.
	Token string       `json:"token,omitempty"`
	User  *ticket.User `json:"user"`
}

func toTokenJSON(t *store.Token) tokenJSON {
	return tokenJSON{ID: t.ID, Role: t.Role, UserID: t.UserID, Scope: t.EffectiveScope(), Description: t.Name, CreatedAt: t.CreatedAt, RevokedAt: t.RevokedAt}
}

// tokenCreate is the body of POST /api/v1/tokens: either user_id, or an
// email (and name) naming the agent, created on the fly when unknown.
type tokenCreate struct {
	UserID uint64      `json:"user_id"`
	Name   string      `json:"name"`
	Email  string      `json:"email"`
	Role   ticket.Role `json:"role"`
	// Scope is "read" (GET routes and read-only MCP tools) or "write"
	// (the default: everything the role allows).
	Scope       string `json:"scope"`
	Description string `json:"description"`
}

func (in *tokenCreate) validate() error {
	switch in.Role {
	case "":
		in.Role = ticket.RoleAgent
	case ticket.RoleAgent, ticket.RoleAdmin:
	default:
		return invalidField("role", "must be agent or admin")
	}
	switch in.Scope {
	case "":
		in.Scope = store.ScopeWrite
	case store.ScopeRead, store.ScopeWrite:
	default:
		return invalidField("scope", "must be read or write")
	}
	in.Name = strings.TrimSpace(in.Name)
	in.Description = strings.TrimSpace(in.Description)
	if err := checkText("name", in.Name, maxNameLength); err != nil {
		return err
	}
	if err := checkText("description", in.Description, maxNameLength); err != nil {
		return err
	}
	if in.UserID != 0 {
		if in.Email != "" || in.Name != "" {
			return invalidField("user_id", "give either user_id or name and email, not both")
		}
		return nil
	}
	email, err := normalizeEmail("email", in.Email)
	if err != nil {
		return err
	}
	in.Email = email
	return nil
}

// tokenUser finds or creates the agent a new token acts as. An end user
// becomes an agent, an agent becomes an admin for an admin token: the
// administrator asked for it.
func tokenUser(tx *store.Tx, in *tokenCreate) (*ticket.User, error) {
	var u *ticket.User
	var err error
	if in.UserID != 0 {
		u, err = tx.User(in.UserID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, invalidField("user_id", "user %d does not exist", in.UserID)
		}
	} else {
		u, err = tx.UserByIdentity("email", in.Email)
		if errors.Is(err, store.ErrNotFound) {
			name := in.Name
			if name == "" {
				name, _, _ = strings.Cut(in.Email, "@")
			}
			u = &ticket.User{Name: name, Email: in.Email, Role: in.Role,
				Identities: []ticket.Identity{{Type: "email", Value: in.Email}}}
			if err := tx.CreateUser(u); err != nil {
				return nil, err
			}
			return u, nil
		}
	}
	if err != nil {
		return nil, err
	}
	if u.MergedInto != 0 {
		return nil, invalidField("user_id", "user %d was merged into user %d", u.ID, u.MergedInto)
	}
	want := u.Role
	if want == ticket.RoleEndUser || want == "" {
		want = ticket.RoleAgent
	}
	if in.Role == ticket.RoleAdmin {
		want = ticket.RoleAdmin
	}
	if want != u.Role {
		u.Role = want
		if err := tx.UpdateUser(u); err != nil {
			return nil, err
		}
	}
	return u, nil
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var in tokenCreate
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if err := in.validate(); err != nil {
		return err
	}
	secret := newToken()
	return s.commit(w, r, body, func(tx *store.Tx) (*result, error) {
		u, err := tokenUser(tx, &in)
		if err != nil {
			return nil, err
		}
		t := &store.Token{Hash: hashToken(secret), UserID: u.ID, Role: in.Role, Scope: in.Scope, Name: in.Description}
		if err := tx.PutToken(t); err != nil {
			return nil, err
		}
		out := newTokenJSON{tokenJSON: toTokenJSON(t), Token: secret, User: u}
		replay := out
		replay.Token = ""
		return &result{
			status: http.StatusCreated,
			header: http.Header{"Cache-Control": {"no-store"}},
			body:   out,
			stored: replay,
		}, nil
	})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	out := []tokenJSON{}
	err := s.view(func(tx *store.ReadTx) error {
		ts, err := tx.Tokens()
		if err != nil {
			return err
		}
		for _, t := range ts {
			out = append(out, toTokenJSON(t))
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", "token")
	if err != nil {
		return err
	}
	err = s.store.Update(r.Context(), func(tx *store.Tx) error {
		_, err := tx.RevokeToken(id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("token %d not found", id)
		}
		return err
	})
	if err != nil {
		return storeError(err)
	}
	// The token's requests in progress end now: its event streams and any
	// long answer (a backup, a download) stop delivering at once.
	var self *liveRequest
	if ri := reqInfoFrom(r.Context()); ri != nil {
		self = ri.live
	}
	if n := s.live.revoke(strconv.FormatUint(id, 10), self); n > 0 {
		s.log.Info("revoked token's open requests ended", "token_id", id, "requests", n)
	}
	// Workspace sessions opened with the token end now, streams included.
	s.endTokenStreams(strconv.FormatUint(id, 10))
	w.WriteHeader(http.StatusNoContent)
	return nil
}
