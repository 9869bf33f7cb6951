package rules

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/inbound"
	"github.com/patchbayhq/patchbay/core/outbox"
	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/internal/testutil"
	"github.com/patchbayhq/patchbay/sdk"
)

// fakeSender records what the outbox sends, as a channel's fake provider.
type fakeSender struct {
	mu   sync.Mutex
	sent []*sdk.OutboundMessage
	inst []string
}

func (f *fakeSender) Send(ctx context.Context, instance string, msg *sdk.OutboundMessage) (*sdk.SendResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, msg)
	f.inst = append(f.inst, instance)
	return &sdk.SendResult{ExternalID: "prov-" + msg.IdempotencyKey}, nil
}

func (f *fakeSender) messages() []*sdk.OutboundMessage {
	msgs, _ := f.sends()
	return msgs
}

// sends returns the messages sent and the instance of each.
func (f *fakeSender) sends() ([]*sdk.OutboundMessage, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent), slices.Clone(f.inst)
}

// TestInboundMessageFiresTrigger: a message delivered by a channel plugin
// (inbound.Service.Deliver) runs a trigger that assigns a group, tags the
// ticket and replies; the reply reaches the channel through the outbox.
func TestInboundMessageFiresTrigger(t *testing.T) {
	e := newEnv(t)
	e.rule(&Rule{Kind: KindTrigger, Title: "Route VPN mail", Active: true,
		Conditions: all(cond("update_type", OpIs, "created"), cond("channel", OpIs, "support"), cond("comment", OpContains, "vpn")),
		Actions: []Action{
			act(ActGroup, "Network"), act(ActAddTags, "vpn triaged"),
			act(ActPublicReply, "Hi {{requester.first_name}}, ticket #{{ticket.id}} ({{ticket.subject}}) is with {{ticket.group}}."),
		}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, _, err := e.eng.PutAutoReply(ctx, &AutoReply{Channel: "it-help", Active: true, Body: "Got it, {{requester.first_name}}: #{{ticket.id}}"}); err != nil {
		t.Fatal(err)
	}
	sender := &fakeSender{}
	w := outbox.New(e.st, sender, outbox.Options{Clock: e.clock.Now, Kinds: map[string]string{"support": "email", "it-help": "slack"}})
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	runDone := make(chan struct{})
	go func() { defer close(runDone); _ = e.eng.Run(ctx) }()

	r := e.deliver("support", "m1", "thread-1", "ann", "My VPN is down")
	other := e.deliver("it-help", "s1", "D1", "T1:U1", "vpn too, but on slack")
	waitFor(t, "the replies at the providers", func() bool { return len(sender.messages()) == 2 })
	var msg, ack *sdk.OutboundMessage
	msgs, insts := sender.sends()
	for i, m := range msgs {
		switch insts[i] {
		case "support":
			msg = m
		case "it-help":
			ack = m
		}
	}
	if ack == nil || msg == nil || ack.Text != fmt.Sprintf("Got it, Ann: #%d", other.TicketID) || !ack.AutoReply || ack.TicketID != other.TicketID {
		t.Fatalf("channel auto-reply %+v", ack)
	}
	want := "Hi Ann, ticket #1 (My VPN is down) is with Network."
	if msg.Text != want || !msg.AutoReply || msg.TicketID != r.TicketID {
		t.Fatalf("sent %+v, want text %q as an automatic reply on ticket %d", msg, want, r.TicketID)
	}
	tk := e.ticket(r.TicketID)
	if tk.Group != "Network" || !slices.Equal(tk.Tags, []string{"vpn", "triaged"}) {
		t.Fatalf("ticket %+v", tk)
	}
	waitFor(t, "the reply marked sent", func() bool {
		cs := e.comments(r.TicketID)
		return len(cs) == 2 && cs[1].Delivery != nil && cs[1].Delivery.Status == ticket.DeliverySent
	})
	if cs := e.comments(r.TicketID); cs[1].Via != ticket.ViaRule || !cs[1].Public {
		t.Fatalf("reply comment %+v", cs[1])
	}
	// The slack ticket did not match (channel is support only).
	if tk := e.ticket(other.TicketID); tk.Group != "" || len(tk.Tags) != 0 {
		t.Fatalf("other ticket changed: %+v", tk)
	}
	// A follow-up message on the same ticket is an update, not a create.
	e.deliver("support", "m2", "thread-1", "ann", "still vpn trouble")
	waitFor(t, "the follower to catch up", func() bool {
		c, _ := e.eng.Cursor()
		var last uint64
		_ = e.st.View(func(r *store.ReadTx) error { last, _ = r.LastID(store.SeqEvent); return nil })
		return c == last
	})
	if n := len(sender.messages()); n != 2 {
		t.Fatalf("%d replies, want 2", n)
	}
	cancel()
	<-done
	<-runDone
}

func TestTriggerOrderAndCycle(t *testing.T) {
	e := newEnv(t)
	// Trigger 2 (position 2) needs the tag trigger 1 adds: the cycle
	// restarts after a firing, so it fires in the same update.
	e.rule(&Rule{Kind: KindTrigger, Title: "escalate", Active: true, Position: 2,
		Conditions: all(cond("tags", OpIncludes, "vip")), Actions: []Action{act(ActPriority, "urgent"), act(ActInternalNote, "escalated")}})
	e.rule(&Rule{Kind: KindTrigger, Title: "tag vip", Active: true, Position: 1,
		Conditions: all(cond("subject", OpContains, "ceo")), Actions: []Action{act(ActAddTags, "vip")}})
	// A trigger that would fire on every update: once per update only,
	// and its own change does not start a new cycle.
	e.rule(&Rule{Kind: KindTrigger, Title: "note every update", Active: true, Position: 3,
		Conditions: all(cond("status", OpIsNot, "closed")), Actions: []Action{act(ActInternalNote, "seen")}})
	// An inactive trigger never fires.
	e.rule(&Rule{Kind: KindTrigger, Title: "inactive", Active: false,
		Conditions: all(cond("status", OpIs, "new")), Actions: []Action{act(ActGroup, "nope")}})
	r := e.deliver("support", "m1", "c1", "ceo", "CEO cannot print")
	e.process()
	tk := e.ticket(r.TicketID)
	if tk.Priority != ticket.PriorityUrgent || !slices.Contains(tk.Tags, "vip") || tk.Group != "" {
		t.Fatalf("ticket %+v", tk)
	}
	cs := e.comments(r.TicketID)
	if countBody(cs, "escalated") != 1 || countBody(cs, "seen") != 1 {
		t.Fatalf("comments: %d escalated, %d seen", countBody(cs, "escalated"), countBody(cs, "seen"))
	}
	// Running again changes nothing: every event was consumed.
	e.process()
	if cs := e.comments(r.TicketID); countBody(cs, "seen") != 1 {
		t.Fatal("the trigger's own update re-ran the trigger set")
	}
	// A new update fires the every-update trigger once more.
	e.deliver("support", "m2", "c1", "ceo", "again")
	e.process()
	if cs := e.comments(r.TicketID); countBody(cs, "seen") != 2 || countBody(cs, "escalated") != 2 {
		t.Fatalf("second update: %d seen, %d escalated", countBody(cs, "seen"), countBody(cs, "escalated"))
	}
}

func TestTriggerPassLimit(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxTriggerPasses = 3 })
	for i := range 6 {
		e.rule(&Rule{Kind: KindTrigger, Title: "n", Active: true, Position: i,
			Conditions: all(cond("status", OpIs, "new")), Actions: []Action{act(ActInternalNote, "fired")}})
	}
	r := e.deliver("support", "m1", "c1", "u", "hello")
	e.process()
	if n := countBody(e.comments(r.TicketID), "fired"); n != 3 {
		t.Fatalf("%d firings, want the pass limit 3", n)
	}
}

func TestChannelAutoReply(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, _, err := e.eng.PutAutoReply(ctx, &AutoReply{Channel: "support", Active: true, Body: "Thanks {{requester.name}}, we got #{{ticket.id}}."}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.eng.PutAutoReply(ctx, &AutoReply{Channel: "it-help", Active: false, Body: "inactive"}); err != nil {
		t.Fatal(err)
	}
	auto := func(m *sdk.InboundMessage) { m.AutoSubmitted = true }
	// An agent writing to the support address from their own mailbox (an
	// echo of our side, not a customer) gets no auto-reply.
	e.update(func(tx *store.Tx) error {
		return tx.CreateUser(&ticket.User{Name: "Ada Agent", Role: ticket.RoleAgent, Email: "ada@acme.test",
			Identities: []ticket.Identity{{Type: "email", Value: "ada@acme.test"}}})
	})
	a := e.deliver("support", "m1", "c1", "ann", "hello")
	b := e.deliver("support", "m2", "c2", "bob", "Out of office", auto)
	c := e.deliver("it-help", "s1", "D1", "T1:U1", "hi")
	echo := e.deliver("support", "m4", "c4", "ada@acme.test", "forwarding a customer's question", func(m *sdk.InboundMessage) { m.Author.Email = "ada@acme.test" })
	if req := e.ticket(echo.TicketID).RequesterID; req == 0 {
		t.Fatal("echo ticket without requester")
	}
	e.deliver("support", "m3", "c1", "ann", "second message, same ticket")
	var apiTicket uint64
	e.update(func(tx *store.Tx) error {
		u := &ticket.User{Name: "Api", Role: ticket.RoleEndUser, Identities: []ticket.Identity{{Type: "email", Value: "api@example.test"}}}
		if err := tx.CreateUser(u); err != nil {
			return err
		}
		t := &ticket.Ticket{Subject: "api", Status: ticket.StatusNew, Via: ticket.ViaAPI, RequesterID: u.ID}
		if err := tx.CreateTicket(t); err != nil {
			return err
		}
		apiTicket = t.ID
		return tx.CreateComment(&ticket.Comment{TicketID: t.ID, AuthorID: u.ID, Body: "api", Public: true, Via: ticket.ViaAPI}, store.CommentOptions{})
	})
	e.process()
	e.process()
	replies := func(id uint64) int {
		n := 0
		for _, c := range e.comments(id) {
			if c.Via == ticket.ViaRule && c.Public {
				n++
			}
		}
		return n
	}
	if n := replies(a.TicketID); n != 1 {
		t.Fatalf("ticket a: %d auto-replies, want 1", n)
	}
	if n := countBody(e.comments(a.TicketID), "Thanks Ann Example, we got #1."); n != 1 {
		t.Fatalf("rendered auto-reply found %d times", n)
	}
	for name, id := range map[string]uint64{"auto-submitted": b.TicketID, "inactive channel": c.TicketID, "api": apiTicket, "agent echo": echo.TicketID} {
		if n := replies(id); n != 0 {
			t.Errorf("%s: %d auto-replies", name, n)
		}
	}
	var queued int
	_ = e.st.View(func(r *store.ReadTx) error { queued, _ = r.OutboxLen(); return nil })
	if queued != 1 {
		t.Fatalf("%d outbox entries, want 1", queued)
	}
	// Validation names the field.
	_, _, err := e.eng.PutAutoReply(ctx, &AutoReply{Channel: "support", Body: "{{nope}}"})
	if ve, ok := err.(*ValidationError); !ok || ve.Field != "body" {
		t.Fatalf("bad placeholder: %v", err)
	}
}

// TestAutomationUpdateRunsTriggers: an automation's change is an update
// that triggers see (with update_via "rule").
func TestAutomationUpdateRunsTriggers(t *testing.T) {
	e := newEnv(t)
	e.rule(&Rule{Kind: KindTrigger, Title: "notify on rule close", Active: true,
		Conditions: all(cond("update_via", OpIs, "rule"), cond("status", OpIs, "pending")), Actions: []Action{act(ActInternalNote, "rule update seen")}})
	e.rule(&Rule{Kind: KindAutomation, Title: "pending after 2h new", Active: true,
		Conditions: all(cond("status", OpIs, "new"), cond("hours_since_created", OpGreaterThan, 2.0)), Actions: []Action{act(ActStatus, "pending")}})
	r := e.deliver("support", "m1", "c1", "ann", "hello")
	e.process()
	e.clock.Add(3 * 3600e9)
	if n, err := e.eng.RunAutomations(context.Background()); err != nil || n != 1 {
		t.Fatalf("automations fired %d (%v)", n, err)
	}
	e.process()
	if n := countBody(e.comments(r.TicketID), "rule update seen"); n != 1 {
		t.Fatalf("trigger saw the automation's update %d times", n)
	}
}

// TestFirstStartSkipsHistory: an engine started for the first time on a
// store with tickets does not fire triggers on their past updates.
func TestFirstStartSkipsHistory(t *testing.T) {
	dir := t.TempDir()
	clock := testutil.NewClock()
	st, err := store.Open(store.Options{Dir: dir, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in := inbound.New(st, testInstances, inbound.Options{Clock: clock.Now})
	old, err := in.Deliver(context.Background(), "support", &sdk.InboundMessage{ExternalID: "old", ConversationKey: "c0", Author: sdk.Party{ExternalID: "a"}, Text: "old"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng := New(st, Options{Clock: clock.Now})
	if err := eng.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.CreateRule(context.Background(), &Rule{Kind: KindTrigger, Title: "tag", Active: true,
		Conditions: all(cond("status", OpIs, "new")), Actions: []Action{act(ActAddTags, "seen")}}); err != nil {
		t.Fatal(err)
	}
	fresh, err := in.Deliver(context.Background(), "support", &sdk.InboundMessage{ExternalID: "new", ConversationKey: "c1", Author: sdk.Party{ExternalID: "b"}, Text: "new"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.ProcessEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	var a, b *ticket.Ticket
	_ = st.View(func(r *store.ReadTx) error {
		a, _ = r.Ticket(old.TicketID)
		b, _ = r.Ticket(fresh.TicketID)
		return nil
	})
	if len(a.Tags) != 0 || !slices.Contains(b.Tags, "seen") {
		t.Fatalf("old ticket tags %v, new ticket tags %v", a.Tags, b.Tags)
	}
}

// TestUpdateSharingTriggersTransactionTime: a real update that lands right
// after a trigger's own write, with the same transaction time (a coarse or
// fake clock), still runs triggers.
func TestUpdateSharingTriggersTransactionTime(t *testing.T) {
	e := newEnv(t)
	e.rule(&Rule{Kind: KindTrigger, Title: "note", Active: true,
		Conditions: all(cond("status", OpIsNot, "closed")), Actions: []Action{act(ActInternalNote, "seen")}})
	r := e.deliver("support", "m1", "c1", "ann", "one")
	if _, err := e.eng.processPage(context.Background()); err != nil { // the trigger writes; its events stay unread
		t.Fatal(err)
	}
	e.deliver("support", "m2", "c1", "ann", "two") // same clock: same transaction time
	e.process()
	if n := countBody(e.comments(r.TicketID), "seen"); n != 2 {
		t.Fatalf("trigger fired %d times, want 2 (one per real update)", n)
	}
}

// TestChangedToFiresOnTheChangeOnly: "status changed_to solved" fires on
// the update that solves the ticket, not on later updates while solved.
func TestChangedToFiresOnTheChangeOnly(t *testing.T) {
	e := newEnv(t)
	e.rule(&Rule{Kind: KindTrigger, Title: "on solve", Active: true,
		Conditions: all(cond("status", OpChangedTo, "solved")), Actions: []Action{act(ActInternalNote, "solved!")}})
	e.rule(&Rule{Kind: KindTrigger, Title: "on regroup", Active: true,
		Conditions: all(cond("group", OpChanged, nil), cond("group", OpIs, "Billing")), Actions: []Action{act(ActAddTags, "billing")}})
	r := e.deliver("support", "m1", "c1", "ann", "hello")
	e.process()
	e.setStatus(r.TicketID, ticket.StatusSolved)
	e.process()
	e.update(func(tx *store.Tx) error { // an internal note while solved
		return tx.CreateComment(&ticket.Comment{TicketID: r.TicketID, Body: "note", Via: ticket.ViaAPI}, store.CommentOptions{})
	})
	e.update(func(tx *store.Tx) error {
		tk, err := tx.Ticket(r.TicketID)
		if err != nil {
			return err
		}
		tk.Group = "Billing"
		return tx.UpdateTicket(tk)
	})
	e.process()
	if n := countBody(e.comments(r.TicketID), "solved!"); n != 1 {
		t.Fatalf("changed_to fired %d times, want 1", n)
	}
	if tk := e.ticket(r.TicketID); !slices.Contains(tk.Tags, "billing") {
		t.Fatalf("group change not seen: %+v", tk)
	}
}

// TestTriggerPositionOrder: matching triggers fire in position order (then
// id), whatever order they were created in: the later one's change wins
// and its note comes later.
func TestTriggerPositionOrder(t *testing.T) {
	e := newEnv(t)
	always := all(cond("update_type", OpIs, "created"))
	e.rule(&Rule{Kind: KindTrigger, Title: "third", Active: true, Position: 5, Conditions: always,
		Actions: []Action{act(ActGroup, "Third"), act(ActInternalNote, "3")}})
	e.rule(&Rule{Kind: KindTrigger, Title: "first", Active: true, Position: 1, Conditions: always,
		Actions: []Action{act(ActGroup, "First"), act(ActInternalNote, "1")}})
	e.rule(&Rule{Kind: KindTrigger, Title: "second (same position, later id)", Active: true, Position: 1, Conditions: always,
		Actions: []Action{act(ActGroup, "Second"), act(ActInternalNote, "2")}})
	r := e.deliver("support", "m1", "c1", "ann", "hello")
	e.process()
	if g := e.ticket(r.TicketID).Group; g != "Third" {
		t.Fatalf("group %q, want the last trigger's", g)
	}
	var notes []string
	for _, c := range e.comments(r.TicketID) {
		if !c.Public {
			notes = append(notes, c.Body)
		}
	}
	if !slices.Equal(notes, []string{"1", "2", "3"}) {
		t.Fatalf("notes in order %v", notes)
	}
}

// TestUpdateLongerThanABatch: an update with more events than one read of
// the log (EventBatch) is still one update: its triggers fire once.
func TestUpdateLongerThanABatch(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.EventBatch = 2 })
	e.rule(&Rule{Kind: KindTrigger, Title: "note", Active: true,
		Conditions: all(cond("status", OpIs, "new")), Actions: []Action{act(ActInternalNote, "seen")}})
	var id uint64
	e.update(func(tx *store.Tx) error {
		tk := &ticket.Ticket{Subject: "big", Status: ticket.StatusNew, Via: ticket.ViaAPI, RequesterID: 1}
		if err := tx.CreateTicket(tk); err != nil {
			return err
		}
		id = tk.ID
		for i := range 5 {
			if err := tx.CreateComment(&ticket.Comment{TicketID: tk.ID, Body: fmt.Sprint("part ", i), Via: ticket.ViaAPI}, store.CommentOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	e.process()
	if n := countBody(e.comments(id), "seen"); n != 1 {
		t.Fatalf("trigger fired %d times on one update, want 1", n)
	}
}

// TestChangeOperatorsWithABacklog: when the follower reads several updates
// of a ticket at once (after a restart, or under load), a change operator
// compares each update's before and after, not the ticket as it is now: a
// change fires once, on the update that made it.
func TestChangeOperatorsWithABacklog(t *testing.T) {
	e := newEnv(t)
	e.rule(&Rule{Kind: KindTrigger, Title: "on solve", Active: true,
		Conditions: all(cond("status", OpChangedTo, "solved")), Actions: []Action{act(ActInternalNote, "solved!")}})
	e.rule(&Rule{Kind: KindTrigger, Title: "on new", Active: true,
		Conditions: all(cond("status", OpChangedTo, "new")), Actions: []Action{act(ActInternalNote, "created!")}})
	e.rule(&Rule{Kind: KindTrigger, Title: "regrouped", Active: true,
		Conditions: all(cond("group", OpChanged, nil)), Actions: []Action{act(ActAddTags, "regrouped")}})
	r := e.deliver("support", "m1", "c1", "ann", "hello")
	e.clock.Add(time.Second)            // distinct transaction times: four updates
	e.update(func(tx *store.Tx) error { // an internal note: no field changes
		return tx.CreateComment(&ticket.Comment{TicketID: r.TicketID, Body: "note", Via: ticket.ViaAPI}, store.CommentOptions{})
	})
	e.clock.Add(time.Second)
	e.setStatus(r.TicketID, ticket.StatusSolved)
	e.clock.Add(time.Second)
	e.update(func(tx *store.Tx) error { // a later note while solved
		return tx.CreateComment(&ticket.Comment{TicketID: r.TicketID, Body: "note 2", Via: ticket.ViaAPI}, store.CommentOptions{})
	})
	e.process() // all four updates at once
	cs := e.comments(r.TicketID)
	if n := countBody(cs, "solved!"); n != 1 {
		t.Errorf("changed_to solved fired %d times, want 1", n)
	}
	if n := countBody(cs, "created!"); n != 1 {
		t.Errorf("changed_to new fired %d times, want 1 (on creation)", n)
	}
	if tk := e.ticket(r.TicketID); slices.Contains(tk.Tags, "regrouped") {
		t.Errorf("group changed fired without a group change: %v", tk.Tags)
	}
}

// TestMacroUpdateRunsTriggers: a macro applied by an agent is an update
// like any other: triggers run on it (update_via "api"), once.
func TestMacroUpdateRunsTriggers(t *testing.T) {
	e := newEnv(t)
	agent := e.agent("smith")
	e.rule(&Rule{Kind: KindTrigger, Title: "on pending by an agent", Active: true,
		Conditions: all(cond("status", OpChangedTo, "pending"), cond("update_via", OpIs, "api")),
		Actions:    []Action{act(ActInternalNote, "waiting on the customer")}})
	m := e.rule(&Rule{Kind: KindMacro, Title: "ask", Active: true,
		Actions: []Action{act(ActStatus, "pending"), act(ActPublicReply, "Could you send a screenshot?")}})
	r := e.deliver("support", "m1", "c1", "ann", "broken")
	e.process()
	e.clock.Add(time.Minute)
	e.update(func(tx *store.Tx) error {
		_, err := e.eng.ApplyMacro(tx, r.TicketID, m.ID, agent)
		return err
	})
	e.process()
	e.process()
	cs := e.comments(r.TicketID)
	if n := countBody(cs, "waiting on the customer"); n != 1 {
		t.Fatalf("trigger fired %d times on the macro's update, want 1", n)
	}
	if n := countBody(cs, "Could you send a screenshot?"); n != 1 || cs[1].AuthorID != agent || cs[1].Via != ticket.ViaAPI {
		t.Fatalf("macro reply %+v", cs[1])
	}
}
