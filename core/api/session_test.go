package api

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// cheapArgon2 keeps password hashing fast in tests.
func cheapArgon2(o *Options) { o.Argon2 = Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1} }

// signedIn is a workspace session as a browser holds it.
type signedIn struct {
	cookie string // "patchbay_session=…"
	csrf   string
	userID uint64
	method string
	raw    *http.Cookie
}

// hdr returns the request headers of the session; withCSRF adds the CSRF
// header.
func (s signedIn) hdr(withCSRF bool, extra ...string) []string {
	h := []string{"Cookie: " + s.cookie}
	if withCSRF {
		h = append(h, CSRFHeader+": "+s.csrf)
	}
	return append(h, extra...)
}

// signIn posts body to POST /api/v1/session and returns the session.
func (e *env) signIn(body any) signedIn {
	e.t.Helper()
	r := e.must(201, "POST", "/api/v1/session", "", body)
	var out struct {
		CSRF   string `json:"csrf_token"`
		Method string `json:"method"`
		User   struct {
			ID uint64 `json:"id"`
		} `json:"user"`
	}
	r.decode(e.t, &out)
	res := &http.Response{Header: r.header}
	var c *http.Cookie
	for _, k := range res.Cookies() {
		if k.Name == SessionCookie {
			c = k
		}
	}
	if c == nil || c.Value == "" || out.CSRF == "" || out.User.ID == 0 {
		e.t.Fatalf("sign-in answer without cookie, csrf or user: %s %v", r.body, r.header)
	}
	return signedIn{cookie: SessionCookie + "=" + c.Value, csrf: out.CSRF, userID: out.User.ID, method: out.Method, raw: c}
}

// setPassword gives the agent a password through the admin route.
func (e *env) setPassword(userID uint64, pw string) {
	e.t.Helper()
	e.must(204, "PUT", fmt.Sprintf("/api/v1/users/%d/password", userID), e.admin, map[string]any{"password": pw})
}

func TestSessionPasswordSignIn(t *testing.T) {
	e := newEnv(t, cheapArgon2)
	_, agentID := e.agentToken("Grace", "grace@acme.test")
	e.setPassword(agentID, "correct horse battery")
	tk := e.createTicket(e.admin, "Printer", "ada@customer.test")

	// Wrong password and unknown email: the same 401, nothing written.
	before := e.snap()
	for _, body := range []map[string]any{
		{"email": "grace@acme.test", "password": "wrong password!"},
		{"email": "nobody@acme.test", "password": "correct horse battery"},
		{"email": "ada@customer.test", "password": "correct horse battery"}, // an end user
	} {
		r := e.req("POST", "/api/v1/session", "", body)
		if r.status != 401 || r.apiErr(t).Message != "wrong email or password" {
			t.Fatalf("%v: %d %s", body, r.status, r.body)
		}
		if len(r.header.Values("Set-Cookie")) != 0 {
			t.Fatalf("failed sign-in set a cookie: %v", r.header)
		}
	}
	if after := e.snap(); after != before {
		t.Fatalf("failed sign-ins changed the store: %+v → %+v", before, after)
	}

	s := e.signIn(map[string]any{"email": "Grace@Acme.test", "password": "correct horse battery"})
	if !s.raw.HttpOnly || s.raw.SameSite != http.SameSiteStrictMode || s.raw.Path != "/" || s.method != "password" || s.userID != agentID {
		t.Fatalf("cookie %+v, session %+v", s.raw, s)
	}

	// The cookie authenticates API calls as the agent.
	var me struct {
		Role string `json:"role"`
		User struct {
			ID uint64 `json:"id"`
		} `json:"user"`
	}
	e.must(200, "GET", "/api/v1/me", "", nil, s.hdr(false)...).decode(t, &me)
	if me.Role != "agent" || me.User.ID != agentID {
		t.Fatalf("me = %+v", me)
	}
	var got sessionJSON
	e.must(200, "GET", "/api/v1/session", "", nil, s.hdr(false)...).decode(t, &got)
	if got.CSRFToken != s.csrf || got.Method != "password" || got.User == nil || got.User.ID != agentID {
		t.Fatalf("session = %+v", got)
	}

	// State-changing requests need the CSRF token and this origin.
	path := fmt.Sprintf("/api/v1/tickets/%d/comments", tk.ID)
	note := map[string]any{"body": "internal", "public": false}
	before = e.snap()
	for _, c := range []struct {
		name string
		hdr  []string
	}{
		{"no CSRF header", s.hdr(false)},
		{"wrong CSRF token", append(s.hdr(false), CSRFHeader+": nope")},
		{"other origin", s.hdr(true, "Origin: https://evil.test")},
	} {
		r := e.req("POST", path, "", note, c.hdr...)
		if r.status != 403 || r.apiErr(t).Code != CodeCSRF {
			t.Fatalf("%s: %d %s", c.name, r.status, r.body)
		}
	}
	if after := e.snap(); after != before {
		t.Fatalf("refused requests changed the store: %+v → %+v", before, after)
	}
	var c struct {
		AuthorID uint64 `json:"author_id"`
	}
	e.must(201, "POST", path, "", note, s.hdr(true, "Origin: "+e.ts.URL)...).decode(t, &c)
	if c.AuthorID != agentID {
		t.Fatalf("comment author %d, want the agent %d", c.AuthorID, agentID)
	}

	// An agent session is not an admin.
	if r := e.req("GET", "/api/v1/tokens", "", nil, s.hdr(false)...); r.status != 403 {
		t.Fatalf("agent session on an admin route: %d", r.status)
	}
	// A bearer token wins over the cookie: a bad one is 401 even with a session.
	if r := e.req("GET", "/api/v1/me", "bad-token", nil, s.hdr(false)...); r.status != 401 {
		t.Fatalf("bad bearer with a session cookie: %d", r.status)
	}
	// The bearer-token caller has no session.
	if r := e.req("GET", "/api/v1/session", e.admin, nil); r.status != 404 {
		t.Fatalf("GET session with a bearer token: %d", r.status)
	}

	// Resetting the password ends the session; the new one signs in.
	e.setPassword(agentID, "another long passphrase")
	if r := e.req("GET", "/api/v1/me", "", nil, s.hdr(false)...); r.status != 401 {
		t.Fatalf("session after password reset: %d %s", r.status, r.body)
	}
	s2 := e.signIn(map[string]any{"email": "grace@acme.test", "password": "another long passphrase"})
	// Removing the password ends it too and refuses further sign-ins.
	e.must(204, "DELETE", fmt.Sprintf("/api/v1/users/%d/password", agentID), e.admin, nil)
	if r := e.req("GET", "/api/v1/me", "", nil, s2.hdr(false)...); r.status != 401 {
		t.Fatalf("session after password removal: %d", r.status)
	}
	if r := e.req("POST", "/api/v1/session", "", map[string]any{"email": "grace@acme.test", "password": "another long passphrase"}); r.status != 401 {
		t.Fatalf("sign-in after password removal: %d", r.status)
	}
	e.must(404, "DELETE", fmt.Sprintf("/api/v1/users/%d/password", agentID), e.admin, nil)
}

func TestSessionTokenSignInAndRevocation(t *testing.T) {
	e := newEnv(t, cheapArgon2)
	tok, agentID := e.agentToken("Grace", "grace@acme.test")
	s := e.signIn(map[string]any{"token": tok})
	if s.userID != agentID || s.method != "token" {
		t.Fatalf("token session %+v", s)
	}
	e.must(200, "GET", "/api/v1/tickets", "", nil, s.hdr(false)...)

	// The admin token's session acts as the Administrator user.
	a := e.signIn(map[string]any{"token": e.admin})
	var me struct {
		Role string `json:"role"`
		User struct {
			ID   uint64 `json:"id"`
			Name string `json:"name"`
		} `json:"user"`
	}
	e.must(200, "GET", "/api/v1/me", "", nil, a.hdr(false)...).decode(t, &me)
	if me.Role != "admin" || me.User.ID != a.userID || me.User.Name != adminUserName {
		t.Fatalf("admin session me = %+v (session user %d)", me, a.userID)
	}
	e.must(200, "GET", "/api/v1/tokens", "", nil, a.hdr(false)...)

	// Revoking the token ends its session.
	var list struct {
		Tokens []struct {
			ID     uint64 `json:"id"`
			UserID uint64 `json:"user_id"`
		} `json:"tokens"`
	}
	e.must(200, "GET", "/api/v1/tokens", e.admin, nil).decode(t, &list)
	for _, tk := range list.Tokens {
		if tk.UserID == agentID {
			e.must(204, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", tk.ID), "", nil, a.hdr(true)...)
		}
	}
	r := e.req("GET", "/api/v1/tickets", "", nil, s.hdr(false)...)
	if r.status != 401 || !strings.Contains(r.apiErr(t).Message, "revoked") {
		t.Fatalf("session of a revoked token: %d %s", r.status, r.body)
	}

	// Bad tokens are 401 and set nothing.
	for _, bad := range []string{"pbt_unknown", "nonsense", tok} {
		if r := e.req("POST", "/api/v1/session", "", map[string]any{"token": bad}); r.status != 401 || len(r.header.Values("Set-Cookie")) != 0 {
			t.Fatalf("token %q: %d %v", bad, r.status, r.header)
		}
	}
}

func TestSessionSignOut(t *testing.T) {
	e := newEnv(t, cheapArgon2)
	s := e.signIn(map[string]any{"token": e.admin})
	// Signing out is state-changing: the CSRF token is required.
	if r := e.req("DELETE", "/api/v1/session", "", nil, s.hdr(false)...); r.status != 403 {
		t.Fatalf("sign-out without CSRF: %d", r.status)
	}
	r := e.must(204, "DELETE", "/api/v1/session", "", nil, s.hdr(true)...)
	cleared := false
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == SessionCookie && c.MaxAge < 0 {
			cleared = true
		}
	}
	if !cleared {
		t.Fatalf("sign-out did not clear the cookie: %v", r.header)
	}
	if r := e.req("GET", "/api/v1/me", "", nil, s.hdr(false)...); r.status != 401 {
		t.Fatalf("session after sign-out: %d", r.status)
	}
}

func TestSessionExpires(t *testing.T) {
	now := time.Now()
	clock := &now
	e := newEnv(t, cheapArgon2, func(o *Options) {
		o.SessionTTL = time.Hour
		o.Clock = func() time.Time { return *clock }
	})
	s := e.signIn(map[string]any{"token": e.admin})
	e.must(200, "GET", "/api/v1/me", "", nil, s.hdr(false)...)
	now = now.Add(time.Hour + time.Second)
	if r := e.req("GET", "/api/v1/me", "", nil, s.hdr(false)...); r.status != 401 {
		t.Fatalf("expired session: %d", r.status)
	}
}

func TestSessionSignInRateLimited(t *testing.T) {
	e := newEnv(t, cheapArgon2)
	_, agentID := e.agentToken("Grace", "grace@acme.test")
	e.setPassword(agentID, "correct horse battery")
	for i := 0; i < signinMaxFailures; i++ {
		e.must(401, "POST", "/api/v1/session", "", map[string]any{"email": "grace@acme.test", "password": fmt.Sprintf("guess number %d", i)})
	}
	// Locked out now, even with the right password.
	r := e.req("POST", "/api/v1/session", "", map[string]any{"email": "grace@acme.test", "password": "correct horse battery"})
	if r.status != 429 || r.apiErr(t).Code != CodeRateLimited || r.header.Get("Retry-After") == "" {
		t.Fatalf("after %d failures: %d %s %v", signinMaxFailures, r.status, r.body, r.header)
	}
	if len(r.header.Values("Set-Cookie")) != 0 {
		t.Fatal("a rate-limited sign-in set a cookie")
	}
}

func TestSessionBadInput(t *testing.T) {
	e := newEnv(t, cheapArgon2)
	_, agentID := e.agentToken("Grace", "grace@acme.test")
	var end struct {
		RequesterID uint64 `json:"requester_id"`
	}
	e.must(201, "POST", "/api/v1/tickets", e.admin, map[string]any{
		"subject": "x", "comment": map[string]any{"body": "y"}, "requester": map[string]any{"email": "cust@x.test"},
	}).decode(t, &end)
	before := e.snap()
	cases := []struct {
		name         string
		method, path string
		body         any
		status       int
		field        string
	}{
		{"sign-in: empty", "POST", "/api/v1/session", map[string]any{}, 422, "email"},
		{"sign-in: no password", "POST", "/api/v1/session", map[string]any{"email": "grace@acme.test"}, 422, "password"},
		{"sign-in: both", "POST", "/api/v1/session", map[string]any{"email": "a@b.test", "password": "x", "token": "y"}, 422, "token"},
		{"sign-in: unknown member", "POST", "/api/v1/session", map[string]any{"user": "x"}, 422, "user"},
		{"sign-in: not JSON", "POST", "/api/v1/session", "{", 400, ""},
		{"password: too short", "PUT", fmt.Sprintf("/api/v1/users/%d/password", agentID), map[string]any{"password": "short"}, 422, "password"},
		{"password: missing", "PUT", fmt.Sprintf("/api/v1/users/%d/password", agentID), map[string]any{}, 422, "password"},
		{"password: end user", "PUT", fmt.Sprintf("/api/v1/users/%d/password", end.RequesterID), map[string]any{"password": "long enough password"}, 422, "id"},
		{"password: unknown user", "PUT", "/api/v1/users/999/password", map[string]any{"password": "long enough password"}, 404, ""},
	}
	for _, c := range cases {
		tok := e.admin
		if c.path == "/api/v1/session" {
			tok = ""
		}
		r := e.req(c.method, c.path, tok, c.body)
		if r.status != c.status {
			t.Errorf("%s: %d, want %d: %s", c.name, r.status, c.status, r.body)
			continue
		}
		if ae := r.apiErr(t); ae.Field != c.field {
			t.Errorf("%s: field %q, want %q", c.name, ae.Field, c.field)
		}
	}
	if after := e.snap(); after != before {
		t.Fatalf("rejected requests changed the store: %+v → %+v", before, after)
	}
	// An agent token may not set passwords.
	tok, _ := e.agentToken("Other", "other@acme.test")
	e.must(403, "PUT", fmt.Sprintf("/api/v1/users/%d/password", agentID), tok, map[string]any{"password": "long enough password"})
}

func TestPasswordHashFormat(t *testing.T) {
	h := newHasher(Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1})
	phc, err := h.hash("pässwörd long")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q", phc)
	}
	other, _ := h.hash("pässwörd long")
	if other == phc {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, c := range []struct {
		hash, pw string
		want     bool
	}{
		{phc, "pässwörd long", true},
		{phc, "pässwörd lonG", false},
		{"", "", false},
		{"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", "x", false},
		{strings.Replace(phc, "m=64", "m=999999999", 1), "pässwörd long", false},
	} {
		if got := h.verify(c.hash, c.pw); got != c.want {
			t.Errorf("verify(%q, %q) = %v", c.hash, c.pw, got)
		}
	}
}

// FuzzParsePHC checks that no stored hash string makes the parser panic
// or accept parameters that would make verification unbounded.
func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=65536,t=2,p=2$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5")
	f.Add("$argon2id$v=19$m=0,t=0,p=0$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := parsePHC(s)
		if err != nil {
			return
		}
		if p.Time == 0 || p.Time > 64 || p.Threads == 0 || p.MemoryKiB > 4<<20 || len(salt) < 8 || len(key) < 16 {
			t.Fatalf("accepted %q: %+v", s, p)
		}
	})
}

// TestWebMount checks that the workspace gets GET and HEAD requests outside
// the API's paths and nothing else.
func TestWebMount(t *testing.T) {
	web := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("workspace"))
	})
	e := newEnv(t, func(o *Options) { o.Web = web })
	for _, c := range []struct {
		method, path string
		web          bool
	}{
		{"GET", "/", true},
		{"HEAD", "/", true},
		{"GET", "/tickets/3", true},
		{"GET", "/assets/app.js", true},
		{"GET", "/api/v1/nope", false},
		{"GET", "/api", false},
		{"POST", "/", false},
		{"GET", "/healthz", false},
	} {
		// Sent directly: the workspace's pages are not API operations.
		req, err := http.NewRequest(c.method, e.ts.URL+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		gotWeb := res.Header.Get("Content-Type") == "text/html"
		if gotWeb != c.web {
			t.Errorf("%s %s: served by the workspace = %v, want %v (%d)", c.method, c.path, gotWeb, c.web, res.StatusCode)
		}
	}
}

// TestContractGaps covers answers the generated-requests contract test
// found: each is a 422 naming the field, and nothing changes.
func TestContractGaps(t *testing.T) {
	e := newEnv(t)
	tk := e.createTicket(e.admin, "Tags", "ada@customer.test")
	before := e.snap()
	for _, c := range []struct {
		name, method, path string
		body               any
		field              string
	}{
		{"a control character in add_tags", "PATCH", fmt.Sprintf("/api/v1/tickets/%d", tk.ID), map[string]any{"add_tags": []string{"\x00"}}, "add_tags"},
		{"a control character in tags", "PATCH", fmt.Sprintf("/api/v1/tickets/%d", tk.ID), map[string]any{"tags": []string{"a\x01b"}}, "tags"},
	} {
		r := e.req(c.method, c.path, e.admin, c.body)
		if r.status != 422 || r.apiErr(t).Field != c.field {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
	}
	if after := e.snap(); after != before {
		t.Fatalf("refused requests changed the store: %+v → %+v", before, after)
	}
}

// TestSessionEndsItsStreams checks that an open event stream of a session
// ends when the session does: on sign-out, on a password reset, on the
// revocation of the token it was opened with.
func TestSessionEndsItsStreams(t *testing.T) {
	e := newEnv(t, cheapArgon2)
	tok, agentID := e.agentToken("Grace", "grace@acme.test")
	e.setPassword(agentID, "correct horse battery")
	var tokenID uint64
	var list struct {
		Tokens []struct {
			ID     uint64 `json:"id"`
			UserID uint64 `json:"user_id"`
		} `json:"tokens"`
	}
	e.must(200, "GET", "/api/v1/tokens", e.admin, nil).decode(t, &list)
	for _, x := range list.Tokens {
		if x.UserID == agentID {
			tokenID = x.ID
		}
	}
	cases := []struct {
		name   string
		signIn map[string]any
		end    func(s signedIn)
	}{
		{"sign-out", map[string]any{"email": "grace@acme.test", "password": "correct horse battery"}, func(s signedIn) {
			e.must(204, "DELETE", "/api/v1/session", "", nil, s.hdr(true)...)
		}},
		{"password reset", map[string]any{"email": "grace@acme.test", "password": "correct horse battery"}, func(signedIn) {
			e.setPassword(agentID, "correct horse battery")
		}},
		{"token revoked", map[string]any{"token": tok}, func(signedIn) {
			e.must(204, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", tokenID), e.admin, nil)
		}},
	}
	for _, c := range cases {
		s := e.signIn(c.signIn)
		req, err := http.NewRequest("GET", e.ts.URL+"/api/v1/events", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Cookie", s.cookie)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 200 {
			t.Fatalf("%s: stream answered %d", c.name, res.StatusCode)
		}
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			_, _ = io.Copy(io.Discard, res.Body)
		}()
		c.end(s)
		select {
		case <-ended:
		case <-time.After(10 * time.Second):
			t.Errorf("%s: the session's event stream is still open", c.name)
		}
		res.Body.Close()
	}
}
