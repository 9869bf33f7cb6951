package api

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/core/rules"
	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

func withRules(o *Options) { o.Rules = rules.New(o.Store, rules.Options{}) }

func TestRulesCRUD(t *testing.T) {
	e := newEnv(t, withRules)
	agent, _ := e.agentToken("Agent", "agent@example.test")
	bodies := map[string]map[string]any{
		"triggers": {"title": "VPN", "conditions": map[string]any{"all": []any{map[string]any{"field": "subject", "operator": "contains", "value": "vpn"}}},
			"actions": []any{map[string]any{"field": "group", "value": "Network"}}},
		"automations": {"title": "Nudge", "conditions": map[string]any{"all": []any{
			map[string]any{"field": "status", "operator": "is", "value": "pending"},
			map[string]any{"field": "hours_since_pending", "operator": "greater_than", "value": 48}}},
			"actions": []any{map[string]any{"field": "add_tags", "value": []any{"nudged"}}}},
		"macros": {"title": "Close politely", "actions": []any{map[string]any{"field": "status", "value": "solved"}}},
		"views":  {"title": "Unassigned new", "conditions": map[string]any{"all": []any{map[string]any{"field": "assignee_id", "operator": "is", "value": 0}}}},
	}
	for _, path := range []string{"triggers", "automations", "macros", "views"} {
		base := "/api/v1/" + path
		var created rules.Rule
		r := e.must(201, "POST", base, e.admin, bodies[path])
		r.decode(t, &created)
		if created.ID == 0 || !created.Active || r.header.Get("Location") != fmt.Sprintf("%s/%d", base, created.ID) {
			t.Fatalf("%s: created %+v, Location %q", path, created, r.header.Get("Location"))
		}
		one := fmt.Sprintf("%s/%d", base, created.ID)
		var got rules.Rule
		e.must(200, "GET", one, e.admin, nil).decode(t, &got)
		if got.Title != bodies[path]["title"] {
			t.Fatalf("%s: got %+v", path, got)
		}
		var list map[string][]rules.Rule
		e.must(200, "GET", base, e.admin, nil).decode(t, &list)
		if n := len(list[path]); n < 1 {
			t.Fatalf("%s: list %+v", path, list)
		}
		upd := map[string]any{}
		for k, v := range bodies[path] {
			upd[k] = v
		}
		upd["title"], upd["active"] = "renamed", false
		e.must(200, "PUT", one, e.admin, upd).decode(t, &got)
		if got.Title != "renamed" || got.Active || !got.CreatedAt.Equal(created.CreatedAt) {
			t.Fatalf("%s: updated %+v", path, got)
		}
		// Agents may read macros and views only; nobody but admins changes rules.
		readStatus := 403
		if path == "macros" || path == "views" {
			readStatus = 200
		}
		e.must(readStatus, "GET", base, agent, nil)
		e.must(403, "POST", base, agent, bodies[path])
		e.must(403, "DELETE", one, agent, nil)
		e.must(204, "DELETE", one, e.admin, nil)
		e.must(404, "GET", one, e.admin, nil)
		e.must(404, "DELETE", one, e.admin, nil)
		e.must(404, "PUT", one, e.admin, bodies[path])
	}
}

func TestRulesBadInput(t *testing.T) {
	e := newEnv(t, withRules)
	before := e.snap()
	cases := []struct {
		path  string
		body  any
		code  string
		field string
	}{
		{"/api/v1/triggers", map[string]any{"title": "x", "conditions": map[string]any{"all": []any{map[string]any{"field": "colour", "operator": "is", "value": "red"}}}, "actions": []any{map[string]any{"field": "group", "value": "g"}}}, CodeInvalidField, "conditions.all[0].field"},
		{"/api/v1/triggers", map[string]any{"title": "x", "conditions": map[string]any{"all": []any{map[string]any{"field": "status", "operator": "is", "value": "new"}}}, "actions": []any{map[string]any{"field": "status", "value": "sideways"}}}, CodeInvalidField, "actions[0].value"},
		{"/api/v1/triggers", map[string]any{"title": "x", "conditions": map[string]any{"all": []any{map[string]any{"field": "status", "operator": "is", "value": "new"}}}, "actions": []any{map[string]any{"field": "notify_webhook", "value": 99}}}, CodeInvalidField, "actions[0].value"},
		{"/api/v1/automations", map[string]any{"title": "x", "conditions": map[string]any{"all": []any{map[string]any{"field": "status", "operator": "is", "value": "new"}}}, "actions": []any{map[string]any{"field": "group", "value": "g"}}}, CodeInvalidField, "conditions.all"},
		{"/api/v1/macros", map[string]any{"title": "", "actions": []any{map[string]any{"field": "group", "value": "g"}}}, CodeInvalidField, "title"},
		{"/api/v1/macros", map[string]any{"title": "m", "actions": []any{}, "id": 3}, CodeUnknownField, "id"},
		{"/api/v1/views", map[string]any{"title": "v", "conditions": "status is new"}, CodeInvalidField, "conditions"},
		{"/api/v1/webhooks", map[string]any{"name": "w", "url": "gopher://x"}, CodeInvalidField, "url"},
		{"/api/v1/webhooks", map[string]any{"name": "w", "url": "https://x.test", "secret": "short"}, CodeInvalidField, "secret"},
	}
	for _, c := range cases {
		r := e.req("POST", c.path, e.admin, c.body)
		if r.status != 422 {
			t.Errorf("POST %s %v: status %d: %s", c.path, c.body, r.status, r.body)
			continue
		}
		if ae := r.apiErr(t); ae.Code != c.code || ae.Field != c.field {
			t.Errorf("POST %s: error %+v, want %s on %s", c.path, ae, c.code, c.field)
		}
	}
	e.must(400, "POST", "/api/v1/triggers", e.admin, "{not json")
	if after := e.snap(); after != before {
		t.Fatalf("a refused request changed the store: %+v -> %+v", before, after)
	}
	if list := e.must(200, "GET", "/api/v1/triggers", e.admin, nil); !strings.Contains(string(list.body), `"triggers":[]`) {
		t.Fatalf("triggers stored: %s", list.body)
	}
}

func TestRulesWithoutEngine(t *testing.T) {
	e := newEnv(t)
	if ae := e.must(503, "GET", "/api/v1/triggers", e.admin, nil).apiErr(t); ae.Code != CodeUnavailable {
		t.Fatalf("error %+v", ae)
	}
}

func TestMacroApplyAndPreview(t *testing.T) {
	e := newEnv(t, withRules)
	agent, agentID := e.agentToken("Agent Smith", "smith@example.test")
	tk := e.channelTicket("it-help")
	var m rules.Rule
	e.must(201, "POST", "/api/v1/macros", e.admin, map[string]any{"title": "Ask for logs", "actions": []any{
		map[string]any{"field": "status", "value": "pending"},
		map[string]any{"field": "add_tags", "value": "needs_logs"},
		map[string]any{"field": "internal_note", "value": "Asked {{requester.name}} for logs"},
		map[string]any{"field": "public_reply", "value": "Hi {{requester.first_name}}, could you send the logs for #{{ticket.id}}? — {{assignee.name}}"},
		map[string]any{"field": "assignee_id", "value": agentID},
	}}).decode(t, &m)
	path := fmt.Sprintf("/api/v1/tickets/%d/macros/%d", tk.ID, m.ID)

	before := e.snap()
	var prev rules.MacroResult
	e.must(200, "GET", path+"/preview", agent, nil).decode(t, &prev)
	if prev.Ticket.Status != ticket.StatusPending || !slices.Contains(prev.Ticket.Tags, "needs_logs") || len(prev.Comments) != 2 {
		t.Fatalf("preview %+v", prev)
	}
	want := fmt.Sprintf("Hi Customer, could you send the logs for #%d? — Agent Smith", tk.ID)
	if prev.Comments[1].Body != want || !prev.Comments[1].Public || prev.Comments[0].Public || prev.Comments[1].AuthorID != agentID {
		t.Fatalf("preview comments %+v %+v", prev.Comments[0], prev.Comments[1])
	}
	if after := e.snap(); after != before {
		t.Fatalf("preview changed the store: %+v -> %+v", before, after)
	}
	if s := e.ticket(tk.ID).Status; s != ticket.StatusNew {
		t.Fatalf("preview saved the status %s", s)
	}

	var res rules.MacroResult
	e.must(200, "POST", path, agent, nil, "Idempotency-Key: apply-1").decode(t, &res)
	stored := e.ticket(tk.ID)
	if stored.Status != ticket.StatusPending || stored.AssigneeID != agentID || !slices.Contains(stored.Tags, "needs_logs") {
		t.Fatalf("stored ticket %+v", stored)
	}
	if len(res.Comments) != 2 || res.Comments[1].ID == 0 || res.Comments[1].Body != want {
		t.Fatalf("applied comments %+v", res.Comments)
	}
	var queued int
	_ = e.st.View(func(r *store.ReadTx) error { queued, _ = r.OutboxLen(); return nil })
	if queued != 1 {
		t.Fatalf("%d replies queued, want 1", queued)
	}
	// A retry with the same key replays; nothing is applied twice.
	r := e.must(200, "POST", path, agent, nil, "Idempotency-Key: apply-1")
	if r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatal("retry not replayed")
	}
	var comments struct{ Comments []ticket.Comment }
	e.must(200, "GET", fmt.Sprintf("/api/v1/tickets/%d/comments", tk.ID), agent, nil).decode(t, &comments)
	if len(comments.Comments) != 3 {
		t.Fatalf("%d comments after a replayed apply, want 3", len(comments.Comments))
	}
	// Unknown macro or ticket: 404; closed ticket: 409; inactive macro: 422.
	e.must(404, "POST", fmt.Sprintf("/api/v1/tickets/%d/macros/999", tk.ID), agent, nil)
	e.must(404, "GET", fmt.Sprintf("/api/v1/tickets/999/macros/%d/preview", m.ID), agent, nil)
	e.must(200, "PATCH", fmt.Sprintf("/api/v1/tickets/%d", tk.ID), agent, map[string]any{"status": "solved"})
	e.must(200, "PATCH", fmt.Sprintf("/api/v1/tickets/%d", tk.ID), agent, map[string]any{"status": "closed"})
	if ae := e.must(409, "POST", path, agent, nil).apiErr(t); ae.Code != CodeTicketClosed {
		t.Fatalf("closed: %+v", ae)
	}
	other := e.createTicket(agent, "other", "x@example.test")
	e.must(200, "PUT", fmt.Sprintf("/api/v1/macros/%d", m.ID), e.admin, map[string]any{"title": "off", "active": false, "actions": []any{map[string]any{"field": "group", "value": "g"}}})
	if ae := e.must(422, "POST", fmt.Sprintf("/api/v1/tickets/%d/macros/%d", other.ID, m.ID), agent, nil).apiErr(t); ae.Field != "macro_id" {
		t.Fatalf("inactive: %+v", ae)
	}
}

func TestViewListing(t *testing.T) {
	e := newEnv(t, withRules)
	agent, agentID := e.agentToken("Agent", "agent@example.test")
	var ids []uint64
	for i := range 5 {
		tk := e.createTicket(agent, fmt.Sprintf("printer %d", i), fmt.Sprintf("u%d@example.test", i))
		ids = append(ids, tk.ID)
	}
	e.createTicket(agent, "vpn", "v@example.test")
	e.must(200, "PATCH", fmt.Sprintf("/api/v1/tickets/%d", ids[1]), agent, map[string]any{"assignee_id": agentID})
	e.must(200, "PATCH", fmt.Sprintf("/api/v1/tickets/%d", ids[3]), agent, map[string]any{"tags": []string{"later"}})
	var v rules.Rule
	e.must(201, "POST", "/api/v1/views", e.admin, map[string]any{"title": "Unassigned printers", "conditions": map[string]any{
		"all": []any{
			map[string]any{"field": "status", "operator": "is", "value": "new"},
			map[string]any{"field": "assignee_id", "operator": "is", "value": 0},
			map[string]any{"field": "subject", "operator": "contains", "value": "printer"},
			map[string]any{"field": "tags", "operator": "not_includes", "value": "later"},
		}}}).decode(t, &v)
	path := fmt.Sprintf("/api/v1/views/%d/tickets", v.ID)
	var got []uint64
	cursor := ""
	for page := 0; page < 10; page++ {
		var out struct {
			Tickets    []ticket.Ticket `json:"tickets"`
			NextCursor *string         `json:"next_cursor"`
		}
		q := path + "?limit=2"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		e.must(200, "GET", q, agent, nil).decode(t, &out)
		for _, tk := range out.Tickets {
			got = append(got, tk.ID)
		}
		if out.NextCursor == nil {
			break
		}
		cursor = *out.NextCursor
	}
	want := []uint64{ids[4], ids[2], ids[0]}
	if !slices.Equal(got, want) {
		t.Fatalf("view listed %v, want %v", got, want)
	}
	e.must(404, "GET", "/api/v1/views/999/tickets", agent, nil)
	if ae := e.must(422, "GET", path+"?cursor=bogus", agent, nil).apiErr(t); ae.Field != "cursor" {
		t.Fatalf("bad cursor: %+v", ae)
	}
	e.must(422, "GET", path+"?status=new", agent, nil)
}

func TestWebhooksAndAutoRepliesAPI(t *testing.T) {
	var eng *rules.Engine
	e := newEnv(t, func(o *Options) { withRules(o); eng = o.Rules })
	var created rules.Webhook
	r := e.must(201, "POST", "/api/v1/webhooks", e.admin, map[string]any{"name": "CRM", "url": "https://crm.example.test/hook"})
	r.decode(t, &created)
	if !strings.HasPrefix(created.Secret, "whsec_") || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("creation answer %+v", created)
	}
	one := fmt.Sprintf("/api/v1/webhooks/%d", created.ID)
	for _, body := range []string{
		string(e.must(200, "GET", one, e.admin, nil).body),
		string(e.must(200, "GET", "/api/v1/webhooks", e.admin, nil).body),
		string(e.must(200, "PUT", one, e.admin, map[string]any{"name": "CRM 2", "url": "https://crm.example.test/v2"}).body),
	} {
		if strings.Contains(body, created.Secret) || !strings.Contains(body, "********"+created.Secret[len(created.Secret)-4:]) {
			t.Fatalf("secret not masked: %s", body)
		}
	}
	// The update kept the secret.
	if wh, err := eng.Webhook(created.ID); err != nil || wh.Secret != created.Secret || wh.URL != "https://crm.example.test/v2" {
		t.Fatalf("after update: %+v (%v)", wh, err)
	}
	var deliveries struct {
		Deliveries []rules.Delivery `json:"deliveries"`
		NextCursor *string          `json:"next_cursor"`
	}
	e.must(200, "GET", one+"/deliveries", e.admin, nil).decode(t, &deliveries)
	if deliveries.Deliveries == nil || len(deliveries.Deliveries) != 0 || deliveries.NextCursor != nil {
		t.Fatalf("deliveries %+v", deliveries)
	}
	agent, _ := e.agentToken("Agent", "agent@example.test")
	e.must(403, "GET", "/api/v1/webhooks", agent, nil)
	// In use by a trigger: 409; once the trigger is gone: 204.
	var tr rules.Rule
	e.must(201, "POST", "/api/v1/triggers", e.admin, map[string]any{"title": "notify", "conditions": map[string]any{"all": []any{map[string]any{"field": "update_type", "operator": "is", "value": "created"}}},
		"actions": []any{map[string]any{"field": "notify_webhook", "value": created.ID}}}).decode(t, &tr)
	e.must(409, "DELETE", one, e.admin, nil)
	e.must(204, "DELETE", fmt.Sprintf("/api/v1/triggers/%d", tr.ID), e.admin, nil)
	e.must(204, "DELETE", one, e.admin, nil)
	e.must(404, "GET", one+"/deliveries", e.admin, nil)

	// Auto-replies per channel.
	var ar rules.AutoReply
	e.must(201, "PUT", "/api/v1/auto_replies/support", e.admin, map[string]any{"body": "Thanks {{requester.name}}!"}).decode(t, &ar)
	if ar.Channel != "support" || !ar.Active {
		t.Fatalf("auto-reply %+v", ar)
	}
	e.must(200, "PUT", "/api/v1/auto_replies/support", e.admin, map[string]any{"body": "Thanks!", "active": false})
	e.must(200, "GET", "/api/v1/auto_replies/support", e.admin, nil).decode(t, &ar)
	if ar.Active || ar.Body != "Thanks!" {
		t.Fatalf("auto-reply %+v", ar)
	}
	if ae := e.must(422, "PUT", "/api/v1/auto_replies/support", e.admin, map[string]any{"body": "{{ticket.secret}}"}).apiErr(t); ae.Field != "body" {
		t.Fatalf("bad placeholder: %+v", ae)
	}
	e.must(200, "GET", "/api/v1/auto_replies", e.admin, nil)
	e.must(204, "DELETE", "/api/v1/auto_replies/support", e.admin, nil)
	e.must(404, "GET", "/api/v1/auto_replies/support", e.admin, nil)
	e.must(403, "PUT", "/api/v1/auto_replies/support", agent, map[string]any{"body": "x"})
}
