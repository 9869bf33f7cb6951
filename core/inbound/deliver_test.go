package inbound

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/sdk"
)

func TestDeliverCreatesTicket(t *testing.T) {
	e := newEnv(t)
	m := msg("m1", "U1", "t1:u1", "\n  VPN is down\nsince this morning")
	m.Raw = []byte(`{"event":"raw"}`)
	r := e.deliver("it-help", m)
	if r.Duplicate || r.TicketID != 1 || r.CommentID != 1 {
		t.Fatalf("receipt %+v", r)
	}
	tk := e.ticket(r.TicketID)
	want := ticket.Ticket{ID: 1, Subject: "VPN is down", Status: ticket.StatusNew, Channel: "it-help", Via: "slack", RequesterID: tk.RequesterID, ConversationKey: "U1"}
	if tk.Subject != want.Subject || tk.Status != want.Status || tk.Channel != want.Channel || tk.Via != want.Via || tk.ConversationKey != want.ConversationKey {
		t.Fatalf("ticket %+v", tk)
	}
	if !tk.LastInboundAt.Equal(m.SentAt) {
		t.Fatalf("last inbound %v, want %v", tk.LastInboundAt, m.SentAt)
	}
	cs := e.comments(1)
	if len(cs) != 1 || cs[0].ExternalID != "m1" || !cs[0].Public || !cs[0].CreatedAt.Equal(m.SentAt) || cs[0].Via != "slack" {
		t.Fatalf("comments %+v", cs)
	}
	b, _ := json.Marshal(cs[0])
	if bytes.Contains(b, []byte("raw")) {
		t.Fatalf("raw payload inline in comment JSON: %s", b)
	}
	e.st.View(func(rt *store.ReadTx) error {
		raw, ok, err := rt.RawPayload(cs[0].ID)
		if err != nil || !ok || string(raw) != `{"event":"raw"}` {
			t.Errorf("raw payload %q %v %v", raw, ok, err)
		}
		return nil
	})
	u := e.user(tk.RequesterID)
	if u.Role != ticket.RoleEndUser || len(u.Identities) != 1 || u.Identities[0] != (ticket.Identity{Type: "slack", Value: "t1:u1"}) {
		t.Fatalf("user %+v", u)
	}
	// Email instance: brand and subject from the message.
	m2 := msg("<a@x>", "<a@x>", "ann@example.test", "body")
	m2.Author.IdentityType = "email"
	m2.Subject = "Invoice question"
	r2 := e.deliver("support", m2)
	tk2 := e.ticket(r2.TicketID)
	if tk2.Brand != "acme" || tk2.Subject != "Invoice question" || tk2.Via != "email" {
		t.Fatalf("email ticket %+v", tk2)
	}
	e.check()
}

func TestDeliverRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name     string
		instance string
		msg      *sdk.InboundMessage
		want     error
	}{
		{"unknown instance", "nope", msg("a", "c", "u", "x"), ErrUnknownInstance},
		{"nil message", "it-help", nil, ErrInvalidMessage},
		{"no id", "it-help", msg(" ", "c", "u", "x"), ErrInvalidMessage},
		{"no author", "it-help", msg("a", "c", "", "x"), ErrInvalidMessage},
		{"nul in conversation", "it-help", msg("a", "c\x00d", "u", "x"), ErrInvalidMessage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.svc.Deliver(context.Background(), c.instance, c.msg, nil)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	if _, err := e.svc.Deliver(context.Background(), "it-help", msg("a", "c", "u", "x"), []string{"no-such-staged-id"}); !errors.Is(err, ErrUnknownAttachment) {
		t.Fatalf("unknown staged id: %v", err)
	}
	if n := e.countTickets(); n != 0 {
		t.Fatalf("%d tickets after bad input", n)
	}
}

func TestDedupeConcurrent(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	recs := make([]*sdk.Receipt, 5)
	for i := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.svc.Deliver(context.Background(), "it-help", msg("same", "U1", "t:u", "hello"), nil)
			if err != nil {
				t.Error(err)
				return
			}
			recs[i] = r
		}()
	}
	wg.Wait()
	dups := 0
	for _, r := range recs {
		if r.TicketID != 1 || r.CommentID != 1 {
			t.Fatalf("receipt %+v", r)
		}
		if r.Duplicate {
			dups++
		}
	}
	if dups != 4 {
		t.Fatalf("%d duplicates, want 4", dups)
	}
	if cs := e.comments(1); len(cs) != 1 {
		t.Fatalf("%d comments", len(cs))
	}
	// Later redelivery (WhatsApp retries for days) is still a duplicate.
	e.clock.Add(7 * 24 * time.Hour)
	e.reopen()
	if r := e.deliver("it-help", msg("same", "U1", "t:u", "hello")); !r.Duplicate {
		t.Fatal("redelivery after a week not deduplicated")
	}
	e.check()
}

func TestConcurrentConversationOneTicket(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.svc.Deliver(context.Background(), "wa", msg(fmt.Sprintf("wamid.%d", i), "15550001", "15550001", "hi"), nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := e.countTickets(); n != 1 {
		t.Fatalf("%d tickets, want 1", n)
	}
	if cs := e.comments(1); len(cs) != 50 {
		t.Fatalf("%d comments, want 50", len(cs))
	}
	e.check()
}

func TestRequesterMessageLifecycle(t *testing.T) {
	cases := []struct {
		from, want ticket.Status
	}{
		{ticket.StatusNew, ticket.StatusNew},
		{ticket.StatusOpen, ticket.StatusOpen},
		{ticket.StatusPending, ticket.StatusOpen},
		{ticket.StatusHold, ticket.StatusOpen},
		{ticket.StatusSolved, ticket.StatusOpen},
	}
	for _, c := range cases {
		t.Run(string(c.from), func(t *testing.T) {
			e := newEnv(t)
			r := e.deliver("it-help", msg("m1", "U1", "t:u", "first"))
			if c.from != ticket.StatusNew {
				e.setStatus(r.TicketID, c.from)
			}
			r2 := e.deliver("it-help", msg("m2", "U1", "t:u", "again"))
			if r2.TicketID != r.TicketID {
				t.Fatalf("appended to ticket %d, want %d", r2.TicketID, r.TicketID)
			}
			tk := e.ticket(r.TicketID)
			if tk.Status != c.want {
				t.Fatalf("status %s, want %s", tk.Status, c.want)
			}
			if tk.Status != ticket.StatusSolved && !tk.SolvedAt.IsZero() {
				t.Fatal("solved_at kept after reopening")
			}
			e.check()
		})
	}
}

func TestFollowUpForClosedTicket(t *testing.T) {
	e := newEnv(t)
	r := e.deliver("it-help", msg("m1", "U1", "t:u", "first"))
	e.update(func(tx *store.Tx) error {
		tk, _ := tx.Ticket(r.TicketID)
		tk.Tags = []string{"vpn", "vip"}
		tk.Group = "it"
		return tx.UpdateTicket(tk)
	})
	e.setStatus(r.TicketID, ticket.StatusClosed)
	before, _ := json.Marshal(e.ticket(r.TicketID))
	r2 := e.deliver("it-help", msg("m2", "U1", "t:u", "it broke again"))
	if r2.TicketID == r.TicketID {
		t.Fatal("message appended to a closed ticket")
	}
	f := e.ticket(r2.TicketID)
	if f.Via != ticket.ViaClosedTicket || f.FollowUpOf != r.TicketID || fmt.Sprint(f.Tags) != "[vpn vip]" || f.Status != ticket.StatusNew || f.Group != "it" || f.RequesterID != e.ticket(r.TicketID).RequesterID {
		t.Fatalf("follow-up %+v", f)
	}
	after, _ := json.Marshal(e.ticket(r.TicketID))
	if !bytes.Equal(before, after) {
		t.Fatalf("closed ticket changed:\n%s\n%s", before, after)
	}
	// The next message goes to the follow-up.
	if r3 := e.deliver("it-help", msg("m3", "U1", "t:u", "more")); r3.TicketID != f.ID {
		t.Fatalf("third message on ticket %d, want %d", r3.TicketID, f.ID)
	}
	// Changing the closed ticket through the store is refused.
	err := e.st.Update(context.Background(), func(tx *store.Tx) error {
		tk, _ := tx.Ticket(r.TicketID)
		tk.Subject = "x"
		return tx.UpdateTicket(tk)
	})
	if !errors.Is(err, ticket.ErrClosed) {
		t.Fatalf("update of closed ticket: %v", err)
	}
	e.check()
}

func TestRouting(t *testing.T) {
	e := newEnv(t)
	mail := func(id, conv, from string, replyTo ...string) *sdk.InboundMessage {
		m := msg(id, conv, from, "text")
		m.Author.IdentityType = "email"
		m.ReplyTo = replyTo
		return m
	}
	a := e.deliver("support", mail("<1@x>", "<1@x>", "ann@x.test"))
	b := e.deliver("support", mail("<2@x>", "<2@x>", "bob@x.test"))
	// A reply whose References name a known message joins its ticket,
	// whatever its conversation key.
	if r := e.deliver("support", mail("<3@x>", "<other@x>", "ann@x.test", "<unknown@x>", "<1@x>")); r.TicketID != a.TicketID {
		t.Fatalf("reply-to routed to %d, want %d", r.TicketID, a.TicketID)
	}
	// An outbound reply's provider id threads too.
	var replyID uint64
	e.update(func(tx *store.Tx) error {
		c := &ticket.Comment{TicketID: b.TicketID, Public: true, Body: "answer", Delivery: &ticket.Delivery{Status: ticket.DeliverySent}}
		if err := tx.CreateComment(c, store.CommentOptions{}); err != nil {
			return err
		}
		replyID = c.ID
		return tx.IndexOutboundID("support", "<out-1@patchbay>", c.ID)
	})
	if r := e.deliver("support", mail("<4@x>", "<zzz@x>", "bob@x.test", "<out-1@patchbay>")); r.TicketID != b.TicketID {
		t.Fatalf("reply to outbound %d routed to %d, want %d", replyID, r.TicketID, b.TicketID)
	}
	// Ann's ticket on another channel instance: hints never cross instances.
	slackMsg := msg("s-ann", "D-ann", "T1:U-ann", "from slack")
	slackMsg.Author.Email = "ann@x.test"
	other := e.deliver("it-help", slackMsg)
	cases := []struct {
		name     string
		from     string
		hint     uint64
		verified bool
		want     uint64 // 0: a new ticket
	}{
		{"verified hint from anyone", "carol@x.test", a.TicketID, true, a.TicketID},
		{"verified hint to another instance's ticket", "ann@x.test", other.TicketID, true, 0},
		{"unverified hint to the requester's ticket on another instance", "ann@x.test", other.TicketID, false, 0},
		{"unverified hint from the requester", "ann@x.test", a.TicketID, false, a.TicketID},
		{"unverified hint from someone else", "mallory@x.test", a.TicketID, false, 0},
		{"hint to unknown ticket", "ann@x.test", 999, true, 0},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mail(fmt.Sprintf("<h%d@x>", i), fmt.Sprintf("<h%d@x>", i), c.from)
			m.TicketHint, m.TicketHintVerified = c.hint, c.verified
			before := e.countTickets()
			r := e.deliver("support", m)
			if c.want != 0 && r.TicketID != c.want {
				t.Fatalf("routed to %d, want %d", r.TicketID, c.want)
			}
			if c.want == 0 && (r.TicketID != uint64(before+1)) {
				t.Fatalf("routed to %d, want a new ticket", r.TicketID)
			}
		})
	}
	e.check()
}

func TestIdentityLinking(t *testing.T) {
	e := newEnv(t)
	m := msg("<1@x>", "<1@x>", "Ann@Example.test", "hi")
	m.Author.IdentityType = "email"
	r := e.deliver("support", m)
	ann := e.ticket(r.TicketID).RequesterID
	// A Slack user whose profile email is Ann's email identity is Ann.
	s := msg("s1", "D1", "T1:U9", "from slack")
	s.Author.Email = "ann@example.TEST"
	r2 := e.deliver("it-help", s)
	if got := e.ticket(r2.TicketID).RequesterID; got != ann {
		t.Fatalf("slack message requester %d, want %d", got, ann)
	}
	u := e.user(ann)
	if len(u.Identities) != 2 || u.Identities[1] != (ticket.Identity{Type: "slack", Value: "T1:U9"}) || u.Email != "ann@example.test" {
		t.Fatalf("linked user %+v", u)
	}
	// A profile email nobody has creates a new user owning both identities.
	w := msg("w1", "15550002", "+15550002", "from whatsapp")
	w.Author.Email = "zed@example.test"
	r3 := e.deliver("wa", w)
	z := e.user(e.ticket(r3.TicketID).RequesterID)
	if z.ID == ann || len(z.Identities) != 2 || z.Identities[0].Value != "15550002" {
		t.Fatalf("new user %+v", z)
	}
	e.check()
}

func TestMergeUsers(t *testing.T) {
	e := newEnv(t)
	r1 := e.deliver("it-help", msg("s1", "D1", "T1:U1", "a"))
	r2 := e.deliver("wa", msg("w1", "1555", "1555", "b"))
	r3 := e.deliver("wa", msg("w2", "1666", "1555", "c")) // same author, other conversation
	src := e.ticket(r2.TicketID).RequesterID
	dst := e.ticket(r1.TicketID).RequesterID
	e.setStatus(r3.TicketID, ticket.StatusClosed)
	e.update(func(tx *store.Tx) error {
		_, err := tx.MergeUsers(src, dst)
		return err
	})
	for _, id := range []uint64{r2.TicketID, r3.TicketID} {
		if got := e.ticket(id).RequesterID; got != dst {
			t.Fatalf("ticket %d requester %d, want %d", id, got, dst)
		}
	}
	if u := e.user(src); u.MergedInto != dst || len(u.Identities) != 0 {
		t.Fatalf("source after merge %+v", u)
	}
	if u := e.user(dst); len(u.Identities) != 2 {
		t.Fatalf("target after merge %+v", u)
	}
	// The WhatsApp identity now finds the target.
	r4 := e.deliver("wa", msg("w3", "1555", "1555", "d"))
	if got := e.ticket(r4.TicketID).RequesterID; got != dst {
		t.Fatalf("after merge message requester %d, want %d", got, dst)
	}
	var list []*ticket.Ticket
	e.st.View(func(r *store.ReadTx) error {
		var err error
		list, _, err = r.ListTickets(store.TicketFilter{RequesterID: dst})
		return err
	})
	if len(list) != 3 {
		t.Fatalf("%d tickets listed for merged requester, want 3", len(list))
	}
	err := e.st.Update(context.Background(), func(tx *store.Tx) error {
		_, err := tx.MergeUsers(src, dst)
		return err
	})
	if !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("merging twice: %v", err)
	}
	e.check()
}

func TestUpdateDeliveryReceipts(t *testing.T) {
	e := newEnv(t)
	r := e.deliver("wa", msg("w1", "1555", "1555", "hi"))
	var cid uint64
	e.update(func(tx *store.Tx) error {
		c := &ticket.Comment{TicketID: r.TicketID, Public: true, Body: "answer", Delivery: &ticket.Delivery{Status: ticket.DeliverySent, ExternalID: "wamid.out"}}
		if err := tx.CreateComment(c, store.CommentOptions{}); err != nil {
			return err
		}
		cid = c.ID
		return tx.IndexOutboundID("wa", "wamid.out", c.ID)
	})
	steps := []struct {
		status string
		found  bool
		want   string
	}{
		{"delivered", true, "delivered"},
		{"read", true, "read"},
		{"delivered", true, "read"}, // out of order: ignored
		{"failed", true, "read"},
		{"sent", true, "read"},
	}
	for _, s := range steps {
		found, err := e.svc.UpdateDelivery(context.Background(), "wa", sdk.DeliveryUpdate{ExternalID: "wamid.out", Status: s.status})
		if err != nil || found != s.found {
			t.Fatalf("%s: found %v err %v", s.status, found, err)
		}
		var c *ticket.Comment
		e.st.View(func(rt *store.ReadTx) error { c, _ = rt.Comment(cid); return nil })
		if c.Delivery.Status != s.want {
			t.Fatalf("after %s: %s, want %s", s.status, c.Delivery.Status, s.want)
		}
	}
	if found, err := e.svc.UpdateDelivery(context.Background(), "wa", sdk.DeliveryUpdate{ExternalID: "nope", Status: "read"}); found || err != nil {
		t.Fatalf("unknown id: %v %v", found, err)
	}
	if found, _ := e.svc.UpdateDelivery(context.Background(), "it-help", sdk.DeliveryUpdate{ExternalID: "wamid.out", Status: "read"}); found {
		t.Fatal("receipt of another instance applied")
	}
	if _, err := e.svc.UpdateDelivery(context.Background(), "wa", sdk.DeliveryUpdate{ExternalID: "wamid.out", Status: "exploded"}); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("bad status: %v", err)
	}
}

func TestState(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.svc.SetState(ctx, "support", "imap_uid", []byte("42")); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	v, ok, err := e.svc.GetState(ctx, "support", "imap_uid")
	if err != nil || !ok || string(v) != "42" {
		t.Fatalf("state %q %v %v", v, ok, err)
	}
	if _, ok, _ := e.svc.GetState(ctx, "it-help", "imap_uid"); ok {
		t.Fatal("state visible to another instance")
	}
	if err := e.svc.DeleteState(ctx, "support", "imap_uid"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := e.svc.GetState(ctx, "support", "imap_uid"); ok {
		t.Fatal("state not deleted")
	}
}

func TestDeliverMetrics(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	svc := New(e.st, testInstances, Options{Clock: e.clock.Now, Registerer: reg})
	for range 2 {
		if _, err := svc.Deliver(context.Background(), "it-help", msg("m1", "U1", "t:u", "x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	svc.Deliver(context.Background(), "it-help", msg("", "U1", "t:u", "x"), nil)
	want := map[string]float64{"stored": 1, "duplicate": 1, "error": 1}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "patchbay_inbound_messages_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" {
					got[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("metrics %v, want %v", got, want)
	}
}

// The events of a delivered message name its author as actor.
func TestDeliverEventsNameTheAuthor(t *testing.T) {
	e := newEnv(t)
	r := e.deliver("wa", msg("w-actor", "15550009", "15550009", "hello"))
	author := e.ticket(r.TicketID).RequesterID
	evs, err := e.st.EventsAfter(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, ev := range evs {
		if ev.Type == store.EventTicketCreated || ev.Type == store.EventCommentCreated {
			found++
			if ev.ActorID != author {
				t.Errorf("%s: actor %d, want the author %d", ev.Type, ev.ActorID, author)
			}
		}
	}
	if found != 2 {
		t.Fatalf("%d ticket/comment events, want 2", found)
	}
}

// A SentAt in the future (a sender's wrong clock, a forged Date header)
// is recorded as the time of receipt: it cannot put a comment or the
// ticket's last inbound time ahead. A small skew is kept.
func TestDeliverFutureSentAtIsReceiptTime(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	for i, c := range []struct {
		sent, want time.Time
	}{
		{time.Date(2039, 1, 2, 10, 0, 0, 0, time.UTC), now},
		{now.Add(2 * time.Minute), now.Add(2 * time.Minute)},
		{now.Add(-time.Hour), now.Add(-time.Hour)},
	} {
		m := msg(fmt.Sprint("future-", i), fmt.Sprint("conv-", i), fmt.Sprint("u", i), "hello")
		m.SentAt = c.sent
		r := e.deliver("it-help", m)
		tk := e.ticket(r.TicketID)
		cs := e.comments(r.TicketID)
		if !tk.LastInboundAt.Equal(c.want) || len(cs) != 1 || !cs[0].CreatedAt.Equal(c.want) {
			t.Errorf("SentAt %v: last inbound %v, comment %v; want %v", c.sent, tk.LastInboundAt, cs[0].CreatedAt, c.want)
		}
	}
	e.check()
}
