package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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
	for _, path := range []string{"triggers", "automations", "macros", "views", "webhooks"} {
		if list := e.must(200, "GET", "/api/v1/"+path, e.admin, nil); !strings.Contains(string(list.body), `"`+path+`":[]`) {
			t.Errorf("%s stored by a refused request: %s", path, list.body)
		}
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

// rulesRouteTable lists every business-rules route with a path that exists
// once the fixtures of TestRulesAuth are created, and whether agents may
// call it.
var rulesRouteTable = []struct {
	method, path string
	agent        bool
}{
	{"GET", "/api/v1/triggers", false}, {"POST", "/api/v1/triggers", false},
	{"GET", "/api/v1/triggers/1", false}, {"PUT", "/api/v1/triggers/1", false}, {"DELETE", "/api/v1/triggers/1", false},
	{"GET", "/api/v1/automations", false}, {"POST", "/api/v1/automations", false},
	{"GET", "/api/v1/automations/1", false}, {"PUT", "/api/v1/automations/1", false}, {"DELETE", "/api/v1/automations/1", false},
	{"GET", "/api/v1/macros", true}, {"POST", "/api/v1/macros", false},
	{"GET", "/api/v1/macros/1", true}, {"PUT", "/api/v1/macros/1", false}, {"DELETE", "/api/v1/macros/1", false},
	{"GET", "/api/v1/views", true}, {"POST", "/api/v1/views", false},
	{"GET", "/api/v1/views/1", true}, {"PUT", "/api/v1/views/1", false}, {"DELETE", "/api/v1/views/1", false},
	{"GET", "/api/v1/views/1/tickets", true},
	{"POST", "/api/v1/tickets/1/macros/1", true}, {"GET", "/api/v1/tickets/1/macros/1/preview", true},
	{"GET", "/api/v1/webhooks", false}, {"POST", "/api/v1/webhooks", false},
	{"GET", "/api/v1/webhooks/1", false}, {"PUT", "/api/v1/webhooks/1", false}, {"DELETE", "/api/v1/webhooks/1", false},
	{"GET", "/api/v1/webhooks/1/deliveries", false},
	{"GET", "/api/v1/auto_replies", false},
	{"GET", "/api/v1/auto_replies/support", false}, {"PUT", "/api/v1/auto_replies/support", false}, {"DELETE", "/api/v1/auto_replies/support", false},
}

// TestRulesAuth: every rules route answers 401 without a valid token and
// 403 to an agent where it is admin-only, with the API's error shape, and
// nothing changes.
func TestRulesAuth(t *testing.T) {
	e := newEnv(t, withRules)
	agent, _ := e.agentToken("Agent", "agent@example.test")
	covered := map[string]bool{}
	for _, rt := range rulesRouteTable {
		covered[rt.method+" "+rt.path] = true
	}
	// The table covers every rules route the server registers.
	for _, p := range e.srv.Patterns() {
		for _, prefix := range []string{"/api/v1/triggers", "/api/v1/automations", "/api/v1/macros", "/api/v1/views", "/api/v1/webhooks", "/api/v1/auto_replies", "/api/v1/tickets/{id}/macros"} {
			method, path, _ := strings.Cut(p, " ")
			if !strings.HasPrefix(path, prefix) {
				continue
			}
			concrete := strings.NewReplacer("{id}", "1", "{macro_id}", "1", "{channel}", "support").Replace(path)
			if !covered[method+" "+concrete] {
				t.Errorf("route %s is not in rulesRouteTable", p)
			}
		}
	}
	before := e.snap()
	for _, rt := range rulesRouteTable {
		for _, tok := range []string{"", "not-a-token"} {
			r := e.req(rt.method, rt.path, tok, map[string]any{})
			if r.status != 401 {
				t.Errorf("%s %s with token %q: %d, want 401", rt.method, rt.path, tok, r.status)
				continue
			}
			if ae := r.apiErr(t); ae.Code != CodeUnauthorized {
				t.Errorf("%s %s: error %+v", rt.method, rt.path, ae)
			}
		}
		if rt.agent {
			continue
		}
		r := e.req(rt.method, rt.path, agent, map[string]any{"title": "x"})
		if r.status != 403 {
			t.Errorf("%s %s as an agent: %d, want 403", rt.method, rt.path, r.status)
			continue
		}
		if ae := r.apiErr(t); ae.Code != CodeForbidden {
			t.Errorf("%s %s as an agent: error %+v", rt.method, rt.path, ae)
		}
	}
	if after := e.snap(); after != before {
		t.Fatalf("refused requests changed the store: %+v -> %+v", before, after)
	}
	for _, path := range []string{"triggers", "automations", "macros", "views", "webhooks", "auto_replies"} {
		if body := string(e.must(200, "GET", "/api/v1/"+path, e.admin, nil).body); !strings.Contains(body, `"`+path+`":[]`) {
			t.Errorf("%s stored by a refused request: %s", path, body)
		}
	}
}

// TestRulesUpdateBadInput: a PUT with an invalid definition answers 422
// naming the field and leaves the stored definition as it was.
func TestRulesUpdateBadInput(t *testing.T) {
	e := newEnv(t, withRules)
	good := map[string]any{"title": "VPN", "conditions": map[string]any{"all": []any{map[string]any{"field": "subject", "operator": "contains", "value": "vpn"}}},
		"actions": []any{map[string]any{"field": "group", "value": "Network"}}}
	var tr rules.Rule
	e.must(201, "POST", "/api/v1/triggers", e.admin, good).decode(t, &tr)
	one := fmt.Sprintf("/api/v1/triggers/%d", tr.ID)
	stored := string(e.must(200, "GET", one, e.admin, nil).body)
	cases := []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"title": "VPN", "conditions": map[string]any{"any": []any{map[string]any{"field": "priority", "operator": "contains", "value": "high"}}},
			"actions": []any{map[string]any{"field": "group", "value": "Network"}}}, "conditions.any[0].operator"},
		{map[string]any{"title": "VPN", "conditions": good["conditions"], "actions": []any{
			map[string]any{"field": "group", "value": "Network"}, map[string]any{"field": "public_reply", "value": "Hi {{requester.password}}"}}}, "actions[1].value"},
		{map[string]any{"title": " ", "conditions": good["conditions"], "actions": good["actions"]}, "title"},
		{map[string]any{"title": "VPN", "conditions": good["conditions"], "actions": []any{}}, "actions"},
	}
	for _, c := range cases {
		r := e.must(422, "PUT", one, e.admin, c.body)
		if ae := r.apiErr(t); ae.Code != CodeInvalidField || ae.Field != c.field || ae.Message == "" {
			t.Errorf("PUT %v: error %+v, want invalid_field on %s", c.body, ae, c.field)
		}
		if !strings.Contains(string(r.body), `"error":{`) {
			t.Errorf("error shape %s", r.body)
		}
	}
	if now := string(e.must(200, "GET", one, e.admin, nil).body); now != stored {
		t.Fatalf("a refused PUT changed the trigger:\n%s\n->\n%s", stored, now)
	}
}

// TestWebhookDeliveryLogAPI: a trigger's webhook call to a local receiver
// that answers 500 then 204 shows in GET /api/v1/webhooks/{id}/deliveries
// with both attempts, one delivery id and cursor pagination.
func TestWebhookDeliveryLogAPI(t *testing.T) {
	var eng *rules.Engine
	e := newEnv(t, func(o *Options) {
		o.Rules = rules.New(o.Store, rules.Options{WebhookBaseBackoff: time.Millisecond, WebhookMaxBackoff: time.Millisecond})
		eng = o.Rules
	})
	ctx := context.Background()
	if err := eng.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var ids []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		id := r.Header.Get(rules.HeaderDelivery)
		seen := slices.Contains(ids, id)
		ids = append(ids, id)
		if !seen { // every delivery's first attempt fails
			w.WriteHeader(500)
			return
		}
		w.WriteHeader(204)
	}))
	defer srv.Close()
	var wh rules.Webhook
	e.must(201, "POST", "/api/v1/webhooks", e.admin, map[string]any{"name": "CRM", "url": srv.URL}).decode(t, &wh)
	e.must(201, "POST", "/api/v1/triggers", e.admin, map[string]any{"title": "notify", "conditions": map[string]any{"all": []any{map[string]any{"field": "update_type", "operator": "is", "value": "created"}}},
		"actions": []any{map[string]any{"field": "notify_webhook", "value": wh.ID}}})
	agent, _ := e.agentToken("Agent", "agent@example.test")
	first := e.createTicket(agent, "one", "one@example.test")
	e.createTicket(agent, "two", "two@example.test")
	if _, err := eng.ProcessEvents(ctx); err != nil {
		t.Fatal(err)
	}
	type logEntry struct {
		ID           string `json:"id"`
		Status       string `json:"status"`
		TicketID     uint64 `json:"ticket_id"`
		AttemptCount int    `json:"attempt_count"`
		Attempts     []struct {
			StatusCode int `json:"status_code"`
		} `json:"attempts"`
	}
	var page struct {
		Deliveries []logEntry `json:"deliveries"`
		NextCursor *string    `json:"next_cursor"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := eng.DeliverWebhooks(ctx); err != nil {
			t.Fatal(err)
		}
		e.must(200, "GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries", wh.ID), e.admin, nil).decode(t, &page)
		if len(page.Deliveries) == 2 && page.Deliveries[0].Status == "delivered" && page.Deliveries[1].Status == "delivered" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries %+v", page.Deliveries)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Newest first: the first ticket's delivery is the older one. Each was
	// retried after its 500 with the same delivery id.
	retried := page.Deliveries[1]
	if retried.TicketID != first.ID || page.Deliveries[0].ID == retried.ID {
		t.Fatalf("log order %+v", page.Deliveries)
	}
	mu.Lock()
	for _, d := range page.Deliveries {
		if d.AttemptCount != 2 || len(d.Attempts) != 2 || d.Attempts[0].StatusCode != 500 || d.Attempts[1].StatusCode != 204 {
			t.Errorf("delivery %+v", d)
		}
		n := 0
		for _, id := range ids {
			if id == d.ID {
				n++
			}
		}
		if n != 2 {
			t.Errorf("delivery id %s seen %d times at the receiver (%v), want 2", d.ID, n, ids)
		}
	}
	mu.Unlock()
	// Cursor pagination, one per page.
	var p1, p2 struct {
		Deliveries []logEntry `json:"deliveries"`
		NextCursor *string    `json:"next_cursor"`
	}
	e.must(200, "GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries?limit=1", wh.ID), e.admin, nil).decode(t, &p1)
	if len(p1.Deliveries) != 1 || p1.NextCursor == nil {
		t.Fatalf("page 1 %+v", p1)
	}
	e.must(200, "GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries?limit=1&cursor=%s", wh.ID, *p1.NextCursor), e.admin, nil).decode(t, &p2)
	if len(p2.Deliveries) != 1 || p2.Deliveries[0].ID != retried.ID {
		t.Fatalf("page 2 %+v", p2)
	}
	if ae := e.must(422, "GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries?cursor=bogus", wh.ID), e.admin, nil).apiErr(t); ae.Field != "cursor" {
		t.Fatalf("bad cursor %+v", ae)
	}
	if body := string(e.must(200, "GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries", wh.ID), e.admin, nil).body); strings.Contains(body, wh.Secret) || strings.Contains(body, srv.URL) {
		t.Fatalf("the delivery log shows the secret or URL: %s", body)
	}
}

// TestAutoReplyUnknownChannel: an auto-reply can only be set for a
// configured channel instance (404 otherwise, nothing stored).
func TestAutoReplyUnknownChannel(t *testing.T) {
	e := newEnv(t, withRules, func(o *Options) {
		o.Channels = ChannelsFunc(func() []ChannelInfo { return []ChannelInfo{{Name: "support", Plugin: "email"}} })
	})
	if ae := e.must(404, "PUT", "/api/v1/auto_replies/nope", e.admin, map[string]any{"body": "Thanks!"}).apiErr(t); ae.Code != CodeNotFound {
		t.Fatalf("unknown channel: %+v", ae)
	}
	e.must(404, "GET", "/api/v1/auto_replies/nope", e.admin, nil)
	e.must(201, "PUT", "/api/v1/auto_replies/support", e.admin, map[string]any{"body": "Thanks!"})
	if body := string(e.must(200, "GET", "/api/v1/auto_replies", e.admin, nil).body); strings.Contains(body, "nope") {
		t.Fatalf("stored for an unknown channel: %s", body)
	}
}
