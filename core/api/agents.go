package api

import (
	"net/http"
	"unicode/utf8"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// agentCreate is the body of POST /api/v1/users (admin): a person who
// works tickets, with an optional first workspace password.
type agentCreate struct {
	Name     string      `json:"name"`
	Email    string      `json:"email"`
	Role     ticket.Role `json:"role"`
	Password string      `json:"password"`
}

// checkPassword refuses a password the workspace would not accept.
func checkPassword(pw string) error {
	switch n := len(pw); {
	case !utf8.ValidString(pw):
		return invalidField("password", "must be valid UTF-8")
	case n < minPasswordLength:
		return invalidField("password", "must be at least %d characters", minPasswordLength)
	case n > maxPasswordLength:
		return invalidField("password", "must be at most %d bytes", maxPasswordLength)
	}
	return nil
}

// createAgent serves POST /api/v1/users (admin): adds an agent (or an
// admin) by email, as token creation does (a known end user with that email
// becomes the agent; an agent asked for as admin becomes one), and sets
// their first workspace password when one is given. It needs no API token,
// so an agent who only signs in to the workspace never has one.
func (s *Server) createAgent(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var in agentCreate
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	tc := tokenCreate{Name: in.Name, Email: in.Email, Role: in.Role}
	if err := tc.validate(); err != nil {
		return err
	}
	if tc.Email == "" {
		return invalidField("email", "is required")
	}
	var hash string
	if in.Password != "" {
		if err := checkPassword(in.Password); err != nil {
			return err
		}
		if hash, err = s.passwords.hash(in.Password); err != nil {
			return internal(err)
		}
	}
	return s.commit(w, r, body, func(tx *store.Tx) (*result, error) {
		u, err := tokenUser(tx, &tc)
		if err != nil {
			return nil, err
		}
		if hash != "" {
			if _, err := tx.SetPassword(u.ID, hash); err != nil {
				return nil, err
			}
		}
		return &result{status: http.StatusCreated, body: u}, nil
	})
}
