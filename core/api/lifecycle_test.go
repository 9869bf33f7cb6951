package api

import (
	"testing"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

func TestCreateTicketThroughAPI(t *testing.T) {
	e := newEnv(t)
	agent, agentID := e.agentToken("Ada", "ada@example.test")
	r := e.must(201, "POST", "/api/v1/tickets", agent, map[string]any{
		"subject":   "VPN down",
		"comment":   map[string]any{"body": "Cannot connect since 9am"},
		"requester": map[string]any{"name": "Cleo", "email": "Cleo@Example.test"},
		"priority":  "high", "tags": []string{"VPN", "vpn", "network"}, "group": "IT",
	})
	var tk ticket.Ticket
	r.decode(t, &tk)
	if r.header.Get("Location") != "/api/v1/tickets/"+itoa(tk.ID) {
		t.Fatalf("Location %q", r.header.Get("Location"))
	}
	if tk.Status != ticket.StatusNew || tk.Via != "api" || tk.Channel != "" || tk.Priority != "high" || tk.Group != "IT" {
		t.Fatalf("ticket %+v", tk)
	}
	if len(tk.Tags) != 2 || tk.Tags[0] != "vpn" || tk.Tags[1] != "network" {
		t.Fatalf("tags %v", tk.Tags)
	}
	// The requester was created by email identity, end user, lower-cased.
	var req ticket.User
	e.must(200, "GET", "/api/v1/users/"+itoa(tk.RequesterID), agent, nil).decode(t, &req)
	if req.Name != "Cleo" || req.Role != ticket.RoleEndUser || len(req.Identities) != 1 || req.Identities[0] != (ticket.Identity{Type: "email", Value: "cleo@example.test"}) {
		t.Fatalf("requester %+v", req)
	}
	// A second ticket by the same email finds the same user.
	tk2 := e.createTicket(agent, "again", "cleo@example.test")
	if tk2.RequesterID != tk.RequesterID {
		t.Fatalf("second ticket requester %d, want %d", tk2.RequesterID, tk.RequesterID)
	}
	// The first comment is public, by the requester.
	var cl commentList
	e.must(200, "GET", "/api/v1/tickets/"+itoa(tk.ID)+"/comments", agent, nil).decode(t, &cl)
	if len(cl.Comments) != 1 || cl.Comments[0].AuthorID != tk.RequesterID || !cl.Comments[0].Public || cl.Comments[0].Body != "Cannot connect since 9am" {
		t.Fatalf("comments %+v", cl.Comments)
	}
	// Subject defaults to the comment's first line; an assignee opens it.
	var tk3 ticket.Ticket
	e.must(201, "POST", "/api/v1/tickets", agent, map[string]any{
		"comment": map[string]any{"body": "\nPrinter on fire\nsend help"}, "requester": map[string]any{"email": "d@example.test"},
		"assignee_id": agentID,
	}).decode(t, &tk3)
	if tk3.Subject != "Printer on fire" || tk3.Status != ticket.StatusOpen || tk3.AssigneeID != agentID {
		t.Fatalf("ticket %+v", tk3)
	}
	// GET returns the ticket bare.
	var got ticket.Ticket
	e.must(200, "GET", "/api/v1/tickets/"+itoa(tk.ID), agent, nil).decode(t, &got)
	if got.ID != tk.ID || got.Subject != "VPN down" {
		t.Fatalf("GET %+v", got)
	}
}

func TestLifecycleThroughAPI(t *testing.T) {
	e := newEnv(t)
	agent, agentID := e.agentToken("Ada", "ada@example.test")
	tk := e.channelTicket("support")
	tp := "/api/v1/tickets/" + itoa(tk.ID)

	// An internal note leaves a new ticket new and sends nothing.
	var note ticket.Comment
	e.must(201, "POST", tp+"/comments", agent, map[string]any{"body": "checking logs", "public": false}).decode(t, &note)
	if note.Public || note.Delivery != nil || note.AuthorID != agentID {
		t.Fatalf("note %+v", note)
	}
	if got := e.ticket(tk.ID); got.Status != ticket.StatusNew {
		t.Fatalf("note changed status to %s", got.Status)
	}
	// A public reply: authored by the token's agent, delivery pending, its
	// outbox entry committed with it, and the ticket moves new -> open.
	var reply ticket.Comment
	e.must(201, "POST", tp+"/comments", agent, map[string]any{"body": "Hi! Restart the VPN client.", "public": true}).decode(t, &reply)
	if reply.AuthorID != agentID || reply.Delivery == nil || reply.Delivery.Status != ticket.DeliveryPending || reply.Via != "api" {
		t.Fatalf("reply %+v", reply)
	}
	err := e.st.View(func(tx *store.ReadTx) error {
		ob, err := tx.OutboxEntry(reply.ID)
		if err != nil {
			return err
		}
		if ob.Instance != "support" || ob.TicketID != tk.ID {
			t.Errorf("outbox entry %+v", ob)
		}
		_, err = tx.OutboxEntry(note.ID)
		if err == nil {
			t.Error("internal note was queued for sending")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.ticket(tk.ID); got.Status != ticket.StatusOpen {
		t.Fatalf("public reply left status %s", got.Status)
	}
	// A reply naming a status applies it instead.
	e.must(201, "POST", tp+"/comments", agent, map[string]any{"body": "Waiting on you", "public": true, "status": "pending"})
	if got := e.ticket(tk.ID); got.Status != ticket.StatusPending {
		t.Fatalf("status %s, want pending", got.Status)
	}
	// Solving an unassigned ticket assigns it to the acting agent.
	var solved ticket.Ticket
	e.must(200, "PATCH", tp, agent, map[string]any{"status": "solved", "tags": []string{"vpn"}}).decode(t, &solved)
	if solved.Status != ticket.StatusSolved || solved.AssigneeID != agentID || len(solved.Tags) != 1 || solved.SolvedAt.IsZero() {
		t.Fatalf("solved %+v", solved)
	}
	// null clears the assignee and priority; absent fields stay.
	var cleared ticket.Ticket
	e.must(200, "PATCH", tp, agent, map[string]any{"priority": "urgent"})
	e.must(200, "PATCH", tp, agent, `{"assignee_id": null, "priority": null}`).decode(t, &cleared)
	if cleared.AssigneeID != 0 || cleared.Priority != "" || cleared.Status != ticket.StatusSolved || len(cleared.Tags) != 1 {
		t.Fatalf("cleared %+v", cleared)
	}
	// Unassigning while solving still leaves the solver assigned.
	e.must(200, "PATCH", tp, agent, map[string]any{"status": "open"})
	var resolved ticket.Ticket
	e.must(200, "PATCH", tp, agent, `{"status": "solved", "assignee_id": null}`).decode(t, &resolved)
	if resolved.AssigneeID != agentID {
		t.Fatalf("solved with assignee %d, want the acting agent %d", resolved.AssigneeID, agentID)
	}
	// Close it; from then on every change is 409 and nothing changes.
	e.must(200, "PATCH", tp, agent, map[string]any{"status": "closed"})
	before := e.snap()
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"PATCH", tp, map[string]any{"status": "open"}},
		{"PATCH", tp, map[string]any{}},
		{"POST", tp + "/comments", map[string]any{"body": "x", "public": true}},
		{"POST", tp + "/comments", map[string]any{"body": "x", "public": false}},
	} {
		r := e.must(409, c.method, c.path, agent, c.body)
		if r.apiErr(t).Code != CodeTicketClosed {
			t.Fatalf("%s %s: %s", c.method, c.path, r.body)
		}
	}
	if after := e.snap(); after != before {
		t.Fatalf("closed ticket changed the store: %+v -> %+v", before, after)
	}
}

func TestAdminTokenActsAsAdministrator(t *testing.T) {
	e := newEnv(t)
	tk := e.createTicket(e.admin, "by admin", "c@example.test")
	var c ticket.Comment
	e.must(201, "POST", "/api/v1/tickets/"+itoa(tk.ID)+"/comments", e.admin, map[string]any{"body": "note", "public": false}).decode(t, &c)
	var u ticket.User
	e.must(200, "GET", "/api/v1/users/"+itoa(c.AuthorID), e.admin, nil).decode(t, &u)
	if u.Role != ticket.RoleAdmin || u.Name != adminUserName {
		t.Fatalf("admin comment authored by %+v", u)
	}
	// The same administrator user every time.
	var c2 ticket.Comment
	e.must(201, "POST", "/api/v1/tickets/"+itoa(tk.ID)+"/comments", e.admin, map[string]any{"body": "note 2", "public": false}).decode(t, &c2)
	if c2.AuthorID != c.AuthorID {
		t.Fatalf("second admin comment by user %d, first by %d", c2.AuthorID, c.AuthorID)
	}
}

func TestUsersLookupAndMerge(t *testing.T) {
	e := newEnv(t)
	agent, _ := e.agentToken("Ada", "ada@example.test")
	a := e.createTicket(agent, "from email", "pat@example.test")
	b := e.channelTicket("slack-it")
	var found userList
	e.must(200, "GET", "/api/v1/users?identity=email:PAT@example.test", agent, nil).decode(t, &found)
	if len(found.Users) != 1 || found.Users[0].ID != a.RequesterID || found.NextCursor != nil {
		t.Fatalf("identity lookup %+v", found)
	}
	var none userList
	e.must(200, "GET", "/api/v1/users?identity=email:nobody@example.test", agent, nil).decode(t, &none)
	if len(none.Users) != 0 {
		t.Fatalf("unknown identity found %+v", none)
	}
	// Merge the Slack user into the email user: identities and tickets move.
	var slackUser ticket.User
	e.must(200, "GET", "/api/v1/users/"+itoa(b.RequesterID), agent, nil).decode(t, &slackUser)
	var merged ticket.User
	e.must(200, "POST", "/api/v1/users/"+itoa(b.RequesterID)+"/merge", agent, map[string]any{"into": a.RequesterID}).decode(t, &merged)
	if merged.ID != a.RequesterID || len(merged.Identities) != 2 {
		t.Fatalf("merged %+v", merged)
	}
	if got := e.ticket(b.ID); got.RequesterID != a.RequesterID {
		t.Fatalf("ticket requester %d after merge, want %d", got.RequesterID, a.RequesterID)
	}
	var src ticket.User
	e.must(200, "GET", "/api/v1/users/"+itoa(b.RequesterID), agent, nil).decode(t, &src)
	if src.MergedInto != a.RequesterID || len(src.Identities) != 0 {
		t.Fatalf("source after merge %+v", src)
	}
	id := slackUser.Identities[0]
	e.must(200, "GET", "/api/v1/users?identity="+id.Type+":"+id.Value, agent, nil).decode(t, &found)
	if len(found.Users) != 1 || found.Users[0].ID != a.RequesterID {
		t.Fatalf("slack identity now finds %+v", found)
	}
	var list ticketList
	e.must(200, "GET", "/api/v1/tickets?requester_id="+itoa(a.RequesterID), agent, nil).decode(t, &list)
	if len(list.Tickets) != 2 {
		t.Fatalf("requester's tickets %d, want 2", len(list.Tickets))
	}
	// Merging the merged user again is a conflict.
	r := e.must(409, "POST", "/api/v1/users/"+itoa(b.RequesterID)+"/merge", agent, map[string]any{"into": a.RequesterID})
	if r.apiErr(t).Code != CodeConflict {
		t.Fatal("wrong code")
	}
}
