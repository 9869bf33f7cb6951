package mcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	gomcp "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/patchbayhq/patchbay/core/api"
	"github.com/patchbayhq/patchbay/core/mcp"
	"github.com/patchbayhq/patchbay/core/rules"
	"github.com/patchbayhq/patchbay/core/search"
	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

const adminToken = "mcp-test-admin-token-0123456789"

// core is the API with its MCP server on a real store, behind a loopback
// HTTP server.
type core struct {
	t   *testing.T
	url string
	st  *store.Store
	srv *api.Server
	ts  *httptest.Server
}

func newCore(t *testing.T, mod ...func(*mcp.Options)) *core {
	t.Helper()
	st, err := store.Open(store.Options{Dir: t.TempDir(), GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := search.Open(st, search.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ictx, stop := context.WithCancel(context.Background())
	indexed := make(chan struct{})
	go func() { _ = idx.Run(ictx); close(indexed) }()
	var m *mcp.Server
	srv, err := api.New(api.Options{
		Store:      st,
		Search:     idx,
		AdminToken: adminToken,
		Rules:      rules.New(st, rules.Options{}),
		Heartbeat:  time.Hour,
		MCP: func(h http.Handler) (http.Handler, error) {
			var err error
			o := mcp.Options{API: h, Version: "test", RetryDelay: 10 * time.Millisecond}
			for _, f := range mod {
				f(&o)
			}
			m, err = mcp.New(o)
			return m, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
		stop()
		<-indexed
		idx.Close()
		st.Close()
	})
	return &core{t: t, url: ts.URL, st: st, srv: srv, ts: ts}
}

// call is a plain API call; it fails the test unless the status is want.
func (c *core) call(want int, method, path, token string, body any, out any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatal(err)
		}
	}
}

// token creates an agent token with the scope.
func (c *core) token(email, scope string) (string, uint64) {
	c.t.Helper()
	var out struct {
		Token  string `json:"token"`
		UserID uint64 `json:"user_id"`
	}
	c.call(201, "POST", "/api/v1/tokens", adminToken, map[string]any{"email": email, "scope": scope}, &out)
	return out.Token, out.UserID
}

func (c *core) ticket(subject string) uint64 {
	c.t.Helper()
	var tk struct {
		ID uint64 `json:"id"`
	}
	c.call(201, "POST", "/api/v1/tickets", adminToken, map[string]any{
		"subject": subject, "comment": map[string]any{"body": "It is actually on fire."},
		"requester": map[string]any{"name": "Ada", "email": "ada@customer.test"},
	}, &tk)
	return tk.ID
}

type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

// connect opens an MCP session over streamable HTTP with the token.
func (c *core) connect(token string, opts *gomcp.ClientOptions) *gomcp.ClientSession {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := gomcp.NewClient(&gomcp.Implementation{Name: "test", Version: "1"}, opts)
	cs, err := cl.Connect(ctx, &gomcp.StreamableClientTransport{
		Endpoint:   c.url + "/mcp",
		HTTPClient: &http.Client{Transport: bearer{token: token, base: http.DefaultTransport}},
	}, nil)
	if err != nil {
		c.t.Fatalf("connect: %v", err)
	}
	c.t.Cleanup(func() { cs.Close() })
	return cs
}

// tool calls a tool and returns its result; a transport failure fails the
// test (tool errors are results).
func tool(t *testing.T, cs *gomcp.ClientSession, name string, args map[string]any) *gomcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &gomcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: transport error %v", name, err)
	}
	return res
}

// ok decodes a successful tool result's structured content.
func ok(t *testing.T, res *gomcp.CallToolResult, out any) {
	t.Helper()
	if res.IsError {
		t.Fatalf("tool error: %s", text(res))
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
}

func text(res *gomcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*gomcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// toolErr returns the API error a tool result carries, failing the test
// when the result is not a tool error in the API's shape.
func toolErr(t *testing.T, res *gomcp.CallToolResult) mcp.APIError {
	t.Helper()
	if !res.IsError {
		t.Fatalf("not a tool error: %s", text(res))
	}
	var out struct {
		Error *mcp.APIError `json:"error"`
	}
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &out); err != nil || out.Error == nil || out.Error.Code == "" {
		t.Fatalf("tool error without the API error object: %s / %s", b, text(res))
	}
	if !strings.Contains(text(res), out.Error.Code) {
		t.Errorf("the text a model reads lacks the code %s: %q", out.Error.Code, text(res))
	}
	return *out.Error
}

// TestStreamableHTTP drives /mcp with the SDK's client: the session
// initializes, lists exactly the documented tools, reads a ticket, replies,
// adds a note and updates it, each change authored by the token's agent
// and visible through the API.
func TestStreamableHTTP(t *testing.T) {
	c := newCore(t)
	agent, agentID := c.token("grace@acme.test", "")
	id := c.ticket("Printer on fire")
	cs := c.connect(agent, nil)

	if got := cs.InitializeResult(); got == nil || got.ServerInfo.Name != "patchbay" || got.Capabilities.Tools == nil || got.Capabilities.Resources == nil || !got.Capabilities.Resources.Subscribe {
		t.Fatalf("initialize result %+v", got)
	}
	ctx := context.Background()
	lt, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range lt.Tools {
		names = append(names, tl.Name)
		if tl.Description == "" || tl.InputSchema == nil || tl.OutputSchema == nil {
			t.Errorf("tool %s lacks a description or schemas", tl.Name)
		}
	}
	want := []string{"search_tickets", "get_ticket", "reply_to_ticket", "add_internal_note", "update_ticket",
		"list_views", "list_view_tickets", "apply_macro", "lookup_user", "list_channels"}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("tools %v, want %v", names, want)
	}

	var got struct {
		Ticket    map[string]any   `json:"ticket"`
		Requester map[string]any   `json:"requester"`
		Comments  []map[string]any `json:"comments"`
	}
	ok(t, tool(t, cs, "get_ticket", map[string]any{"id": id}), &got)
	if got.Ticket["subject"] != "Printer on fire" || got.Requester["email"] != "ada@customer.test" || len(got.Comments) != 1 {
		t.Fatalf("get_ticket %+v", got)
	}
	if a, _ := got.Comments[0]["author"].(map[string]any); a["name"] != "Ada" {
		t.Fatalf("comment author %v", got.Comments[0]["author"])
	}
	if ids, _ := got.Requester["identities"].([]any); len(ids) == 0 {
		t.Fatalf("requester without identities: %v", got.Requester)
	}

	var reply struct {
		Comment map[string]any `json:"comment"`
	}
	ok(t, tool(t, cs, "reply_to_ticket", map[string]any{"id": id, "body": "Please step away from the printer.", "status": "pending"}), &reply)
	if reply.Comment["public"] != true || reply.Comment["author_id"] != float64(agentID) {
		t.Fatalf("reply %+v", reply.Comment)
	}
	var note struct {
		Comment map[string]any `json:"comment"`
	}
	ok(t, tool(t, cs, "add_internal_note", map[string]any{"id": id, "body": "Facilities informed."}), &note)
	if note.Comment["public"] != false {
		t.Fatalf("note %+v", note.Comment)
	}
	var upd struct {
		Ticket map[string]any `json:"ticket"`
	}
	ok(t, tool(t, cs, "update_ticket", map[string]any{"id": id, "priority": "urgent", "group": "Facilities", "assignee_id": agentID}), &upd)
	if upd.Ticket["priority"] != "urgent" || upd.Ticket["group"] != "Facilities" || upd.Ticket["assignee_id"] != float64(agentID) || upd.Ticket["status"] != "pending" {
		t.Fatalf("update %+v", upd.Ticket)
	}

	// What the tools did is what the API shows, authored by the agent.
	var comments struct {
		Comments []struct {
			Body     string `json:"body"`
			Public   bool   `json:"public"`
			AuthorID uint64 `json:"author_id"`
		} `json:"comments"`
	}
	c.call(200, "GET", fmt.Sprintf("/api/v1/tickets/%d/comments", id), adminToken, nil, &comments)
	if n := len(comments.Comments); n != 3 || comments.Comments[1].AuthorID != agentID || !comments.Comments[1].Public || comments.Comments[2].Public {
		t.Fatalf("comments %+v", comments.Comments)
	}
	var events []store.Event
	events, err = c.st.EventsAfter(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	byAgent := 0
	for _, ev := range events {
		if ev.TicketID == id && ev.ActorID == agentID {
			byAgent++
		}
	}
	if byAgent < 3 {
		t.Fatalf("%d events of ticket %d by the agent, want the reply, the note and the update", byAgent, id)
	}

	// lookup_user finds the requester with the ticket.
	var lu struct {
		User          map[string]any   `json:"user"`
		RecentTickets []map[string]any `json:"recent_tickets"`
	}
	ok(t, tool(t, cs, "lookup_user", map[string]any{"email": "ADA@customer.test"}), &lu)
	if lu.User["name"] != "Ada" || len(lu.RecentTickets) != 1 || lu.RecentTickets[0]["id"] != float64(id) {
		t.Fatalf("lookup_user %+v", lu)
	}
	var ch struct {
		Channels []any `json:"channels"`
	}
	ok(t, tool(t, cs, "list_channels", map[string]any{}), &ch)
	if ch.Channels == nil {
		t.Fatal("list_channels without a channels list")
	}
}

// TestToolErrors: API errors come back as tool errors carrying the API's
// code and field, never as transport failures, and change nothing.
func TestToolErrors(t *testing.T) {
	c := newCore(t)
	agent, _ := c.token("grace@acme.test", "")
	id := c.ticket("Printer on fire")
	closed := c.ticket("Old request")
	c.call(200, "PATCH", fmt.Sprintf("/api/v1/tickets/%d", closed), adminToken, map[string]any{"status": "solved"}, nil)
	c.call(200, "PATCH", fmt.Sprintf("/api/v1/tickets/%d", closed), adminToken, map[string]any{"status": "closed"}, nil)
	var tk struct {
		RequesterID uint64 `json:"requester_id"`
	}
	c.call(200, "GET", fmt.Sprintf("/api/v1/tickets/%d", id), adminToken, nil, &tk)
	cs := c.connect(agent, nil)
	before, _ := c.st.EventsAfter(0, 10000)

	cases := []struct {
		name, tool string
		args       map[string]any
		code       string
		field      string
	}{
		{"unknown ticket", "get_ticket", map[string]any{"id": 999}, "not_found", ""},
		{"reply to unknown ticket", "reply_to_ticket", map[string]any{"id": 999, "body": "hi"}, "not_found", ""},
		{"reply to closed ticket", "reply_to_ticket", map[string]any{"id": closed, "body": "hi"}, "ticket_closed", ""},
		{"note on closed ticket", "add_internal_note", map[string]any{"id": closed, "body": "hi"}, "ticket_closed", ""},
		{"closed before solved", "update_ticket", map[string]any{"id": id, "status": "closed"}, "invalid_field", "status"},
		{"assign an end user", "update_ticket", map[string]any{"id": id, "assignee_id": tk.RequesterID}, "invalid_field", "assignee_id"},
		{"nothing to change", "update_ticket", map[string]any{"id": id}, "invalid_field", "status"},
		{"unknown user", "lookup_user", map[string]any{"email": "nobody@example.test"}, "not_found", ""},
		{"unknown view", "list_view_tickets", map[string]any{"view_id": 999}, "not_found", ""},
		{"unknown macro", "apply_macro", map[string]any{"ticket_id": id, "macro_id": 999}, "not_found", ""},
		{"bad comments cursor", "get_ticket", map[string]any{"id": id, "comments_cursor": "bogus"}, "invalid_field", "comments_cursor"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ae := toolErr(t, tool(t, cs, tc.tool, tc.args))
			if ae.Code != tc.code || ae.Field != tc.field {
				t.Fatalf("error %+v, want code %s field %q", ae, tc.code, tc.field)
			}
		})
	}
	// Arguments that break the tool's schema are tool errors too.
	if res := tool(t, cs, "update_ticket", map[string]any{"id": id, "status": "new"}); !res.IsError {
		t.Fatal("status new was accepted")
	}
	if res := tool(t, cs, "reply_to_ticket", map[string]any{"id": id}); !res.IsError {
		t.Fatal("a reply without a body was accepted")
	}
	if res := tool(t, cs, "reply_to_ticket", map[string]any{"id": id, "body": "x", "public": false}); !res.IsError {
		t.Fatal("an unknown argument was accepted")
	}
	after, _ := c.st.EventsAfter(0, 10000)
	if len(after) != len(before) {
		t.Fatalf("refused tool calls wrote %d events", len(after)-len(before))
	}
}

// TestScopes: a read token can search, read and list through MCP, and gets
// the tool error insufficient_scope from every write tool, which changes
// nothing; no token at all is 401 at /mcp.
func TestScopes(t *testing.T) {
	c := newCore(t)
	reader, _ := c.token("reader@acme.test", "read")
	id := c.ticket("Printer on fire")
	cs := c.connect(reader, nil)
	var got struct {
		Ticket map[string]any `json:"ticket"`
	}
	ok(t, tool(t, cs, "get_ticket", map[string]any{"id": id}), &got)
	var views struct {
		Views []any `json:"views"`
	}
	ok(t, tool(t, cs, "list_views", map[string]any{}), &views)
	before, _ := c.st.EventsAfter(0, 10000)
	for _, w := range []struct {
		tool string
		args map[string]any
	}{
		{"reply_to_ticket", map[string]any{"id": id, "body": "hello"}},
		{"add_internal_note", map[string]any{"id": id, "body": "hello"}},
		{"update_ticket", map[string]any{"id": id, "status": "open"}},
		{"apply_macro", map[string]any{"ticket_id": id, "macro_id": 1}},
	} {
		if ae := toolErr(t, tool(t, cs, w.tool, w.args)); ae.Code != "insufficient_scope" || ae.Status != http.StatusForbidden {
			t.Errorf("%s with a read token: %+v, want insufficient_scope", w.tool, ae)
		}
	}
	after, _ := c.st.EventsAfter(0, 10000)
	if len(after) != len(before) {
		t.Fatalf("refused writes wrote %d events", len(after)-len(before))
	}

	// No token, or a wrong one: 401 in the API's error shape, and the
	// SDK client cannot connect.
	for _, h := range []string{"", "Bearer pbt_not-a-token"} {
		req, _ := http.NewRequest("POST", c.url+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), `"unauthorized"`) || res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: %d %s", h, res.StatusCode, b)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl := gomcp.NewClient(&gomcp.Implementation{Name: "test", Version: "1"}, nil)
	if _, err := cl.Connect(ctx, &gomcp.StreamableClientTransport{Endpoint: c.url + "/mcp"}, nil); err == nil {
		t.Fatal("connected without a token")
	}
}

// TestBehindProxy: a reverse proxy on the same machine connects over
// loopback with the public Host; the session works (the token, not the
// Host, is what guards /mcp).
func TestBehindProxy(t *testing.T) {
	c := newCore(t)
	agent, _ := c.token("grace@acme.test", "")
	req, _ := http.NewRequest("POST", c.url+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`))
	req.Host = "help.acme.test"
	req.Header.Set("Authorization", "Bearer "+agent)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Mcp-Session-Id") == "" || !strings.Contains(string(b), `"serverInfo"`) {
		t.Fatalf("initialize through a proxy: %d %s", res.StatusCode, b)
	}
}

// TestIdempotencyKey: a write tool retried with the same idempotency key
// (a model retrying after a lost answer) replies once and says the second
// answer is a replay; another key replies again.
func TestIdempotencyKey(t *testing.T) {
	c := newCore(t)
	agent, _ := c.token("grace@acme.test", "")
	id := c.ticket("Printer on fire")
	cs := c.connect(agent, nil)
	args := map[string]any{"id": id, "body": "On my way.", "idempotency_key": "7c1f0a52-reply-1"}
	var first, second struct {
		Comment map[string]any `json:"comment"`
		Replay  bool           `json:"idempotent_replay"`
	}
	ok(t, tool(t, cs, "reply_to_ticket", args), &first)
	ok(t, tool(t, cs, "reply_to_ticket", args), &second)
	if first.Replay || !second.Replay || first.Comment["id"] != second.Comment["id"] {
		t.Fatalf("first %+v, second %+v", first, second)
	}
	// The same key with another body is refused.
	args["body"] = "Something else"
	if ae := toolErr(t, tool(t, cs, "reply_to_ticket", args)); ae.Code != "idempotency_key_reused" {
		t.Fatalf("reused key: %+v", ae)
	}
	var comments struct {
		Comments []any `json:"comments"`
	}
	c.call(200, "GET", fmt.Sprintf("/api/v1/tickets/%d/comments", id), adminToken, nil, &comments)
	if len(comments.Comments) != 2 {
		t.Fatalf("%d comments, want the first and one reply", len(comments.Comments))
	}
}

// TestIfMatch: update_ticket and reply_to_ticket with the version read
// apply; with a stale version they fail with precondition_failed and change
// nothing.
func TestIfMatch(t *testing.T) {
	c := newCore(t)
	agent, _ := c.token("grace@acme.test", "")
	id := c.ticket("Printer on fire")
	cs := c.connect(agent, nil)
	var got struct {
		Ticket map[string]any `json:"ticket"`
	}
	ok(t, tool(t, cs, "get_ticket", map[string]any{"id": id}), &got)
	v, has := got.Ticket["version"]
	if !has {
		t.Skip("this API has no ticket versions")
	}
	stale := fmt.Sprint(v)
	var upd, retry struct {
		Ticket map[string]any `json:"ticket"`
		Replay bool           `json:"idempotent_replay"`
	}
	args := map[string]any{"id": id, "add_tags": []string{"fire"}, "if_match": stale, "idempotency_key": "upd-1"}
	ok(t, tool(t, cs, "update_ticket", args), &upd)
	if fmt.Sprint(upd.Ticket["version"]) == stale {
		t.Fatal("the version did not change")
	}
	// A retry with the key (the answer was lost) gets the first answer,
	// not precondition_failed from its own change.
	ok(t, tool(t, cs, "update_ticket", args), &retry)
	if !retry.Replay || fmt.Sprint(retry.Ticket["version"]) != fmt.Sprint(upd.Ticket["version"]) {
		t.Fatalf("retry %+v, first %+v", retry, upd)
	}
	for _, w := range []struct {
		tool string
		args map[string]any
	}{
		{"update_ticket", map[string]any{"id": id, "remove_tags": []string{"fire"}, "if_match": stale}},
		{"reply_to_ticket", map[string]any{"id": id, "body": "late", "if_match": stale}},
		{"add_internal_note", map[string]any{"id": id, "body": "late", "if_match": stale}},
	} {
		if ae := toolErr(t, tool(t, cs, w.tool, w.args)); ae.Code != "precondition_failed" {
			t.Errorf("%s with a stale version: %+v", w.tool, ae)
		}
	}
	ok(t, tool(t, cs, "get_ticket", map[string]any{"id": id}), &got)
	if tags, _ := got.Ticket["tags"].([]any); len(tags) != 1 || len(got.Ticket) == 0 {
		t.Fatalf("tags after the stale update: %v", got.Ticket["tags"])
	}
}

// TestResources: a ticket is a resource; a subscribed session is notified
// when the ticket changes (here by another agent through the API), and
// not for other tickets.
func TestResources(t *testing.T) {
	c := newCore(t)
	agent, _ := c.token("grace@acme.test", "")
	id := c.ticket("Printer on fire")
	other := c.ticket("Another")
	updated := make(chan string, 16)
	cs := c.connect(agent, &gomcp.ClientOptions{ResourceUpdatedHandler: func(_ context.Context, r *gomcp.ResourceUpdatedNotificationRequest) {
		updated <- r.Params.URI
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	uri := mcp.TicketURI(id)
	res, err := cs.ReadResource(ctx, &gomcp.ReadResourceParams{URI: uri})
	if err != nil || len(res.Contents) != 1 || !strings.Contains(res.Contents[0].Text, "Printer on fire") {
		t.Fatalf("read %s: %v %+v", uri, err, res)
	}
	if _, err := cs.ReadResource(ctx, &gomcp.ReadResourceParams{URI: mcp.TicketURI(999)}); err == nil {
		t.Fatal("read an unknown ticket")
	}
	macros, err := cs.ReadResource(ctx, &gomcp.ReadResourceParams{URI: "patchbay://macros"})
	if err != nil || len(macros.Contents) != 1 || !strings.Contains(macros.Contents[0].Text, `"macros"`) {
		t.Fatalf("read patchbay://macros: %v %+v", err, macros)
	}
	if err := cs.Subscribe(ctx, &gomcp.SubscribeParams{URI: mcp.TicketURI(999)}); err == nil {
		t.Fatal("subscribed to an unknown ticket")
	}
	if err := cs.Subscribe(ctx, &gomcp.SubscribeParams{URI: uri}); err != nil {
		t.Fatal(err)
	}
	// Another session that did not subscribe is not notified.
	quiet := make(chan string, 16)
	c.connect(agent, &gomcp.ClientOptions{ResourceUpdatedHandler: func(_ context.Context, r *gomcp.ResourceUpdatedNotificationRequest) {
		quiet <- r.Params.URI
	}})
	c.call(201, "POST", fmt.Sprintf("/api/v1/tickets/%d/comments", other), adminToken, map[string]any{"body": "elsewhere", "public": false}, nil)
	waitUpdated(t, c, id, updated)
	select {
	case got := <-quiet:
		t.Fatalf("a session without subscriptions was notified for %s", got)
	case <-time.After(300 * time.Millisecond):
	}
}

// waitUpdated adds notes to ticket id until a resource-updated
// notification arrives on updated (the event stream opens right after the
// subscription; a change before that is not seen), and fails unless it
// names the ticket.
func waitUpdated(t *testing.T, c *core, id uint64, updated <-chan string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for n := 0; ; n++ {
		c.call(201, "POST", fmt.Sprintf("/api/v1/tickets/%d/comments", id), adminToken, map[string]any{"body": fmt.Sprintf("note %d", n), "public": false}, nil)
		select {
		case got := <-updated:
			if got != mcp.TicketURI(id) {
				t.Fatalf("notified for %s, want %s", got, mcp.TicketURI(id))
			}
			return
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("no resource-updated notification")
		}
	}
}

// TestCloseEndsSessions: the API server's Close, run when the HTTP server
// shuts down (as patchbay serve registers it), ends open MCP sessions, so
// the shutdown's drain does not wait on their notification streams.
func TestCloseEndsSessions(t *testing.T) {
	c := newCore(t)
	agent, _ := c.token("grace@acme.test", "")
	id := c.ticket("Printer on fire")
	cs := c.connect(agent, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cs.Subscribe(ctx, &gomcp.SubscribeParams{URI: mcp.TicketURI(id)}); err != nil {
		t.Fatal(err)
	}
	c.ts.Config.RegisterOnShutdown(c.srv.Close)
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := c.ts.Config.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown with an open MCP session: %v", err)
	}
}

// TestSearchTickets: search_tickets finds a ticket by a word of an internal
// note, with the match's snippet; its status argument narrows the search;
// a query the API refuses is the tool error invalid_field on q.
func TestSearchTickets(t *testing.T) {
	c := newCore(t)
	agent, _ := c.token("grace@acme.test", "")
	id := c.ticket("Printer on fire")
	c.ticket("Another request")
	c.call(201, "POST", fmt.Sprintf("/api/v1/tickets/%d/comments", id), adminToken, map[string]any{"body": "Toner cartridge zyxwvut leaked", "public": false}, nil)
	cs := c.connect(agent, nil)
	var found struct {
		Tickets    []map[string]any `json:"tickets"`
		NextCursor *string          `json:"next_cursor"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok(t, tool(t, cs, "search_tickets", map[string]any{"query": "zyxwvut"}), &found)
		if len(found.Tickets) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(found.Tickets) != 1 || found.Tickets[0]["id"] != float64(id) {
		t.Fatalf("search: %+v", found)
	}
	if m, _ := found.Tickets[0]["match"].(map[string]any); m == nil || !strings.Contains(fmt.Sprint(m["snippet"]), "zyxwvut") {
		t.Fatalf("match %v", found.Tickets[0]["match"])
	}
	ok(t, tool(t, cs, "search_tickets", map[string]any{"query": "zyxwvut", "status": "solved"}), &found)
	if len(found.Tickets) != 0 {
		t.Fatalf("status solved found %+v", found.Tickets)
	}
	if ae := toolErr(t, tool(t, cs, "search_tickets", map[string]any{"query": "colour:blue"})); ae.Code != "invalid_field" || ae.Field != "query" {
		t.Fatalf("bad query: %+v", ae)
	}
}

// TestGetTicketUnreadableAuthor: a comment whose author cannot be read
// (here: stored with an author id no user has) still shows, with the
// author's id only, instead of failing the whole conversation.
func TestGetTicketUnreadableAuthor(t *testing.T) {
	c := newCore(t)
	agent, _ := c.token("grace@acme.test", "")
	id := c.ticket("Printer on fire")
	err := c.st.Update(context.Background(), func(tx *store.Tx) error {
		return tx.CreateComment(&ticket.Comment{TicketID: id, AuthorID: 999999, Body: "from nowhere", Public: false, Via: "api"}, store.CommentOptions{})
	})
	if err != nil {
		t.Skipf("the store refuses a comment by an unknown author: %v", err)
	}
	cs := c.connect(agent, nil)
	var got struct {
		Comments []map[string]any `json:"comments"`
	}
	ok(t, tool(t, cs, "get_ticket", map[string]any{"id": id}), &got)
	if len(got.Comments) != 2 {
		t.Fatalf("comments %+v", got.Comments)
	}
	if a, _ := got.Comments[1]["author"].(map[string]any); a["id"] != float64(999999) {
		t.Fatalf("author %v", got.Comments[1]["author"])
	}
}

// TestSubscribedSessionOutlivesIdleTimeout: a client that only listens
// for notifications keeps its session past the idle timeout (the server
// pings it, and its answers count as activity) and still gets them; a
// session without subscriptions expires as configured.
func TestSubscribedSessionOutlivesIdleTimeout(t *testing.T) {
	c := newCore(t, func(o *mcp.Options) { o.SessionTimeout = 600 * time.Millisecond })
	agent, _ := c.token("grace@acme.test", "")
	id := c.ticket("Printer on fire")
	updated := make(chan string, 16)
	listener := c.connect(agent, &gomcp.ClientOptions{ResourceUpdatedHandler: func(_ context.Context, r *gomcp.ResourceUpdatedNotificationRequest) {
		updated <- r.Params.URI
	}})
	idle := c.connect(agent, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := listener.Subscribe(ctx, &gomcp.SubscribeParams{URI: mcp.TicketURI(id)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // more than three idle timeouts
	waitUpdated(t, c, id, updated)
	if _, err := listener.ListTools(ctx, nil); err != nil {
		t.Fatalf("the listening session expired: %v", err)
	}
	if _, err := idle.ListTools(ctx, nil); err == nil {
		t.Fatal("an idle session without subscriptions outlived the timeout")
	}
}

// TestSessionBoundToToken: a session's id is useless with another valid
// token (403), so a leaked session id does not let another agent act in
// the session.
func TestSessionBoundToToken(t *testing.T) {
	c := newCore(t)
	ada, _ := c.token("ada@acme.test", "")
	bob, _ := c.token("bob@acme.test", "")
	post := func(token, session, body string) *http.Response {
		req, _ := http.NewRequest("POST", c.url+"/mcp", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
			req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	res := post(ada, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`)
	sid := res.Header.Get("Mcp-Session-Id")
	if res.StatusCode != http.StatusOK || sid == "" {
		t.Fatalf("initialize: %d", res.StatusCode)
	}
	if res := post(ada, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); res.StatusCode/100 != 2 {
		t.Fatalf("initialized: %d", res.StatusCode)
	}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	if res := post(bob, sid, list); res.StatusCode != http.StatusForbidden {
		t.Fatalf("another token on the session: %d, want 403", res.StatusCode)
	}
	if res := post(ada, sid, list); res.StatusCode != http.StatusOK {
		t.Fatalf("the session's own token: %d", res.StatusCode)
	}
}
