package api

import (
	"net/http"
	"testing"
)

// TestTokenScopes: a token created with "scope": "read" may call every GET
// route it could call before and is refused every other method with 403
// insufficient_scope, changing nothing; the default scope is write; an
// unknown scope is 422 and creates no token.
func TestTokenScopes(t *testing.T) {
	e := newEnv(t)
	var ro struct {
		Token  string `json:"token"`
		Scope  string `json:"scope"`
		UserID uint64 `json:"user_id"`
	}
	e.must(201, "POST", "/api/v1/tokens", e.admin, map[string]any{"email": "reader@example.test", "scope": "read"}).decode(t, &ro)
	if ro.Scope != "read" {
		t.Fatalf("created scope %q, want read", ro.Scope)
	}
	var rw struct {
		Token string `json:"token"`
		Scope string `json:"scope"`
	}
	e.must(201, "POST", "/api/v1/tokens", e.admin, map[string]any{"email": "writer@example.test"}).decode(t, &rw)
	if rw.Scope != "write" {
		t.Fatalf("default scope %q, want write", rw.Scope)
	}
	tk := e.createTicket(rw.Token, "Printer on fire", "cust@example.test")

	// Reads work with the read scope.
	for _, path := range []string{"/api/v1/tickets", "/api/v1/tickets/" + itoa(tk.ID), "/api/v1/tickets/" + itoa(tk.ID) + "/comments", "/api/v1/users", "/api/v1/channels"} {
		e.must(200, "GET", path, ro.Token, nil)
	}
	var me meJSON
	e.must(200, "GET", "/api/v1/me", ro.Token, nil).decode(t, &me)
	if me.Scope != "read" || me.User == nil || me.User.ID != ro.UserID {
		t.Fatalf("me %+v", me)
	}
	e.must(200, "GET", "/api/v1/me", e.admin, nil).decode(t, &me)
	if me.Scope != "write" {
		t.Fatalf("admin token scope %q", me.Scope)
	}

	// Writes are refused with 403 insufficient_scope and change nothing,
	// even with an otherwise valid body.
	before := e.snap()
	writes := []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/tickets/" + itoa(tk.ID) + "/comments", map[string]any{"body": "hello", "public": true}},
		{"POST", "/api/v1/tickets/" + itoa(tk.ID) + "/comments", map[string]any{"body": "note", "public": false}},
		{"PATCH", "/api/v1/tickets/" + itoa(tk.ID), map[string]any{"status": "open"}},
		{"POST", "/api/v1/tickets", map[string]any{"comment": map[string]any{"body": "x"}, "requester": map[string]any{"email": "a@example.test"}}},
		{"POST", "/api/v1/attachments?filename=a.txt", "hello"},
		{"POST", "/api/v1/users/" + itoa(tk.RequesterID) + "/merge", map[string]any{"into": ro.UserID}},
	}
	for _, w := range writes {
		r := e.req(w.method, w.path, ro.Token, w.body)
		if r.status != http.StatusForbidden || r.apiErr(t).Code != CodeInsufficientScope {
			t.Errorf("%s %s with a read token: %d %s, want 403 insufficient_scope", w.method, w.path, r.status, r.body)
		}
	}
	if after := e.snap(); after != before {
		t.Fatalf("a refused write changed the store: %+v → %+v", before, after)
	}
	if got := e.ticket(tk.ID); got.Status != tk.Status {
		t.Fatalf("status changed to %s", got.Status)
	}

	// The same writes work with the write-scoped token.
	e.must(201, "POST", "/api/v1/tickets/"+itoa(tk.ID)+"/comments", rw.Token, map[string]any{"body": "note", "public": false})

	// The list shows each token's scope.
	var list struct {
		Tokens []struct {
			UserID uint64 `json:"user_id"`
			Scope  string `json:"scope"`
		} `json:"tokens"`
	}
	e.must(200, "GET", "/api/v1/tokens", e.admin, nil).decode(t, &list)
	scopes := map[string]int{}
	for _, tok := range list.Tokens {
		scopes[tok.Scope]++
	}
	if scopes["read"] != 1 || scopes["write"] != 1 {
		t.Fatalf("token list scopes %v", scopes)
	}

	// An unknown scope is refused and creates nothing.
	before = e.snap()
	r := e.req("POST", "/api/v1/tokens", e.admin, map[string]any{"email": "x@example.test", "scope": "admin"})
	if ae := r.apiErr(t); r.status != http.StatusUnprocessableEntity || ae.Code != CodeInvalidField || ae.Field != "scope" {
		t.Fatalf("unknown scope: %d %s", r.status, r.body)
	}
	if after := e.snap(); after != before {
		t.Fatalf("a refused token changed the store: %+v → %+v", before, after)
	}
}

// TestPatchIdempotencyKey: PATCH honours Idempotency-Key like a POST. A
// client that lost the answer of a change made with If-Match retries it
// with the same key and gets the first answer (not the 412 its own change
// would cause) with Idempotent-Replayed; the same key with another change
// is 422; nothing is written twice.
func TestPatchIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	agent, _ := e.agentToken("Ada", "ada@example.test")
	tk := e.createTicket(agent, "VPN down", "cust@example.test")
	first := e.must(200, "GET", "/api/v1/tickets/"+itoa(tk.ID), agent, nil)
	etag := first.header.Get("ETag")
	body := map[string]any{"add_tags": []string{"vpn"}, "priority": "high"}
	a := e.must(200, "PATCH", "/api/v1/tickets/"+itoa(tk.ID), agent, body, "If-Match: "+etag, "Idempotency-Key: patch-1")
	mid := e.snap()
	b := e.must(200, "PATCH", "/api/v1/tickets/"+itoa(tk.ID), agent, body, "If-Match: "+etag, "Idempotency-Key: patch-1")
	if b.header.Get("Idempotent-Replayed") != "true" || string(a.body) != string(b.body) || a.header.Get("ETag") != b.header.Get("ETag") {
		t.Fatalf("replay: %s %v, first %s", b.body, b.header, a.body)
	}
	if after := e.snap(); after != mid {
		t.Fatalf("the replay wrote: %+v → %+v", mid, after)
	}
	// Without the key the stale If-Match is refused.
	if r := e.req("PATCH", "/api/v1/tickets/"+itoa(tk.ID), agent, body, "If-Match: "+etag); r.status != http.StatusPreconditionFailed {
		t.Fatalf("stale If-Match without a key: %d %s", r.status, r.body)
	}
	r := e.req("PATCH", "/api/v1/tickets/"+itoa(tk.ID), agent, map[string]any{"priority": "low"}, "Idempotency-Key: patch-1")
	if ae := r.apiErr(t); r.status != http.StatusUnprocessableEntity || ae.Code != CodeIdempotencyKeyUsed {
		t.Fatalf("reused key: %d %s", r.status, r.body)
	}
	if got := e.ticket(tk.ID); got.Priority != "high" {
		t.Fatalf("priority %s", got.Priority)
	}
}
