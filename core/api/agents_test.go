package api

import (
	"testing"
)

// TestCreateAgent: an admin adds an agent by email with a first password;
// they can sign in to the workspace at once, and no API token exists for
// them. Agents cannot add agents; bad input changes nothing.
func TestCreateAgent(t *testing.T) {
	e := newEnv(t)
	r := e.must(201, "POST", "/api/v1/users", e.admin, map[string]any{"name": "Grace", "email": "Grace@Acme.test", "password": "correct horse battery"})
	var u struct {
		ID    uint64 `json:"id"`
		Email string `json:"email"`
		Role  string `json:"role"`
	}
	r.decode(t, &u)
	if u.ID == 0 || u.Email != "grace@acme.test" || u.Role != "agent" {
		t.Fatalf("created %+v", u)
	}
	e.must(201, "POST", "/api/v1/session", "", map[string]any{"email": "grace@acme.test", "password": "correct horse battery"})
	var toks struct {
		Tokens []struct {
			UserID uint64 `json:"user_id"`
		} `json:"tokens"`
	}
	e.must(200, "GET", "/api/v1/tokens", e.admin, nil).decode(t, &toks)
	for _, tk := range toks.Tokens {
		if tk.UserID == u.ID {
			t.Errorf("adding an agent created a token for them")
		}
	}

	agent, _ := e.agentToken("Ada", "ada@acme.test")
	e.must(403, "POST", "/api/v1/users", agent, map[string]any{"email": "eve@acme.test"})
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no email", map[string]any{"name": "X"}, "email"},
		{"bad email", map[string]any{"email": "not-an-address"}, "email"},
		{"end-user role", map[string]any{"email": "x@acme.test", "role": "end-user"}, "role"},
		{"short password", map[string]any{"email": "x@acme.test", "password": "short"}, "password"},
	} {
		if got := e.must(422, "POST", "/api/v1/users", e.admin, tc.body).apiErr(t).Field; got != tc.field {
			t.Errorf("%s: field %q, want %q", tc.name, got, tc.field)
		}
	}
	var users struct {
		Users []struct {
			Email string `json:"email"`
		} `json:"users"`
	}
	e.must(200, "GET", "/api/v1/users?role=agent", e.admin, nil).decode(t, &users)
	for _, x := range users.Users {
		if x.Email == "x@acme.test" || x.Email == "eve@acme.test" {
			t.Errorf("a refused request created %s", x.Email)
		}
	}
}
