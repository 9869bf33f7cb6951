package api

import (
	"testing"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// TestRequesterMustBeEndUserUnlessAdmin closes the class "an agent token
// writes in a privileged user's name": opening a ticket whose requester (and
// so the author of its first comment) is an agent or administrator is 422
// for an agent token and changes nothing; an administrator may.
func TestRequesterMustBeEndUserUnlessAdmin(t *testing.T) {
	e := newEnv(t)
	agentTok, _ := e.agentToken("Grace", "grace@acme.test")
	var adm struct {
		UserID uint64 `json:"user_id"`
	}
	e.must(201, "POST", "/api/v1/tokens", e.admin, map[string]any{"name": "Root", "email": "root@acme.test", "role": "admin"}).decode(t, &adm)
	e.agentToken("Other", "other@acme.test")

	for _, tc := range []struct {
		name, token, email string
		want               int
	}{
		{"agent names an admin", agentTok, "root@acme.test", 422},
		{"agent names another agent", agentTok, "other@acme.test", 422},
		{"agent names an agent, upper case", agentTok, "OTHER@acme.test", 422},
		{"agent names a customer", agentTok, "ann@customer.test", 201},
		{"admin names an agent", e.admin, "other@acme.test", 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snap()
			r := e.must(tc.want, "POST", "/api/v1/tickets", tc.token, map[string]any{
				"subject":   "x",
				"comment":   map[string]any{"body": "written in someone's name"},
				"requester": map[string]any{"email": tc.email},
			})
			if tc.want == 422 {
				if ae := r.apiErr(t); ae.Field != "requester.email" || ae.Code != CodeInvalidField {
					t.Fatalf("error %+v", ae)
				}
				if after := e.snap(); after != before {
					t.Fatalf("a refused request changed the store: %+v -> %+v", before, after)
				}
			}
		})
	}
}

// TestMergeTargetMustBeEndUserUnlessAdmin closes the class "an agent token
// hands a customer's identities to a privileged account": merging into an
// agent or administrator is 422 for an agent token, allowed for an
// administrator; merging two end users stays open to agents.
func TestMergeTargetMustBeEndUserUnlessAdmin(t *testing.T) {
	e := newEnv(t)
	agentTok, agentID := e.agentToken("Grace", "grace@acme.test")
	var adm struct {
		UserID uint64 `json:"user_id"`
	}
	e.must(201, "POST", "/api/v1/tokens", e.admin, map[string]any{"name": "Root", "email": "root@acme.test", "role": "admin"}).decode(t, &adm)
	c1 := e.createTicket(agentTok, "one", "ann@customer.test").RequesterID
	c2 := e.createTicket(agentTok, "two", "bob@customer.test").RequesterID
	c3 := e.createTicket(agentTok, "three", "cy@customer.test").RequesterID

	for _, into := range []uint64{adm.UserID, agentID} {
		before := e.snap()
		r := e.must(422, "POST", "/api/v1/users/"+itoa(c1)+"/merge", agentTok, map[string]any{"into": into})
		if ae := r.apiErr(t); ae.Field != "into" {
			t.Fatalf("error %+v", ae)
		}
		if after := e.snap(); after != before {
			t.Fatalf("a refused merge changed the store")
		}
	}
	e.must(200, "POST", "/api/v1/users/"+itoa(c1)+"/merge", agentTok, map[string]any{"into": c2})
	var merged ticket.User
	e.must(200, "POST", "/api/v1/users/"+itoa(c3)+"/merge", e.admin, map[string]any{"into": agentID}).decode(t, &merged)
	if merged.ID != agentID {
		t.Fatalf("admin merge answered %+v", merged)
	}
}
