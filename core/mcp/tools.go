package mcp

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
	gomcp "github.com/modelcontextprotocol/go-sdk/mcp"
)

// Tool names. They are part of the contract with clients and prompts:
// never rename one.
const (
	ToolSearchTickets   = "search_tickets"
	ToolGetTicket       = "get_ticket"
	ToolReplyToTicket   = "reply_to_ticket"
	ToolAddInternalNote = "add_internal_note"
	ToolUpdateTicket    = "update_ticket"
	ToolListViews       = "list_views"
	ToolListViewTickets = "list_view_tickets"
	ToolApplyMacro      = "apply_macro"
	ToolLookupUser      = "lookup_user"
	ToolListChannels    = "list_channels"
)

// ToolNames lists the name of every tool the server offers.
func ToolNames() []string {
	return []string{ToolSearchTickets, ToolGetTicket, ToolReplyToTicket, ToolAddInternalNote, ToolUpdateTicket,
		ToolListViews, ToolListViewTickets, ToolApplyMacro, ToolLookupUser, ToolListChannels}
}

// object is an API object (ticket, comment, user, channel, view) as the API
// renders it; members the API adds later pass through unchanged.
type object = map[string]any

var statuses = []any{"new", "open", "pending", "hold", "solved", "closed"}

// ---- search_tickets

type searchIn struct {
	Query  string `json:"query" jsonschema:"the search: words (all must match; stemming, case and accents are ignored), \"quoted phrases\", and field terms such as status:open, tag:vpn, priority:high, channel:support, assignee:me, assignee:none, requester:ada@example.com, created>2026-01-01, updated<7d"`
	Status string `json:"status,omitempty" jsonschema:"only tickets with this status (the same as adding status:<value> to the query)"`
	Limit  int    `json:"limit,omitempty" jsonschema:"how many tickets to return, 1 to 50 (default 10)"`
	Cursor string `json:"cursor,omitempty" jsonschema:"next_cursor of a previous call with the same query, to get the next page"`
}

type ticketsOut struct {
	Tickets    []object `json:"tickets" jsonschema:"the tickets: id, subject, status, priority, channel, requester_id, assignee_id, tags, version, created_at, updated_at; search results also have match: {comment_id, snippet} showing where the query matched"`
	NextCursor *string  `json:"next_cursor" jsonschema:"pass as cursor to get the next page; null on the last page"`
}

func (s *session) searchTickets(ctx context.Context, req *gomcp.CallToolRequest, in searchIn) (ticketsOut, error) {
	var out ticketsOut
	q := strings.TrimSpace(in.Query)
	if in.Status != "" {
		q = strings.TrimSpace(q + " status:" + in.Status)
	}
	v := url.Values{"q": {q}, "limit": {strconv.Itoa(orDefault(in.Limit, 10))}}
	if in.Cursor != "" {
		v.Set("cursor", in.Cursor)
	}
	err := s.api(req).do(ctx, call{method: http.MethodGet, path: "/api/v1/search", query: v}, &out)
	return out.orEmpty(), renameField(err, map[string]string{"q": "query"})
}

// renameField names a tool argument instead of the API parameter it
// became in an API error's field (the model knows the tool's names).
func renameField(err error, names map[string]string) error {
	if ae, ok := asAPIError(err); ok {
		if n, found := names[ae.Field]; found {
			ae.Field = n
		}
	}
	return err
}

func (o ticketsOut) orEmpty() ticketsOut {
	if o.Tickets == nil {
		o.Tickets = []object{}
	}
	return o
}

// ---- get_ticket

type getTicketIn struct {
	ID            uint64 `json:"id" jsonschema:"the ticket's id"`
	CommentsLimit int    `json:"comments_limit,omitempty" jsonschema:"how many comments to return, 1 to 100 (default 50)"`
	CommentsAfter string `json:"comments_cursor,omitempty" jsonschema:"comments_next_cursor of a previous call, to read the next page of a long conversation"`
}

type getTicketOut struct {
	Ticket             object   `json:"ticket" jsonschema:"the ticket: id, subject, status, priority, channel, via, requester_id, assignee_id, group, tags, version (pass it as if_match to change the ticket only if nobody changed it since), created_at, updated_at"`
	Requester          object   `json:"requester" jsonschema:"the customer: id, name, email, phone, role and identities (type, value) on every channel"`
	Comments           []object `json:"comments" jsonschema:"the conversation, oldest first and newest last: id, author (id, name, role), body, public (false: an internal note customers never see), via, attachments (filename, content_type, size), delivery (status pending|sent|delivered|read|failed, error) of public replies, created_at"`
	CommentsNextCursor *string  `json:"comments_next_cursor" jsonschema:"when not null, the conversation goes on: pass it as comments_cursor to read the next comments"`
}

func (s *session) getTicket(ctx context.Context, req *gomcp.CallToolRequest, in getTicketIn) (getTicketOut, error) {
	return s.getTicketWith(ctx, s.api(req), in)
}

func (s *session) getTicketWith(ctx context.Context, a *apiClient, in getTicketIn) (getTicketOut, error) {
	var out getTicketOut
	if err := a.do(ctx, call{method: http.MethodGet, path: ticketPath(in.ID)}, &out.Ticket); err != nil {
		return out, err
	}
	v := url.Values{"limit": {strconv.Itoa(orDefault(in.CommentsLimit, 50))}}
	if in.CommentsAfter != "" {
		v.Set("cursor", in.CommentsAfter)
	}
	var page struct {
		Comments   []object `json:"comments"`
		NextCursor *string  `json:"next_cursor"`
	}
	if err := a.do(ctx, call{method: http.MethodGet, path: ticketPath(in.ID) + "/comments", query: v}, &page); err != nil {
		return out, renameField(err, map[string]string{"limit": "comments_limit", "cursor": "comments_cursor"})
	}
	users := map[uint64]object{}
	user := func(id uint64) (object, error) {
		if u, ok := users[id]; ok {
			return u, nil
		}
		var u object
		if err := a.do(ctx, call{method: http.MethodGet, path: fmt.Sprintf("/api/v1/users/%d", id)}, &u); err != nil {
			// A user that cannot be read does not hide the conversation.
			if ae, ok := asAPIError(err); !ok || ae.Status != http.StatusNotFound {
				return nil, err
			}
			u = object{"id": id}
		}
		users[id] = u
		return u, nil
	}
	if rid := idOf(out.Ticket["requester_id"]); rid != 0 {
		u, err := user(rid)
		if err != nil {
			return out, err
		}
		out.Requester = u
	}
	out.Comments = make([]object, 0, len(page.Comments))
	for _, c := range page.Comments {
		if aid := idOf(c["author_id"]); aid != 0 {
			u, err := user(aid)
			if err != nil {
				return out, err
			}
			c["author"] = object{"id": u["id"], "name": u["name"], "role": u["role"]}
		}
		out.Comments = append(out.Comments, c)
	}
	out.CommentsNextCursor = page.NextCursor
	return out, nil
}

// ---- reply_to_ticket, add_internal_note

type replyIn struct {
	ID             uint64 `json:"id" jsonschema:"the ticket's id"`
	Body           string `json:"body" jsonschema:"the reply as plain text, written to the customer"`
	Status         string `json:"status,omitempty" jsonschema:"the ticket's status after the reply, e.g. pending when you wait for the customer or solved when the request is done; without it a new ticket becomes open"`
	IfMatch        string `json:"if_match,omitempty" jsonschema:"the ticket's version as you last read it: the reply is refused with precondition_failed if the ticket changed since (then read it again)"`
	IdempotencyKey string `json:"idempotency_key,omitempty" jsonschema:"a unique key for this reply (a UUID): retrying with the same key never sends the reply twice"`
}

type noteIn struct {
	ID             uint64 `json:"id" jsonschema:"the ticket's id"`
	Body           string `json:"body" jsonschema:"the note as plain text, for agents only"`
	IfMatch        string `json:"if_match,omitempty" jsonschema:"the ticket's version as you last read it: the note is refused with precondition_failed if the ticket changed since"`
	IdempotencyKey string `json:"idempotency_key,omitempty" jsonschema:"a unique key for this note (a UUID): retrying with the same key never adds it twice"`
}

type commentOut struct {
	Comment object `json:"comment" jsonschema:"the new comment: id, ticket_id, author_id, body, public, created_at and, for a reply on a channel, delivery (status pending until the channel sent it; then sent, delivered, read or failed with error)"`
	Replay  bool   `json:"idempotent_replay" jsonschema:"true when the idempotency key had been used for the same request before: nothing was done again, this is the first answer"`
}

func (s *session) reply(ctx context.Context, req *gomcp.CallToolRequest, in replyIn) (commentOut, error) {
	body := object{"body": in.Body, "public": true}
	if in.Status != "" {
		body["status"] = in.Status
	}
	return s.comment(ctx, req, in.ID, body, in.IfMatch, in.IdempotencyKey)
}

func (s *session) note(ctx context.Context, req *gomcp.CallToolRequest, in noteIn) (commentOut, error) {
	return s.comment(ctx, req, in.ID, object{"body": in.Body, "public": false}, in.IfMatch, in.IdempotencyKey)
}

func (s *session) comment(ctx context.Context, req *gomcp.CallToolRequest, id uint64, body object, ifMatch, key string) (commentOut, error) {
	h := http.Header{}
	if ifMatch != "" {
		h.Set("If-Match", etag(ifMatch))
	}
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	var out commentOut
	replayed := false
	err := s.api(req).doHeader(ctx, call{method: http.MethodPost, path: ticketPath(id) + "/comments", body: body, header: h}, &out.Comment, &replayed)
	out.Replay = replayed
	return out, err
}

// ---- update_ticket

type updateIn struct {
	ID         uint64   `json:"id" jsonschema:"the ticket's id"`
	Status     string   `json:"status,omitempty" jsonschema:"the new status (a ticket never returns to new; closed only from solved)"`
	Priority   string   `json:"priority,omitempty" jsonschema:"the new priority; none clears it"`
	AssigneeID *uint64  `json:"assignee_id,omitempty" jsonschema:"the agent user to assign the ticket to; 0 unassigns it"`
	Group      *string  `json:"group,omitempty" jsonschema:"the group to route the ticket to; an empty string clears it"`
	AddTags    []string `json:"add_tags,omitempty" jsonschema:"tags to add (lower case, no spaces or commas)"`
	RemoveTags []string `json:"remove_tags,omitempty" jsonschema:"tags to remove"`
	IfMatch    string   `json:"if_match,omitempty" jsonschema:"the ticket's version as you last read it: the update is refused with precondition_failed if the ticket changed since (then read it again and decide anew)"`
	// IdempotencyKey makes a retry after a lost answer return the first
	// answer instead of precondition_failed (the update itself moved the
	// version on).
	IdempotencyKey string `json:"idempotency_key,omitempty" jsonschema:"a unique key for this update (a UUID): a retry with the same key returns the first answer instead of applying again or failing on your own change's new version"`
}

type ticketOut struct {
	Ticket object `json:"ticket" jsonschema:"the ticket after the change, with its new version"`
	Replay bool   `json:"idempotent_replay" jsonschema:"true when the idempotency key had been used for the same update before: nothing was done again, this is the first answer"`
}

func (s *session) update(ctx context.Context, req *gomcp.CallToolRequest, in updateIn) (ticketOut, error) {
	body := object{}
	if in.Status != "" {
		body["status"] = in.Status
	}
	switch in.Priority {
	case "":
	case "none":
		body["priority"] = nil
	default:
		body["priority"] = in.Priority
	}
	if in.AssigneeID != nil {
		if *in.AssigneeID == 0 {
			body["assignee_id"] = nil
		} else {
			body["assignee_id"] = *in.AssigneeID
		}
	}
	if in.Group != nil {
		if *in.Group == "" {
			body["group"] = nil
		} else {
			body["group"] = *in.Group
		}
	}
	if len(in.AddTags) > 0 {
		body["add_tags"] = in.AddTags
	}
	if len(in.RemoveTags) > 0 {
		body["remove_tags"] = in.RemoveTags
	}
	if len(body) == 0 {
		return ticketOut{}, &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid_field", Field: "status",
			Message: "nothing to change: give at least one of status, priority, assignee_id, group, add_tags, remove_tags"}
	}
	h := http.Header{}
	if in.IfMatch != "" {
		h.Set("If-Match", etag(in.IfMatch))
	}
	if in.IdempotencyKey != "" {
		h.Set("Idempotency-Key", in.IdempotencyKey)
	}
	var out ticketOut
	err := s.api(req).doHeader(ctx, call{method: http.MethodPatch, path: ticketPath(in.ID), body: body, header: h}, &out.Ticket, &out.Replay)
	return out, err
}

// ---- list_views, list_view_tickets

type listViewsIn struct{}

type viewsOut struct {
	Views []object `json:"views" jsonschema:"the shared views (saved ticket lists): id, title, conditions, order"`
}

func (s *session) listViews(ctx context.Context, req *gomcp.CallToolRequest, _ listViewsIn) (viewsOut, error) {
	var out viewsOut
	err := s.api(req).do(ctx, call{method: http.MethodGet, path: "/api/v1/views"}, &out)
	if out.Views == nil {
		out.Views = []object{}
	}
	return out, err
}

type viewTicketsIn struct {
	ViewID uint64 `json:"view_id" jsonschema:"the view's id (from list_views)"`
	Limit  int    `json:"limit,omitempty" jsonschema:"how many tickets to return, 1 to 100 (default 25)"`
	Cursor string `json:"cursor,omitempty" jsonschema:"next_cursor of a previous call for the same view"`
}

func (s *session) viewTickets(ctx context.Context, req *gomcp.CallToolRequest, in viewTicketsIn) (ticketsOut, error) {
	v := url.Values{"limit": {strconv.Itoa(orDefault(in.Limit, 25))}}
	if in.Cursor != "" {
		v.Set("cursor", in.Cursor)
	}
	var out ticketsOut
	err := s.api(req).do(ctx, call{method: http.MethodGet, path: fmt.Sprintf("/api/v1/views/%d/tickets", in.ViewID), query: v}, &out)
	return out.orEmpty(), err
}

// ---- apply_macro

type macroIn struct {
	TicketID       uint64 `json:"ticket_id" jsonschema:"the ticket's id"`
	MacroID        uint64 `json:"macro_id" jsonschema:"the macro's id (the resource patchbay://macros lists them; ask the user when unsure)"`
	Preview        bool   `json:"preview,omitempty" jsonschema:"true: show what the macro would change and write, without changing anything"`
	IdempotencyKey string `json:"idempotency_key,omitempty" jsonschema:"a unique key for this application (a UUID): retrying with the same key never applies the macro twice"`
}

type macroOut struct {
	Ticket   object   `json:"ticket" jsonschema:"the ticket after the macro (or as it would be, with preview)"`
	Comments []object `json:"comments" jsonschema:"the replies and notes the macro added (or would add)"`
	Preview  bool     `json:"preview" jsonschema:"true when nothing was changed"`
	Replay   bool     `json:"idempotent_replay" jsonschema:"true when the idempotency key had been used for the same request before: the macro was not applied again"`
}

func (s *session) applyMacro(ctx context.Context, req *gomcp.CallToolRequest, in macroIn) (macroOut, error) {
	path := fmt.Sprintf("/api/v1/tickets/%d/macros/%d", in.TicketID, in.MacroID)
	var res struct {
		Ticket   object   `json:"ticket"`
		Comments []object `json:"comments"`
	}
	out := macroOut{Preview: in.Preview}
	var err error
	if in.Preview {
		err = s.api(req).do(ctx, call{method: http.MethodGet, path: path + "/preview"}, &res)
	} else {
		h := http.Header{}
		if in.IdempotencyKey != "" {
			h.Set("Idempotency-Key", in.IdempotencyKey)
		}
		err = s.api(req).doHeader(ctx, call{method: http.MethodPost, path: path, header: h}, &res, &out.Replay)
	}
	out.Ticket, out.Comments = res.Ticket, res.Comments
	if out.Comments == nil {
		out.Comments = []object{}
	}
	return out, err
}

// ---- lookup_user

type lookupIn struct {
	Email        string `json:"email,omitempty" jsonschema:"the user's email address"`
	Identity     string `json:"identity,omitempty" jsonschema:"an identity as type:value, e.g. whatsapp:4915112345678 or slack:T123:U456 (instead of email)"`
	TicketsLimit int    `json:"tickets_limit,omitempty" jsonschema:"how many of the user's recent tickets to return, 0 to 50 (default 10)"`
}

type lookupOut struct {
	User          object   `json:"user" jsonschema:"the user: id, name, email, phone, role, identities (type, value), created_at"`
	RecentTickets []object `json:"recent_tickets" jsonschema:"the tickets the user requested, newest first"`
}

func (s *session) lookupUser(ctx context.Context, req *gomcp.CallToolRequest, in lookupIn) (lookupOut, error) {
	var out lookupOut
	identity := strings.TrimSpace(in.Identity)
	switch {
	case in.Email != "" && identity != "":
		return out, &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid_field", Field: "identity", Message: "give either email or identity, not both"}
	case in.Email != "":
		identity = "email:" + strings.TrimSpace(in.Email)
	case identity == "":
		return out, &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid_field", Field: "email", Message: "give the user's email or an identity as type:value"}
	}
	a := s.api(req)
	var users struct {
		Users []object `json:"users"`
	}
	if err := a.do(ctx, call{method: http.MethodGet, path: "/api/v1/users", query: url.Values{"identity": {identity}}}, &users); err != nil {
		if ae, ok := asAPIError(err); ok && ae.Field == "identity" && in.Email != "" {
			ae.Field = "email"
		}
		return out, err
	}
	if len(users.Users) == 0 {
		return out, &APIError{Status: http.StatusNotFound, Code: "not_found", Message: fmt.Sprintf("no user has the identity %s", identity)}
	}
	out.User = users.Users[0]
	out.RecentTickets = []object{}
	limit := 10
	if in.TicketsLimit > 0 {
		limit = in.TicketsLimit
	}
	if in.TicketsLimit >= 0 && limit > 0 {
		var page ticketsOut
		q := url.Values{"requester_id": {strconv.FormatUint(idOf(out.User["id"]), 10)}, "limit": {strconv.Itoa(limit)}}
		if err := a.do(ctx, call{method: http.MethodGet, path: "/api/v1/tickets", query: q}, &page); err != nil {
			return out, err
		}
		out.RecentTickets = page.orEmpty().Tickets
	}
	return out, nil
}

// ---- list_channels

type listChannelsIn struct{}

type channelsOut struct {
	Channels []object `json:"channels" jsonschema:"the channels: name, plugin (email, slack, whatsapp, line…), state of the plugin process (running, restarting, failed…), status reported by the provider (connected, auth_failed, degraded, disconnected), capabilities (attachments_in, attachments_out, html, threads, reply_window_seconds: a public reply later than this after the customer's last message fails with window_closed, e.g. WhatsApp's 24 hours)"`
}

func (s *session) listChannels(ctx context.Context, req *gomcp.CallToolRequest, _ listChannelsIn) (channelsOut, error) {
	var out channelsOut
	err := s.api(req).do(ctx, call{method: http.MethodGet, path: "/api/v1/channels"}, &out)
	if out.Channels == nil {
		out.Channels = []object{}
	}
	return out, err
}

// ---- registration

// toolDef is one tool: its description and schemas (computed once per
// Server) and how to add it to a session's SDK server.
type toolDef struct {
	tool *gomcp.Tool
	add  func(srv *gomcp.Server, s *session, t *gomcp.Tool)
}

// def builds a tool definition: input and output schemas inferred from In
// and Out, then adjusted by tweak (enums, bounds).
func def[In, Out any](name, title, desc string, readOnly, idempotent bool, tweak func(in *jsonschema.Schema),
	h func(s *session) handlerFor[In, Out]) (toolDef, error) {
	in, err := jsonschema.For[In](nil)
	if err != nil {
		return toolDef{}, fmt.Errorf("tool %s: input schema: %w", name, err)
	}
	if tweak != nil {
		tweak(in)
	}
	out, err := jsonschema.For[Out](nil)
	if err != nil {
		return toolDef{}, fmt.Errorf("tool %s: output schema: %w", name, err)
	}
	closed := false
	ann := &gomcp.ToolAnnotations{Title: title, ReadOnlyHint: readOnly, IdempotentHint: idempotent || readOnly, OpenWorldHint: &closed}
	if !readOnly {
		destructive := false
		ann.DestructiveHint = &destructive
	}
	t := &gomcp.Tool{Name: name, Title: title, Description: desc, InputSchema: in, OutputSchema: out, Annotations: ann}
	return toolDef{tool: t, add: func(srv *gomcp.Server, s *session, t *gomcp.Tool) {
		f := h(s)
		gomcp.AddTool(srv, t, func(ctx context.Context, req *gomcp.CallToolRequest, in In) (*gomcp.CallToolResult, Out, error) {
			out, err := f(ctx, req, in)
			return nil, out, err
		})
	}}, nil
}

// handlerFor is a tool's implementation: the arguments in, the structured
// result or an error out (an *APIError becomes a tool error carrying the
// API's code and field).
type handlerFor[In, Out any] func(ctx context.Context, req *gomcp.CallToolRequest, in In) (Out, error)

func enum(vals ...any) func(*jsonschema.Schema) { return func(p *jsonschema.Schema) { p.Enum = vals } }

func bounds(min, max float64) func(*jsonschema.Schema) {
	return func(p *jsonschema.Schema) { p.Minimum, p.Maximum = &min, &max }
}

func minLen(n int) func(*jsonschema.Schema) { return func(p *jsonschema.Schema) { p.MinLength = &n } }

// props applies adjustments to named properties of an input schema.
func props(adj map[string][]func(*jsonschema.Schema)) func(*jsonschema.Schema) {
	return func(s *jsonschema.Schema) {
		for name, fs := range adj {
			p := s.Properties[name]
			if p == nil {
				continue
			}
			for _, f := range fs {
				f(p)
			}
		}
	}
}

// toolDefs returns the definitions of every tool, in ToolNames order.
func toolDefs() ([]toolDef, error) {
	idem := []func(*jsonschema.Schema){minLen(1), func(p *jsonschema.Schema) {
		p.MaxLength = new(int)
		*p.MaxLength = 255
		p.Pattern = `^[!-~]+$`
	}}
	var defs []toolDef
	add := func(d toolDef, err error) error {
		if err != nil {
			return err
		}
		defs = append(defs, d)
		return nil
	}
	for _, f := range []func() error{
		func() error {
			return add(def(ToolSearchTickets, "Search tickets",
				"Full-text search over tickets: subjects, every comment (public replies and internal notes), requester names, emails and identities, and tags. "+
					"Use it to find the tickets a request is about, or earlier tickets of the same customer or problem. "+
					"Each result shows where it matched (match.snippet). Changes nothing.",
				true, true, props(map[string][]func(*jsonschema.Schema){
					"query": {minLen(1)}, "status": {enum(statuses...)}, "limit": {bounds(1, 50)},
				}), func(s *session) handlerFor[searchIn, ticketsOut] { return s.searchTickets }))
		},
		func() error {
			return add(def(ToolGetTicket, "Read a ticket",
				"Reads one ticket with its requester (and the requester's identities on every channel) and its conversation, oldest comment first and newest last: "+
					"who wrote each comment, whether it is public or an internal note, its attachments' names and, for replies, their delivery status. "+
					"Long conversations come in pages (comments_next_cursor). Read a ticket before replying to it or changing it; its version is what if_match expects. Changes nothing.",
				true, true, props(map[string][]func(*jsonschema.Schema){
					"id": {bounds(1, 1<<53)}, "comments_limit": {bounds(1, 100)},
				}), func(s *session) handlerFor[getTicketIn, getTicketOut] { return s.getTicket }))
		},
		func() error {
			return add(def(ToolReplyToTicket, "Reply to the customer",
				"Sends a PUBLIC reply to the ticket's customer on the channel they wrote on (email, Slack, WhatsApp, LINE…): the customer will read it. "+
					"For something only agents should see, use add_internal_note instead. The reply is stored at once and sent by the outbox; "+
					"its delivery.status starts as pending (then sent, delivered, read, or failed, e.g. window_closed when WhatsApp's 24-hour window is over). "+
					"Optionally sets the ticket's status in the same change. Pass idempotency_key so that a retry never sends the reply twice, "+
					"and if_match (the version you read) so that you do not answer a ticket that changed meanwhile. Fails with ticket_closed on a closed ticket.",
				false, false, props(map[string][]func(*jsonschema.Schema){
					"id": {bounds(1, 1<<53)}, "body": {minLen(1)}, "status": {enum("open", "pending", "hold", "solved")}, "idempotency_key": idem,
				}), func(s *session) handlerFor[replyIn, commentOut] { return s.reply }))
		},
		func() error {
			return add(def(ToolAddInternalNote, "Add an internal note",
				"Adds an internal note to a ticket: visible to agents only, never sent to the customer. Use it to record findings, hand-over context or why you changed something. "+
					"Pass idempotency_key so that a retry never adds the note twice.",
				false, false, props(map[string][]func(*jsonschema.Schema){
					"id": {bounds(1, 1<<53)}, "body": {minLen(1)}, "idempotency_key": idem,
				}), func(s *session) handlerFor[noteIn, commentOut] { return s.note }))
		},
		func() error {
			return add(def(ToolUpdateTicket, "Update a ticket",
				"Changes a ticket's status, priority, assignee, group or tags (only the fields you give change; add_tags and remove_tags keep the other tags). "+
					"Lifecycle rules apply: a ticket never returns to new, closed only follows solved, a closed ticket cannot change (ticket_closed), "+
					"solving an unassigned ticket assigns it to you. Pass if_match (the version you read) to change it only if nobody changed it since; "+
					"a stale version fails with precondition_failed and changes nothing. Sends nothing to the customer. "+
					"Pass idempotency_key too: a retry after a lost answer then gets the first answer instead of failing on the version your own update moved on.",
				false, true, props(map[string][]func(*jsonschema.Schema){
					"id": {bounds(1, 1<<53)}, "status": {enum(statuses[1:]...)}, "priority": {enum("low", "normal", "high", "urgent", "none")}, "idempotency_key": idem,
				}), func(s *session) handlerFor[updateIn, ticketOut] { return s.update }))
		},
		func() error {
			return add(def(ToolListViews, "List views",
				"Lists the shared views: saved ticket lists such as \"Unassigned open tickets\" or \"Urgent\". Use list_view_tickets to read one. Changes nothing.",
				true, true, nil, func(s *session) handlerFor[listViewsIn, viewsOut] { return s.listViews }))
		},
		func() error {
			return add(def(ToolListViewTickets, "List a view's tickets",
				"Lists the tickets of a view (from list_views), in the view's order, a page at a time. A good start for a triage round. Changes nothing.",
				true, true, props(map[string][]func(*jsonschema.Schema){
					"view_id": {bounds(1, 1<<53)}, "limit": {bounds(1, 100)},
				}), func(s *session) handlerFor[viewTicketsIn, ticketsOut] { return s.viewTickets }))
		},
		func() error {
			return add(def(ToolApplyMacro, "Apply a macro",
				"Applies a macro (a saved set of changes, replies and notes that agents use for common answers) to a ticket as you. "+
					"A macro may send a PUBLIC reply to the customer: call it with preview true first to see exactly what it would change and write, without changing anything. "+
					"Pass idempotency_key so that a retry never applies it twice.",
				false, false, props(map[string][]func(*jsonschema.Schema){
					"ticket_id": {bounds(1, 1<<53)}, "macro_id": {bounds(1, 1<<53)}, "idempotency_key": idem,
				}), func(s *session) handlerFor[macroIn, macroOut] { return s.applyMacro }))
		},
		func() error {
			return add(def(ToolLookupUser, "Look up a user",
				"Finds a user (customer or agent) by email address or by a channel identity (type:value, e.g. whatsapp:4915112345678), "+
					"with their identities on every channel and their most recent tickets. Use it to see a customer's history before answering. Changes nothing.",
				true, true, props(map[string][]func(*jsonschema.Schema){
					"tickets_limit": {bounds(0, 50)},
				}), func(s *session) handlerFor[lookupIn, lookupOut] { return s.lookupUser }))
		},
		func() error {
			return add(def(ToolListChannels, "List channels",
				"Lists the channels customers write on, with the state of each and what it can do: whether it can send attachments or HTML, "+
					"and reply_window_seconds, the time after the customer's last message within which a free-form reply can still be sent "+
					"(WhatsApp: 24 hours; later replies fail with window_closed). Check it before replying on a channel that is not running. Changes nothing.",
				true, true, nil, func(s *session) handlerFor[listChannelsIn, channelsOut] { return s.listChannels }))
		},
	} {
		if err := f(); err != nil {
			return nil, err
		}
	}
	return defs, nil
}

// ---- helpers

func ticketPath(id uint64) string { return fmt.Sprintf("/api/v1/tickets/%d", id) }

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// idOf reads an id member of a decoded API object (JSON numbers decode as
// float64; ids are below 2^53).
func idOf(v any) uint64 {
	switch n := v.(type) {
	case float64:
		if n > 0 {
			return uint64(n)
		}
	case string:
		u, _ := strconv.ParseUint(n, 10, 64)
		return u
	}
	return 0
}
