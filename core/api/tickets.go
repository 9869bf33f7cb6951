package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// ticketList is the answer of GET /api/v1/tickets.
type ticketList struct {
	Tickets    []*ticket.Ticket `json:"tickets"`
	NextCursor *string          `json:"next_cursor"`
}

// ticketFilterParams returns the query parameters of the ticket list and
// count routes.
func ticketFilterParams() []string {
	return []string{"status", "channel", "requester_id", "assignee_id", "tag", "priority", "group", "via", "updated_since"}
}

// Ticket list orders (the sort query parameter).
const (
	sortID      = "id"         // newest ticket first (default)
	sortUpdated = "updated_at" // oldest change first, for sync clients
)

// parseTicketFilter reads the filters shared by GET /api/v1/tickets and
// GET /api/v1/tickets/count, and returns them with a string naming them
// (the scope a cursor is bound to).
func parseTicketFilter(q url.Values) (store.TicketFilter, string, error) {
	f := store.TicketFilter{Status: ticket.Status(q.Get("status")), Channel: q.Get("channel"),
		Priority: ticket.Priority(q.Get("priority")), Via: q.Get("via")}
	if f.Status != "" && !ticket.ValidStatus(f.Status) {
		return f, "", invalidField("status", "must be one of new, open, pending, hold, solved, closed")
	}
	if f.Priority != "" && !ticket.ValidPriority(f.Priority) {
		return f, "", invalidField("priority", "must be one of low, normal, high, urgent")
	}
	for _, p := range []struct{ field, v string }{{"channel", f.Channel}, {"via", f.Via}} {
		if err := checkText(p.field, p.v, maxGroupLength); err != nil {
			return f, "", err
		}
	}
	if v, ok := q["group"]; ok {
		f.Group = strings.TrimSpace(v[0])
		if f.Group == "" {
			return f, "", invalidField("group", "must not be empty")
		}
		if err := checkText("group", f.Group, maxGroupLength); err != nil {
			return f, "", err
		}
	}
	if v, ok := q["tag"]; ok {
		tags, err := ticket.NormalizeTags(strings.Split(v[0], ","))
		if err != nil {
			return f, "", invalidField("tag", "%s (several tags: tag=a,b lists tickets carrying all of them)", err.Error())
		}
		f.Tags = tags
	}
	if v := q.Get("updated_since"); v != "" {
		at, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return f, "", invalidField("updated_since", "must be an RFC 3339 time such as 2026-12-01T09:30:00Z")
		}
		f.UpdatedSince = at
	}
	var err error
	if f.RequesterID, err = parseQueryID(q, "requester_id"); err != nil {
		return f, "", err
	}
	if f.AssigneeID, err = parseQueryID(q, "assignee_id"); err != nil {
		return f, "", err
	}
	scope := fmt.Sprintf("tickets\x00%s\x00%s\x00%d\x00%d", f.Status, f.Channel, f.RequesterID, f.AssigneeID)
	if len(f.Tags) > 0 || f.Priority != "" || f.Group != "" || f.Via != "" || !f.UpdatedSince.IsZero() {
		// Cursors of the four original filters stay valid across versions.
		scope += fmt.Sprintf("\x00%s\x00%s\x00%s\x00%s\x00%d", strings.Join(f.Tags, ","), f.Priority, f.Group, f.Via, f.UpdatedSince.UnixNano())
	}
	return f, scope, nil
}

func (s *Server) listTickets(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, append(ticketFilterParams(), "sort", "limit", "cursor")...)
	if err != nil {
		return err
	}
	f, scope, err := parseTicketFilter(q)
	if err != nil {
		return err
	}
	switch q.Get("sort") {
	case "", sortID:
	case sortUpdated:
		f.ByUpdated = true
		scope += "\x00sort=updated_at"
	default:
		return invalidField("sort", "must be id (newest ticket first, the default) or updated_at (oldest change first)")
	}
	if f.Limit, err = parseLimit(q, DefaultLimit); err != nil {
		return err
	}
	if f.ByUpdated {
		c, ok, err := decodeCursor2(scope, q.Get("cursor"))
		if err != nil {
			return err
		}
		if ok {
			f.Cursor = store.EncodeUpdatedCursor(time.Unix(0, int64(c.A)), c.B)
		}
	} else {
		c, ok, err := decodeCursor(scope, q.Get("cursor"))
		if err != nil {
			return err
		}
		if ok {
			f.Cursor = store.EncodeCursor(c.After)
		}
	}
	var (
		list []*ticket.Ticket
		more string
	)
	err = s.store.View(func(tx *store.ReadTx) error {
		var err error
		list, more, err = tx.ListTickets(f)
		return err
	})
	if errors.Is(err, store.ErrBadCursor) {
		return invalidField("cursor", "is not a valid cursor; pass the next_cursor of a previous page unchanged")
	}
	if err != nil {
		return storeError(err)
	}
	out := ticketList{Tickets: list}
	if out.Tickets == nil {
		out.Tickets = []*ticket.Ticket{}
	}
	if more != "" && len(list) > 0 {
		last := list[len(list)-1]
		var next string
		if f.ByUpdated {
			next = encodeCursor2(scope, uint64(last.UpdatedAt.UnixNano()), last.ID)
		} else {
			next = encodeCursor(scope, last.ID)
		}
		out.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ticketCount is the answer of GET /api/v1/tickets/count.
type ticketCount struct {
	Count int `json:"count"`
}

func (s *Server) countTickets(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, ticketFilterParams()...)
	if err != nil {
		return err
	}
	f, _, err := parseTicketFilter(q)
	if err != nil {
		return err
	}
	var n int
	if err := s.view(func(tx *store.ReadTx) error {
		var err error
		n, err = tx.CountTickets(f)
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ticketCount{Count: n})
	return nil
}

func (s *Server) getTicket(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", "ticket")
	if err != nil {
		return err
	}
	var t *ticket.Ticket
	err = s.view(func(tx *store.ReadTx) error {
		var err error
		t, err = tx.Ticket(id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("ticket %d not found", id)
		}
		return err
	})
	if err != nil {
		return err
	}
	etag := ticketETag(t)
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "private, no-cache")
	if noneMatch(r, etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// ticketCreate is the body of POST /api/v1/tickets.
type ticketCreate struct {
	Subject   string          `json:"subject"`
	Comment   *commentInput   `json:"comment"`
	Requester *requesterInput `json:"requester"`
	Priority  ticket.Priority `json:"priority"`
	Group     string          `json:"group"`
	// AssigneeID assigns the new ticket to an agent (it then starts open).
	AssigneeID uint64   `json:"assignee_id"`
	Tags       []string `json:"tags"`
}

type commentInput struct {
	Body string `json:"body"`
}

type requesterInput struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Field limits of request bodies.
const (
	maxNameLength  = 255
	maxEmailLength = 254
	maxGroupLength = 255
)

// normalizeEmail checks a bare email address and returns it lower-cased.
func normalizeEmail(field, raw string) (string, error) {
	v := strings.TrimSpace(raw)
	if v == "" {
		return "", invalidField(field, "is required")
	}
	if len(v) > maxEmailLength {
		return "", invalidField(field, "must be at most %d characters", maxEmailLength)
	}
	addr, err := mail.ParseAddress(v)
	if err != nil || addr.Address != v || addr.Name != "" || !strings.Contains(addr.Address, "@") {
		return "", invalidField(field, "must be a plain email address such as ada@example.test")
	}
	return strings.ToLower(v), nil
}

func checkText(field, v string, max int) error {
	if !utf8.ValidString(v) {
		return invalidField(field, "must be valid UTF-8")
	}
	if strings.IndexByte(v, 0) >= 0 {
		return invalidField(field, "must not contain NUL bytes")
	}
	if len(v) > max {
		return invalidField(field, "must be at most %d bytes", max)
	}
	return nil
}

// validate checks the request and normalises it; it reads nothing.
func (in *ticketCreate) validate() error {
	if in.Comment == nil {
		return invalidField("comment", "is required: {\"body\": \"…\"}")
	}
	if strings.TrimSpace(in.Comment.Body) == "" {
		return invalidField("comment.body", "must not be empty")
	}
	if err := checkText("comment.body", in.Comment.Body, 1<<30); err != nil {
		return err
	}
	if in.Requester == nil {
		return invalidField("requester", "is required: {\"name\": \"…\", \"email\": \"…\"}")
	}
	email, err := normalizeEmail("requester.email", in.Requester.Email)
	if err != nil {
		return err
	}
	in.Requester.Email = email
	in.Requester.Name = strings.TrimSpace(in.Requester.Name)
	if err := checkText("requester.name", in.Requester.Name, maxNameLength); err != nil {
		return err
	}
	if err := checkText("subject", in.Subject, ticket.MaxSubjectLength); err != nil {
		return err
	}
	if !ticket.ValidPriority(in.Priority) {
		return invalidField("priority", "must be one of low, normal, high, urgent")
	}
	in.Group = strings.TrimSpace(in.Group)
	if err := checkText("group", in.Group, maxGroupLength); err != nil {
		return err
	}
	tags, err := ticket.NormalizeTags(in.Tags)
	if err != nil {
		return invalidField("tags", "%s", err.Error())
	}
	in.Tags = tags
	return nil
}

// findOrCreateRequester returns the user owning the email identity (a
// merged user leads to the user it was merged into), or a new end user.
func findOrCreateRequester(tx *store.Tx, name, email string) (*ticket.User, error) {
	u, err := tx.UserByIdentity("email", email)
	if err == nil {
		for hops := 0; u.MergedInto != 0 && hops < 16; hops++ {
			if u, err = tx.User(u.MergedInto); err != nil {
				return nil, err
			}
		}
		return u, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if name == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	u = &ticket.User{
		Name:       name,
		Email:      email,
		Role:       ticket.RoleEndUser,
		Identities: []ticket.Identity{{Type: "email", Value: email}},
	}
	if err := tx.CreateUser(u); err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Server) createTicket(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var in ticketCreate
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if err := in.validate(); err != nil {
		return err
	}
	principal := principalFrom(r.Context())
	return s.commit(w, r, body, func(tx *store.Tx) (*result, error) {
		actor, err := s.actorID(tx, principal)
		if err != nil {
			return nil, err
		}
		tx.SetActor(actor)
		if in.AssigneeID != 0 {
			if err := requireAgent(tx, in.AssigneeID, "assignee_id"); err != nil {
				return nil, err
			}
		}
		req, err := findOrCreateRequester(tx, in.Requester.Name, in.Requester.Email)
		if err != nil {
			return nil, err
		}
		t := &ticket.Ticket{
			Subject:     ticket.SubjectFrom(in.Subject, in.Comment.Body),
			Status:      ticket.StatusNew,
			Priority:    in.Priority,
			Via:         ticket.ViaAPI,
			RequesterID: req.ID,
			AssigneeID:  in.AssigneeID,
			Group:       in.Group,
			Tags:        in.Tags,
		}
		if t.AssigneeID != 0 {
			t.Status = ticket.StatusOpen
		}
		if err := tx.CreateTicket(t); err != nil {
			return nil, err
		}
		c := &ticket.Comment{
			TicketID: t.ID,
			AuthorID: req.ID,
			Body:     in.Comment.Body,
			Public:   true,
			Via:      ticket.ViaAPI,
		}
		if err := tx.CreateComment(c, store.CommentOptions{}); err != nil {
			return nil, err
		}
		return &result{
			status: http.StatusCreated,
			header: http.Header{"Location": {fmt.Sprintf("/api/v1/tickets/%d", t.ID)}},
			body:   t,
		}, nil
	})
}

// ticketPatchBody is the body of PATCH /api/v1/tickets/{id}: only the
// fields present change; null clears priority, group and assignee_id.
type ticketPatchBody struct {
	Subject    optional[string]          `json:"subject"`
	Status     optional[ticket.Status]   `json:"status"`
	Priority   optional[ticket.Priority] `json:"priority"`
	AssigneeID optional[uint64]          `json:"assignee_id"`
	Group      optional[string]          `json:"group"`
	Tags       optional[[]string]        `json:"tags"`
	// AddTags and RemoveTags change the ticket's tags relative to what
	// they are when the change is applied, so that two agents tagging at
	// once both keep their tags (tags replaces the whole list).
	AddTags    optional[[]string] `json:"add_tags"`
	RemoveTags optional[[]string] `json:"remove_tags"`
}

// tagDelta is the relative tag change of a PATCH.
type tagDelta struct{ add, remove []string }

// apply returns tags with d applied: removed tags dropped, added tags
// appended in order when missing.
func (d tagDelta) apply(tags []string) []string {
	out := make([]string, 0, len(tags)+len(d.add))
	for _, t := range tags {
		if !slices.Contains(d.remove, t) {
			out = append(out, t)
		}
	}
	for _, t := range d.add {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// delta validates add_tags and remove_tags.
func (b *ticketPatchBody) delta() (*tagDelta, error) {
	if !b.AddTags.Set && !b.RemoveTags.Set {
		return nil, nil
	}
	if b.Tags.Set {
		return nil, invalidField("tags", "cannot be combined with add_tags or remove_tags: send the whole list, or the changes")
	}
	var d tagDelta
	for _, f := range []struct {
		name string
		in   optional[[]string]
		dst  *[]string
	}{{"add_tags", b.AddTags, &d.add}, {"remove_tags", b.RemoveTags, &d.remove}} {
		if !f.in.Set {
			continue
		}
		if f.in.Null {
			return nil, invalidField(f.name, "cannot be null; omit it")
		}
		tags, err := ticket.NormalizeTags(f.in.Value)
		if err != nil {
			return nil, invalidField(f.name, "%s", err.Error())
		}
		*f.dst = tags
	}
	for _, t := range d.add {
		if slices.Contains(d.remove, t) {
			return nil, invalidField("remove_tags", "tag %q is also in add_tags", t)
		}
	}
	return &d, nil
}

// patch converts the body to the domain's patch, rejecting nulls where a
// field cannot be cleared.
func (b *ticketPatchBody) patch() (ticket.Patch, error) {
	var p ticket.Patch
	if b.Subject.Set {
		if b.Subject.Null {
			return p, invalidField("subject", "cannot be null")
		}
		if err := checkText("subject", b.Subject.Value, ticket.MaxSubjectLength); err != nil {
			return p, err
		}
		p.Subject = &b.Subject.Value
	}
	if b.Status.Set {
		if b.Status.Null {
			return p, invalidField("status", "cannot be null")
		}
		p.Status = &b.Status.Value
	}
	if b.Priority.Set {
		p.Priority = &b.Priority.Value // null: "" (none)
	}
	if b.AssigneeID.Set {
		p.AssigneeID = &b.AssigneeID.Value // null: 0 (unassigned)
	}
	if b.Group.Set {
		if err := checkText("group", b.Group.Value, maxGroupLength); err != nil {
			return p, err
		}
		p.Group = &b.Group.Value
	}
	if b.Tags.Set {
		tags := b.Tags.Value
		if tags == nil {
			tags = []string{}
		}
		p.Tags = &tags
	}
	return p, nil
}

func (s *Server) patchTicket(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", "ticket")
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var in ticketPatchBody
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	p, err := in.patch()
	if err != nil {
		return err
	}
	delta, err := in.delta()
	if err != nil {
		return err
	}
	pre, err := parseIfMatch(r)
	if err != nil {
		return err
	}
	principal := principalFrom(r.Context())
	var out *ticket.Ticket
	err = s.store.Update(r.Context(), func(tx *store.Tx) error {
		p := p // the tag delta applies to this attempt's read
		t, err := tx.Ticket(id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("ticket %d not found", id)
		}
		if err != nil {
			return err
		}
		// The precondition is checked on the writer, in the transaction
		// that writes: no other change can come between.
		if err := pre.check(t); err != nil {
			return err
		}
		if t.Status == ticket.StatusClosed {
			return ticketClosed(id)
		}
		if delta != nil {
			tags := delta.apply(t.Tags)
			p.Tags = &tags
		}
		if err := p.Validate(t); err != nil {
			return err
		}
		if p.AssigneeID != nil && *p.AssigneeID != 0 {
			if err := requireAgent(tx, *p.AssigneeID, "assignee_id"); err != nil {
				return err
			}
		}
		// Solving an unassigned ticket assigns it to the acting agent:
		// resolve who that is (for the admin token, its user is created on
		// first use).
		var actor uint64
		if p.Status != nil && *p.Status == ticket.StatusSolved {
			if actor, err = s.actorID(tx, principal); err != nil {
				return err
			}
		}
		changed, err := p.Apply(t, actor, tx.Now())
		if err != nil {
			return err
		}
		out = t
		if !changed {
			return nil
		}
		// The change is recorded with its author (for the admin token,
		// its user is created on first use).
		if actor == 0 {
			if actor, err = s.actorID(tx, principal); err != nil {
				return err
			}
		}
		tx.SetActor(actor)
		return tx.UpdateTicket(t)
	})
	if err != nil {
		return storeError(err)
	}
	w.Header().Set("ETag", ticketETag(out))
	writeJSON(w, http.StatusOK, out)
	return nil
}
