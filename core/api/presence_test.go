package api

import (
	"encoding/json"
	"testing"
	"time"
)

// nextPresence waits for the next presence.updated event on s.
func nextPresence(t *testing.T, s *sseStream) presenceEvent {
	t.Helper()
	for {
		ev := s.next(t)
		if ev.typ != EventPresenceUpdated {
			continue
		}
		if ev.id != "" {
			t.Fatalf("presence event with an id %q: it is not in the durable log", ev.id)
		}
		var pe presenceEvent
		if err := json.Unmarshal([]byte(ev.data), &pe); err != nil {
			t.Fatal(err)
		}
		return pe
	}
}

// Grace announces she is replying: Ada's stream shows it, the presence
// list holds it, renewing keeps it without new events, and it expires
// (with a "left" event) when not renewed.
func TestPresenceLifecycle(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.PresenceTTL = time.Second })
	ada, _ := e.agentToken("Ada", "ada@example.test")
	grace, graceID := e.agentToken("Grace", "grace@example.test")
	tk := e.createTicket(ada, "presence", "cust@example.test")
	path := "/api/v1/tickets/" + itoa(tk.ID) + "/presence"
	s := e.openEvents(ada)
	<-s.comments // connected
	before := e.snap()

	var out presenceList
	e.must(200, "POST", path, grace, map[string]any{"state": "replying"}).decode(t, &out)
	if len(out.Presence) != 1 || out.Presence[0].UserID != graceID || out.Presence[0].State != PresenceReplying || out.Presence[0].Name != "Grace" {
		t.Fatalf("presence answer %+v", out)
	}
	pe := nextPresence(t, s)
	if pe.Type != EventPresenceUpdated || pe.TicketID != tk.ID || pe.Data.UserID != graceID || pe.Data.State != PresenceReplying || pe.Data.Name != "Grace" {
		t.Fatalf("event %+v", pe)
	}
	// Presence is not stored: no event in the durable log, no write.
	if after := e.snap(); after != before {
		t.Fatalf("presence wrote to the store: %+v → %+v", before, after)
	}
	// Ada views: two present.
	e.must(200, "POST", path, ada, map[string]any{"state": "viewing"}).decode(t, &out)
	if len(out.Presence) != 2 {
		t.Fatalf("two agents present, listed %+v", out.Presence)
	}
	if pe := nextPresence(t, s); pe.Data.State != PresenceViewing {
		t.Fatalf("event %+v", pe)
	}
	// Ada leaves explicitly.
	e.must(204, "DELETE", path, ada, nil)
	if pe := nextPresence(t, s); pe.Data.State != PresenceLeft || pe.Data.Name != "Ada" {
		t.Fatalf("leave event %+v", pe)
	}
	// Grace renews for longer than the TTL: still present.
	for range 4 {
		time.Sleep(300 * time.Millisecond)
		e.must(200, "POST", path, grace, map[string]any{"state": "replying"})
	}
	e.must(200, "GET", path, ada, nil).decode(t, &out)
	if len(out.Presence) != 1 || out.TTLSeconds != 1 {
		t.Fatalf("renewed presence %+v", out)
	}
	// Then stops renewing: it expires with a left event.
	pe = nextPresence(t, s)
	if pe.Data.State != PresenceLeft || pe.Data.UserID != graceID {
		t.Fatalf("expiry event %+v", pe)
	}
	e.must(200, "GET", path, ada, nil).decode(t, &out)
	if len(out.Presence) != 0 {
		t.Fatalf("expired presence still listed: %+v", out)
	}
}

// Bad presence requests: 422 for a state, 404 for a ticket, and a stream
// filtered to other types gets no presence events.
func TestPresenceRefusalsAndFilter(t *testing.T) {
	e := newEnv(t)
	ada, _ := e.agentToken("Ada", "ada@example.test")
	tk := e.createTicket(ada, "presence", "cust@example.test")
	path := "/api/v1/tickets/" + itoa(tk.ID) + "/presence"
	for _, body := range []string{`{"state":"typing"}`, `{}`, `{"state":null}`, `{"state":"left"}`} {
		if f := e.must(422, "POST", path, ada, body).apiErr(t).Field; f != "state" {
			t.Errorf("%s: field %q", body, f)
		}
	}
	e.must(422, "POST", path, ada, `{"state":"viewing","extra":1}`)
	e.must(404, "POST", "/api/v1/tickets/999/presence", ada, map[string]any{"state": "viewing"})
	e.must(404, "GET", "/api/v1/tickets/999/presence", ada, nil)

	filtered := e.openEventsPath("/api/v1/events?types=ticket.updated", ada)
	<-filtered.comments
	all := e.openEvents(ada)
	<-all.comments
	e.must(200, "POST", path, ada, map[string]any{"state": "viewing"})
	nextPresence(t, all)
	e.must(200, "PATCH", "/api/v1/tickets/"+itoa(tk.ID), ada, map[string]any{"priority": "low"})
	if ev := filtered.next(t); ev.typ != "ticket.updated" {
		t.Fatalf("filtered stream got %q first", ev.typ)
	}
	// The admin token has presence too (as its Administrator user).
	var out presenceList
	e.must(200, "POST", path, e.admin, map[string]any{"state": "replying"}).decode(t, &out)
	if len(out.Presence) != 2 {
		t.Fatalf("admin presence %+v", out)
	}
}
