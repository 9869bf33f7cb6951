package inbound

import (
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// Reply windows are per conversation: the outbox takes the latest of the
// ticket's LastInboundAt, the conversation's latest ticket's, and the
// conversation's record. A message routed to its conversation's latest
// ticket moves that ticket's time; one a hint (or a quoted reply) routes to
// another ticket moves the conversation's record, forward only, and only
// for the customer's messages.
func TestDeliverRecordsConversationInbound(t *testing.T) {
	e := newEnv(t)
	// Every message below was sent before "now" (a SentAt in the future
	// counts as the time of receipt).
	e.clock.Add(12 * time.Hour)
	base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	e.update(func(tx *store.Tx) error {
		return tx.CreateUser(&ticket.User{Name: "Agent", Role: ticket.RoleAgent, Identities: []ticket.Identity{{Type: "whatsapp", Value: "15559999"}}})
	})
	send := func(id, conv, author string, hint uint64, at time.Time) uint64 {
		m := msg(id, conv, author, "text")
		m.Author.IdentityType = "whatsapp"
		m.TicketHint = hint
		m.SentAt = at
		return e.deliver("wa", m).TicketID
	}
	other := send("wamid.0", "K2", "15550001", 0, base.Add(-time.Hour))
	a := send("wamid.1", "K", "15550001", 0, base)
	record := func() time.Time {
		var got time.Time
		e.st.View(func(r *store.ReadTx) error {
			var err error
			got, err = r.ConversationLastInbound("wa", "K")
			return err
		})
		return got
	}
	steps := []struct {
		name       string
		id, author string
		hint       uint64
		at         time.Time
		wantTicket uint64
		wantRecord time.Time
		wantA      time.Time // ticket a's LastInboundAt
	}{
		{"to the latest ticket: its own time, no record", "wamid.2", "15550001", 0, base.Add(time.Hour), a, time.Time{}, base.Add(time.Hour)},
		{"routed to another ticket: recorded", "wamid.3", "15550001", other, base.Add(2 * time.Hour), other, base.Add(2 * time.Hour), base.Add(time.Hour)},
		{"an older message routed elsewhere: unchanged", "wamid.4", "15550001", other, base.Add(-5 * time.Hour), other, base.Add(2 * time.Hour), base.Add(time.Hour)},
		{"an agent's message (their hint is not the requester's): nothing moves", "wamid.5", "15559999", other, base.Add(9 * time.Hour), a, base.Add(2 * time.Hour), base.Add(time.Hour)},
		{"back on the latest ticket", "wamid.6", "15550001", 0, base.Add(3 * time.Hour), a, base.Add(2 * time.Hour), base.Add(3 * time.Hour)},
	}
	for _, s := range steps {
		got := send(s.id, "K", s.author, s.hint, s.at)
		if got != s.wantTicket {
			t.Fatalf("%s: routed to %d, want %d", s.name, got, s.wantTicket)
		}
		if r := record(); !r.Equal(s.wantRecord) {
			t.Fatalf("%s: conversation record %v, want %v", s.name, r, s.wantRecord)
		}
		if la := e.ticket(a).LastInboundAt; !la.Equal(s.wantA) {
			t.Fatalf("%s: ticket LastInboundAt %v, want %v", s.name, la, s.wantA)
		}
	}
	e.check()
}
