package inbound

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/sdk"
)

// mailFrom is an email message threaded by headers, as the email channel
// sends it.
func mailFrom(id, conv, from string, replyTo ...string) *sdk.InboundMessage {
	m := msg(id, conv, from, "text of "+id)
	m.Author.IdentityType = "email"
	m.Author.Email = from
	m.ReplyTo = replyTo
	m.HeaderThreading = true
	return m
}

// createAgent stores an agent (or admin) owning an email identity.
func (e *env) createAgent(email string, role ticket.Role) uint64 {
	e.t.Helper()
	var id uint64
	e.update(func(tx *store.Tx) error {
		u := &ticket.User{Name: "Agent " + email, Email: email, Role: role, Identities: []ticket.Identity{{Type: "email", Value: email}}}
		if err := tx.CreateUser(u); err != nil {
			return err
		}
		id = u.ID
		return nil
	})
	return id
}

// TestThreadingRefusesForgedReferences closes the class "a stranger lands a
// public comment in another customer's ticket by naming its message ids":
// a message threaded by sender-written headers (In-Reply-To, References,
// the thread root) is public on an existing ticket only for its requester,
// a participant, or with a signed hint for that ticket; anyone else's is an
// internal note from an unverified sender, with no author and no change to
// the ticket's state.
func TestThreadingRefusesForgedReferences(t *testing.T) {
	e := newEnv(t)
	a := e.deliver("support", mailFrom("<1@cust>", "<1@cust>", "ann@cust.test"))
	ann := e.ticket(a.TicketID).RequesterID
	// Our reply on Ann's ticket, recorded like the outbox does.
	e.update(func(tx *store.Tx) error {
		c := &ticket.Comment{TicketID: a.TicketID, Public: true, Body: "answer", Delivery: &ticket.Delivery{Status: ticket.DeliverySent}}
		if err := tx.CreateComment(c, store.CommentOptions{}); err != nil {
			return err
		}
		return tx.IndexOutboundID("support", "out-1@acme.test", c.ID)
	})
	// Carol wrote publicly on Ann's ticket before (a verified hint): she
	// is a participant.
	carolMsg := mailFrom("<c1@cust>", "<c1@cust>", "carol@cust.test")
	carolMsg.TicketHint, carolMsg.TicketHintVerified = a.TicketID, true
	if r := e.deliver("support", carolMsg); r.TicketID != a.TicketID {
		t.Fatalf("carol's verified reply went to %d", r.TicketID)
	}
	e.setStatus(a.TicketID, ticket.StatusPending)

	cases := []struct {
		name   string
		m      *sdk.InboundMessage
		public bool
	}{
		{"stranger names our reply's id", mailFrom("<m1@evil>", "<m1@evil>", "mallory@evil.test", "guess-1@acme.test", "out-1@acme.test"), false},
		{"stranger names the customer's message id", mailFrom("<m2@evil>", "<1@cust>", "mallory@evil.test", "<1@cust>"), false},
		{"stranger uses the thread root only", mailFrom("<m3@evil>", "<1@cust>", "mallory@evil.test"), false},
		{"stranger forging another known user", mailFrom("<m4@evil>", "<m4@evil>", "zed@cust.test", "out-1@acme.test"), false},
		{"stranger with an unsigned hint too", func() *sdk.InboundMessage {
			m := mailFrom("<m5@evil>", "<m5@evil>", "mallory@evil.test", "out-1@acme.test")
			m.TicketHint = a.TicketID
			return m
		}(), false},
		{"stranger with a signed hint for that ticket", func() *sdk.InboundMessage {
			m := mailFrom("<m6@fwd>", "<m6@fwd>", "dan@cust.test", "out-1@acme.test")
			m.TicketHint, m.TicketHintVerified = a.TicketID, true
			return m
		}(), true},
		{"participant", mailFrom("<c2@cust>", "<c2@cust>", "carol@cust.test", "out-1@acme.test"), true},
		{"requester", mailFrom("<2@cust>", "<1@cust>", "ann@cust.test", "out-1@acme.test"), true},
	}
	// zed is a known end user elsewhere.
	e.deliver("support", mailFrom("<z@cust>", "<z@cust>", "zed@cust.test"))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.ticket(a.TicketID)
			r := e.deliver("support", tc.m)
			if r.TicketID != a.TicketID {
				t.Fatalf("routed to ticket %d, want the threaded ticket %d (as a note or a comment)", r.TicketID, a.TicketID)
			}
			cs := e.comments(a.TicketID)
			c := cs[len(cs)-1]
			if c.ID != r.CommentID {
				t.Fatalf("last comment %d, receipt %d", c.ID, r.CommentID)
			}
			if c.Public != tc.public {
				t.Fatalf("public = %v, want %v (comment %+v)", c.Public, tc.public, c)
			}
			after := e.ticket(a.TicketID)
			if tc.public {
				if c.AuthorID == 0 || c.Metadata["reason"] == reasonUnverifiedSender {
					t.Fatalf("trusted comment %+v", c)
				}
				return
			}
			if c.AuthorID != 0 || c.Metadata["reason"] != reasonUnverifiedSender || c.Metadata["sender"] != tc.m.Author.Email || c.Metadata["sender_user_id"] == "" {
				t.Fatalf("unverified note %+v", c)
			}
			if after.Status != before.Status || after.RequesterID != ann || !after.LastInboundAt.Equal(before.LastInboundAt) {
				t.Fatalf("an unverified note changed the ticket: %+v -> %+v", before, after)
			}
			// Redelivery is a duplicate of the note.
			if r2 := e.deliver("support", tc.m); !r2.Duplicate || r2.CommentID != r.CommentID {
				t.Fatalf("redelivery %+v", r2)
			}
		})
	}
	// Without HeaderThreading (a provider's own conversation, e.g. a Slack
	// channel), the conversation is the provider's word: a second member
	// writes publicly.
	s1 := e.deliver("it-help", msg("s1", "C-shared", "T1:U1", "one"))
	s2 := e.deliver("it-help", msg("s2", "C-shared", "T1:U2", "two"))
	if s2.TicketID != s1.TicketID || !e.comments(s1.TicketID)[1].Public {
		t.Fatal("a provider conversation's second member was not threaded publicly")
	}
	e.check()
}

// TestUnverifiedSenderNeverAuthorsAsAgent closes the class "From: is taken
// as authentication": a message whose author resolves to an agent or
// administrator writes as them only when the channel verified the author.
func TestUnverifiedSenderNeverAuthorsAsAgent(t *testing.T) {
	e := newEnv(t)
	grace := e.createAgent("grace@acme.test", ticket.RoleAgent)
	root := e.createAgent("root@acme.test", ticket.RoleAdmin)
	a := e.deliver("support", mailFrom("<1@cust>", "<1@cust>", "ann@cust.test"))

	for _, tc := range []struct {
		name     string
		from     string
		agent    uint64
		threaded bool
		verified bool
	}{
		{"forged agent in a thread", "grace@acme.test", grace, true, false},
		{"forged admin in a thread", "Root@ACME.test", root, true, false},
		{"forged agent, new mail", "grace@acme.test", grace, false, false},
		{"verified agent in a thread", "grace@acme.test", grace, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "<" + tc.name + "@x>"
			m := mailFrom(id, id, tc.from)
			if tc.threaded {
				m.ReplyTo = []string{"<1@cust>"}
			}
			m.AuthorVerified = tc.verified
			before := e.countTickets()
			r := e.deliver("support", m)
			var c *ticket.Comment
			for _, x := range e.comments(r.TicketID) {
				if x.ID == r.CommentID {
					c = x
				}
			}
			if tc.verified {
				if !c.Public || c.AuthorID != tc.agent || r.TicketID != a.TicketID {
					t.Fatalf("verified agent's reply %+v on ticket %d", c, r.TicketID)
				}
				return
			}
			if c.Public || c.AuthorID == tc.agent || c.AuthorID != 0 || c.Metadata["reason"] != reasonUnverifiedSender {
				t.Fatalf("forged agent mail stored as %+v", c)
			}
			if tc.threaded && r.TicketID != a.TicketID {
				t.Fatalf("threaded forged mail went to %d", r.TicketID)
			}
			if !tc.threaded && r.TicketID != uint64(before+1) {
				t.Fatalf("new forged mail went to %d, want a new ticket", r.TicketID)
			}
		})
	}
	e.check()
}

// TestUnverifiedSenderOnClosedTicketOpensOwnTicket: a stranger threading
// onto a closed ticket gets a ticket of their own (no follow-up inheriting
// the other customer's ticket), and does not take over its conversation.
func TestUnverifiedSenderOnClosedTicketOpensOwnTicket(t *testing.T) {
	e := newEnv(t)
	a := e.deliver("support", mailFrom("<1@cust>", "<1@cust>", "ann@cust.test"))
	e.setStatus(a.TicketID, ticket.StatusClosed)
	r := e.deliver("support", mailFrom("<m1@evil>", "<1@cust>", "mallory@evil.test", "<1@cust>"))
	tk := e.ticket(r.TicketID)
	if r.TicketID == a.TicketID || tk.FollowUpOf != 0 || tk.ConversationKey != "" || tk.RequesterID == e.ticket(a.TicketID).RequesterID {
		t.Fatalf("stranger's mail on a closed ticket made %+v", tk)
	}
	if c := e.comments(r.TicketID); len(c) != 1 || !c[0].Public || c[0].AuthorID != tk.RequesterID {
		t.Fatalf("stranger's own ticket comments %+v", c)
	}
	if err := e.st.View(func(rt *store.ReadTx) error {
		got, err := rt.TicketByConversation("support", "<1@cust>")
		if err == nil && got.ID != a.TicketID {
			t.Errorf("conversation now points at %d", got.ID)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// Ann's own reply still makes her follow-up.
	f := e.deliver("support", mailFrom("<2@cust>", "<1@cust>", "ann@cust.test", "<1@cust>"))
	if ft := e.ticket(f.TicketID); ft.FollowUpOf != a.TicketID {
		t.Fatalf("requester's reply made %+v", ft)
	}
	e.check()
}

// TestIdentityAutoLinkNeverReachesAgents closes the class "a provider
// profile email reaches a privileged account": a Slack user whose profile
// email is an agent's (or admin's) becomes a new end user; the agent's
// identities do not change.
func TestIdentityAutoLinkNeverReachesAgents(t *testing.T) {
	e := newEnv(t)
	for _, role := range []ticket.Role{ticket.RoleAgent, ticket.RoleAdmin} {
		t.Run(string(role), func(t *testing.T) {
			addr := string(role) + "@acme.test"
			agent := e.createAgent(addr, role)
			s := msg("s-"+addr, "D-"+addr, "T1:U-"+addr, "hello")
			s.Author.Email = addr
			s.AuthorVerified = true
			r := e.deliver("it-help", s)
			req := e.user(e.ticket(r.TicketID).RequesterID)
			if req.ID == agent || req.Role != ticket.RoleEndUser || req.Email != "" {
				t.Fatalf("slack user linked as %+v", req)
			}
			if u := e.user(agent); len(u.Identities) != 1 {
				t.Fatalf("agent's identities changed: %+v", u.Identities)
			}
			if c := e.comments(r.TicketID); c[0].AuthorID == agent {
				t.Fatal("comment authored by the agent")
			}
		})
	}
	e.check()
}

// TestLargeRawPayloadIsKeptInChunks closes the class "the core refuses
// forever a message its channel accepts because of its raw payload": a raw
// payload of any size up to MaxRawBytes is stored (in ChunkSize chunks, never
// one large value), read back byte-exact, whether the plugin streamed it
// (StagedHeader.Raw) or sent it inline.
func TestLargeRawPayloadIsKeptInChunks(t *testing.T) {
	e := newEnv(t)
	big := make([]byte, 5<<20+123)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	small := []byte(`{"event":"small"}`)

	staged, err := e.svc.StageAttachment(context.Background(), "support", StagedHeader{ContentType: "message/rfc822", Size: int64(len(big)), Raw: true}, bytes.NewReader(big))
	if err != nil || staged.Rejected {
		t.Fatalf("stage raw: %+v %v", staged, err)
	}
	pdf, err := e.svc.StageAttachment(context.Background(), "support", StagedHeader{Filename: "a.pdf", ContentType: "application/pdf", Size: 4}, bytes.NewReader([]byte("%PDF")))
	if err != nil || pdf.Rejected {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		raw   []byte // inline
		ids   []string
		want  []byte
		ctype string
	}{
		{"streamed", nil, []string{pdf.ID, staged.ID}, big, "message/rfc822"},
		{"inline large", big, nil, big, "message/rfc822"},
		{"inline small", small, nil, small, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mailFrom("<"+tc.name+"@x>", "<"+tc.name+"@x>", "ann@cust.test")
			m.Raw, m.RawContentType = tc.raw, tc.ctype
			r, err := e.svc.Deliver(context.Background(), "support", m, tc.ids)
			if err != nil {
				t.Fatalf("deliver: %v", err)
			}
			info, rc, err := e.st.OpenRaw(r.CommentID)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, tc.want) || info.Size != int64(len(tc.want)) || info.ContentType != tc.ctype {
				t.Fatalf("raw read back: %d bytes (want %d), info %+v, err %v", len(got), len(tc.want), info, err)
			}
			if len(tc.want) > store.MaxInlineRaw && info.AttachmentID == "" {
				t.Fatal("a large raw payload was stored inline")
			}
			// The raw payload is not one of the comment's attachments.
			cs := e.comments(r.TicketID)
			for _, a := range cs[len(cs)-1].Attachments {
				if a.ID == info.AttachmentID {
					t.Fatal("raw payload listed as an attachment")
				}
			}
		})
	}
	// A raw payload cannot be claimed as a file, nor twice.
	again, err := e.svc.StageAttachment(context.Background(), "support", StagedHeader{Raw: true, Size: -1}, bytes.NewReader(small))
	if err != nil {
		t.Fatal(err)
	}
	m := mailFrom("<two-raws@x>", "<two-raws@x>", "ann@cust.test")
	m.Raw = small
	if _, err := e.svc.Deliver(context.Background(), "support", m, []string{again.ID}); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("two raw payloads: %v", err)
	}
	e.check()
}

// TestRawOverLimitStoresMessageWithoutRaw: a raw payload over the core's
// limit never makes the core refuse the message: it is stored, with its
// attachments, and the comment's metadata says why the raw payload was not
// kept.
func TestRawOverLimitStoresMessageWithoutRaw(t *testing.T) {
	e := newEnv(t)
	e.svc = New(e.st, testInstances, Options{Clock: e.clock.Now, MaxRawBytes: 1 << 20})
	pdf, err := e.svc.StageAttachment(context.Background(), "support", StagedHeader{Filename: "a.pdf", Size: 4}, bytes.NewReader([]byte("%PDF")))
	if err != nil {
		t.Fatal(err)
	}
	huge := bytes.Repeat([]byte("x"), 2<<20)
	for _, tc := range []struct {
		name string
		raw  []byte
		ids  func() []string
	}{
		{"streamed", nil, func() []string {
			st, err := e.svc.StageAttachment(context.Background(), "support", StagedHeader{Raw: true, Size: -1}, bytes.NewReader(huge))
			if err != nil || !st.Rejected {
				t.Fatalf("staging an oversized raw payload: %+v %v", st, err)
			}
			return []string{pdf.ID, st.ID}
		}},
		{"inline", huge, func() []string { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mailFrom("<"+tc.name+"@x>", "<"+tc.name+"@x>", "ann@cust.test")
			m.Raw = tc.raw
			r, err := e.svc.Deliver(context.Background(), "support", m, tc.ids())
			if err != nil {
				t.Fatalf("an oversized raw payload refused the message: %v", err)
			}
			cs := e.comments(r.TicketID)
			c := cs[len(cs)-1]
			if c.Metadata[reasonRawNotKept] == "" || !c.Public || tc.raw == nil && len(c.Attachments) != 1 {
				t.Fatalf("comment %+v", c)
			}
			if _, _, err := e.st.OpenRaw(r.CommentID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("OpenRaw: %v", err)
			}
		})
	}
	e.check()
}

// TestThreadingHonoursRecordedCC: the people a customer copies become the
// ticket's participants (end users only), so their replies in the thread
// are public comments; a stranger's copies are never recorded.
func TestThreadingHonoursRecordedCC(t *testing.T) {
	e := newEnv(t)
	e.createAgent("grace@acme.test", ticket.RoleAgent)
	first := mailFrom("<1@cust>", "<1@cust>", "ann@cust.test")
	first.CC = []sdk.Party{{ExternalID: "bob@cust.test", IdentityType: "email", Email: "bob@cust.test", Name: "Bob"},
		{ExternalID: "grace@acme.test", IdentityType: "email", Email: "grace@acme.test"},
		{ExternalID: "ann@cust.test", IdentityType: "email", Email: "ann@cust.test"}}
	a := e.deliver("support", first)
	tk := e.ticket(a.TicketID)
	if len(tk.CCIDs) != 1 || e.user(tk.CCIDs[0]).Email != "bob@cust.test" {
		t.Fatalf("cc_ids %v", tk.CCIDs)
	}
	// A stranger copying mallory2 onto the thread records nobody.
	m := mailFrom("<m1@evil>", "<1@cust>", "mallory@evil.test", "<1@cust>")
	m.CC = []sdk.Party{{ExternalID: "mallory2@evil.test", IdentityType: "email", Email: "mallory2@evil.test"}}
	e.deliver("support", m)
	if got := e.ticket(a.TicketID).CCIDs; len(got) != 1 {
		t.Fatalf("a stranger's copy was recorded: %v", got)
	}
	// Bob (copied) and Cy (copied by Bob, a participant) write publicly.
	b := mailFrom("<b1@cust>", "<1@cust>", "bob@cust.test", "<1@cust>")
	b.CC = []sdk.Party{{ExternalID: "cy@cust.test", IdentityType: "email", Email: "cy@cust.test"}}
	for _, m := range []*sdk.InboundMessage{b, mailFrom("<c1@cust>", "<1@cust>", "cy@cust.test", "<b1@cust>")} {
		r := e.deliver("support", m)
		cs := e.comments(r.TicketID)
		if c := cs[len(cs)-1]; r.TicketID != a.TicketID || !c.Public || c.AuthorID == 0 {
			t.Fatalf("%s: comment %+v on %d", m.ExternalID, c, r.TicketID)
		}
	}
	if got := e.ticket(a.TicketID).CCIDs; len(got) != 2 {
		t.Fatalf("cc_ids after bob copied cy: %v", got)
	}
	e.check()
}
