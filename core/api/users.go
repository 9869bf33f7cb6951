package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// userList is the answer of GET /api/v1/users.
type userList struct {
	Users      []*ticket.User `json:"users"`
	NextCursor *string        `json:"next_cursor"`
}

// userScanBudget bounds how many user records one page of an unfiltered
// or role-filtered user list examines; a page may then be short (even
// empty) while next_cursor is set.
const userScanBudget = 5000

// parseIdentity splits "type:value" (the value may contain colons, as in
// slack:T123:U456).
func parseIdentity(s string) (ticket.Identity, error) {
	typ, value, ok := strings.Cut(s, ":")
	idn := ticket.NormalizeIdentity(typ, value)
	if !ok || idn.Type == "" || idn.Value == "" || strings.IndexByte(s, 0) >= 0 {
		return idn, invalidField("identity", "must be type:value, e.g. email:ada@example.test or slack:T123:U456")
	}
	return idn, nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "identity", "role", "limit", "cursor")
	if err != nil {
		return err
	}
	limit, err := parseLimit(q, DefaultLimit)
	if err != nil {
		return err
	}
	out := userList{Users: []*ticket.User{}}
	if v := q.Get("identity"); v != "" {
		if q.Get("cursor") != "" || q.Get("role") != "" {
			return invalidField("identity", "cannot be combined with role or cursor")
		}
		idn, err := parseIdentity(v)
		if err != nil {
			return err
		}
		err = s.view(func(tx *store.ReadTx) error {
			u, err := tx.UserByIdentity(idn.Type, idn.Value)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			out.Users = append(out.Users, u)
			return nil
		})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	role := ticket.Role(q.Get("role"))
	switch role {
	case "", ticket.RoleEndUser, ticket.RoleAgent, ticket.RoleAdmin:
	default:
		return invalidField("role", "must be one of end-user, agent, admin")
	}
	scope := "users\x00" + string(role)
	c, ok, err := decodeCursor(scope, q.Get("cursor"))
	if err != nil {
		return err
	}
	// User ids are dense (a sequence; users are never deleted), so the
	// newest-first list walks ids downwards with point lookups.
	err = s.view(func(tx *store.ReadTx) error {
		next, err := tx.LastID(store.SeqUser)
		if err != nil {
			return err
		}
		if ok {
			next = min(next, c.After-1)
			if c.After == 0 {
				next = 0
			}
		}
		for examined := 0; next > 0; next-- {
			if len(out.Users) == limit || examined == userScanBudget {
				cur := encodeCursor(scope, next+1)
				out.NextCursor = &cur
				return nil
			}
			examined++
			u, err := tx.User(next)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if u.MergedInto != 0 || (role != "" && u.Role != role) {
				continue
			}
			out.Users = append(out.Users, u)
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", "user")
	if err != nil {
		return err
	}
	var u *ticket.User
	err = s.view(func(tx *store.ReadTx) error {
		var err error
		u, err = tx.User(id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("user %d not found", id)
		}
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// userMerge is the body of POST /api/v1/users/{id}/merge.
type userMerge struct {
	Into *uint64 `json:"into"`
}

// mergeUser merges end user {id} into user "into": identities and
// requested tickets move to "into"; {id} is kept with merged_into.
func (s *Server) mergeUser(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", "user")
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var in userMerge
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if in.Into == nil || *in.Into == 0 {
		return invalidField("into", "is required: the id of the user to merge into")
	}
	into := *in.Into
	if into == id {
		return invalidField("into", "must be another user than %d", id)
	}
	return s.commit(w, r, body, func(tx *store.Tx) (*result, error) {
		src, err := tx.User(id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFound("user %d not found", id)
		}
		if err != nil {
			return nil, err
		}
		if src.MergedInto != 0 {
			return nil, conflict("user %d was already merged into user %d", id, src.MergedInto)
		}
		if src.Role != ticket.RoleEndUser {
			return nil, invalidField("id", "user %d is an agent; only end users can be merged", id)
		}
		dst, err := tx.User(into)
		if errors.Is(err, store.ErrNotFound) {
			return nil, invalidField("into", "user %d does not exist", into)
		}
		if err != nil {
			return nil, err
		}
		if dst.MergedInto != 0 {
			return nil, invalidField("into", "user %d was merged into user %d; merge into that user", into, dst.MergedInto)
		}
		if p := principalFrom(r.Context()); dst.Role != ticket.RoleEndUser && (p == nil || p.Role != ticket.RoleAdmin) {
			// Merging moves identities: an agent token must not hand a
			// customer's addresses (and tickets) to an agent account.
			return nil, invalidField("into", "user %d is an agent or administrator: only an administrator can merge into one", into)
		}
		actor, err := s.actorID(tx, principalFrom(r.Context()))
		if err != nil {
			return nil, err
		}
		tx.SetActor(actor)
		merged, err := tx.MergeUsers(id, into)
		if err != nil {
			return nil, err
		}
		return &result{status: http.StatusOK, body: merged}, nil
	})
}

// meJSON is the answer of GET /api/v1/me: who the token acts as.
type meJSON struct {
	Role    ticket.Role `json:"role"`
	TokenID string      `json:"token_id"`
	// Scope is "read" or "write" (see POST /api/v1/tokens).
	Scope string       `json:"scope"`
	User  *ticket.User `json:"user"`
}

// me tells the caller which user its token acts as (so that a software
// agent can filter on assignee_id). The admin token's user is null until it
// first writes.
func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	out := meJSON{Role: p.Role, TokenID: p.TokenID, Scope: p.Scope}
	err := s.view(func(tx *store.ReadTx) error {
		var u *ticket.User
		var err error
		if p.UserID != 0 {
			u, err = tx.User(p.UserID)
		} else {
			u, err = tx.UserByIdentity(adminIdentityType, adminIdentityValue)
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		out.User = u
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
