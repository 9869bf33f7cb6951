package api

import (
	"strings"
	"testing"
)

func TestAuth(t *testing.T) {
	e := newEnv(t)
	agent, _ := e.agentToken("Ada", "ada@example.test")
	revoked, _ := e.agentToken("Bob", "bob@example.test")
	var tokens struct {
		Tokens []struct {
			ID     uint64 `json:"id"`
			UserID uint64 `json:"user_id"`
		} `json:"tokens"`
	}
	e.must(200, "GET", "/api/v1/tokens", e.admin, nil).decode(t, &tokens)
	e.must(204, "DELETE", "/api/v1/tokens/"+itoa(tokens.Tokens[1].ID), e.admin, nil)

	cases := []struct {
		name   string
		method string
		path   string
		header string
		status int
		code   string
	}{
		{"missing token", "GET", "/api/v1/tickets", "", 401, CodeUnauthorized},
		{"not bearer", "GET", "/api/v1/tickets", "Authorization: Basic YWRtaW46eA==", 401, CodeUnauthorized},
		{"empty bearer", "GET", "/api/v1/tickets", "Authorization: Bearer ", 401, CodeUnauthorized},
		{"wrong admin token", "GET", "/api/v1/tickets", "Authorization: Bearer " + testAdminToken + "x", 401, CodeUnauthorized},
		{"wrong agent token", "GET", "/api/v1/tickets", "Authorization: Bearer " + agent[:len(agent)-2] + "zz", 401, CodeUnauthorized},
		{"revoked token", "GET", "/api/v1/tickets", "Authorization: Bearer " + revoked, 401, CodeUnauthorized},
		{"agent on admin list", "GET", "/api/v1/tokens", "Authorization: Bearer " + agent, 403, CodeForbidden},
		{"agent creating a token", "POST", "/api/v1/tokens", "Authorization: Bearer " + agent, 403, CodeForbidden},
		{"agent revoking a token", "DELETE", "/api/v1/tokens/1", "Authorization: Bearer " + agent, 403, CodeForbidden},
		{"missing token on events", "GET", "/api/v1/events", "", 401, CodeUnauthorized},
		{"missing token on attachments", "GET", "/api/v1/attachments/x", "", 401, CodeUnauthorized},
		{"missing token on create", "POST", "/api/v1/tickets", "", 401, CodeUnauthorized},
		{"revoked token on a reply", "POST", "/api/v1/tickets/1/comments", "Authorization: Bearer " + revoked, 401, CodeUnauthorized},
		{"missing token on merge", "POST", "/api/v1/users/1/merge", "", 401, CodeUnauthorized},
		{"agent on backup", "GET", "/api/v1/backup", "Authorization: Bearer " + agent, 403, CodeForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snap()
			var body any
			if c.method == "POST" {
				body = map[string]any{"name": "Eve", "email": "eve@example.test"}
			}
			hdr := []string{}
			if c.header != "" {
				hdr = append(hdr, c.header)
			}
			r := e.req(c.method, c.path, "", body, hdr...)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if got := r.apiErr(t); got.Code != c.code {
				t.Fatalf("code %q, want %q", got.Code, c.code)
			}
			if c.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if after := e.snap(); after != before {
				t.Fatalf("store changed: %+v -> %+v", before, after)
			}
		})
	}
	// The valid agent token works on agent routes.
	e.must(200, "GET", "/api/v1/tickets", agent, nil)
}

func TestAdminTokenDisabledWhenEmpty(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AdminToken = "" })
	r := e.req("GET", "/api/v1/tickets", "", nil, "Authorization: Bearer ")
	if r.status != 401 {
		t.Fatalf("status %d", r.status)
	}
	if r := e.req("GET", "/api/v1/tickets", testAdminToken, nil); r.status != 401 {
		t.Fatalf("admin token accepted although none is configured: %d", r.status)
	}
}

func TestTokenLifecycle(t *testing.T) {
	e := newEnv(t)
	var created struct {
		ID     uint64 `json:"id"`
		Token  string `json:"token"`
		Role   string `json:"role"`
		UserID uint64 `json:"user_id"`
		User   struct {
			Name  string `json:"name"`
			Email string `json:"email"`
			Role  string `json:"role"`
		} `json:"user"`
	}
	r := e.must(201, "POST", "/api/v1/tokens", e.admin, map[string]any{"name": "Ada Agent", "email": "Ada@Example.test", "description": "triage bot"})
	r.decode(t, &created)
	if created.Role != "agent" || created.User.Role != "agent" || created.User.Email != "ada@example.test" || created.User.Name != "Ada Agent" {
		t.Fatalf("created %+v", created)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Error("token answer is cacheable")
	}
	// The same email gets another token for the same user.
	var second struct {
		UserID uint64 `json:"user_id"`
	}
	e.must(201, "POST", "/api/v1/tokens", e.admin, map[string]any{"email": "ada@example.test"}).decode(t, &second)
	if second.UserID != created.UserID {
		t.Fatalf("second token for user %d, want %d", second.UserID, created.UserID)
	}
	// The list shows neither secrets nor hashes.
	list := string(e.must(200, "GET", "/api/v1/tokens", e.admin, nil).body)
	for _, leak := range []string{created.Token, hashToken(created.Token), "hash"} {
		if strings.Contains(list, leak) {
			t.Fatalf("token list leaks %q: %s", leak, list)
		}
	}
	// An end user promoted by user_id.
	tk := e.createTicket(e.admin, "x", "cust@example.test")
	var promoted struct {
		User struct{ Role string } `json:"user"`
	}
	e.must(201, "POST", "/api/v1/tokens", e.admin, map[string]any{"user_id": tk.RequesterID}).decode(t, &promoted)
	if promoted.User.Role != "agent" {
		t.Fatalf("end user not promoted: %+v", promoted)
	}
	// Revoke: 204, then the token is refused; unknown ids are 404.
	e.must(200, "GET", "/api/v1/tickets", created.Token, nil)
	e.must(204, "DELETE", "/api/v1/tokens/"+itoa(created.ID), e.admin, nil)
	e.must(401, "GET", "/api/v1/tickets", created.Token, nil)
	e.must(204, "DELETE", "/api/v1/tokens/"+itoa(created.ID), e.admin, nil)
	if e.must(404, "DELETE", "/api/v1/tokens/999", e.admin, nil).apiErr(t).Code != CodeNotFound {
		t.Fatal("wrong code")
	}
	e.must(404, "DELETE", "/api/v1/tokens/admin", e.admin, nil)
	// An admin-role token can call admin routes.
	var adm struct {
		Token string `json:"token"`
	}
	e.must(201, "POST", "/api/v1/tokens", e.admin, map[string]any{"email": "root@example.test", "role": "admin"}).decode(t, &adm)
	e.must(200, "GET", "/api/v1/tokens", adm.Token, nil)
}

func TestMe(t *testing.T) {
	e := newEnv(t)
	agent, agentID := e.agentToken("Ada", "ada@example.test")
	var me meJSON
	e.must(200, "GET", "/api/v1/me", agent, nil).decode(t, &me)
	if me.Role != "agent" || me.User == nil || me.User.ID != agentID || me.TokenID == "" || me.TokenID == "admin" {
		t.Fatalf("agent me %+v", me)
	}
	var adm meJSON
	e.must(200, "GET", "/api/v1/me", e.admin, nil).decode(t, &adm)
	if adm.Role != "admin" || adm.TokenID != "admin" || adm.User != nil {
		t.Fatalf("admin me before any write %+v", adm)
	}
}
