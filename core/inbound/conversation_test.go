package inbound

import (
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// The conversation's latest inbound time (read by the outbox for reply
// windows) is recorded in the delivery's own commit, only moves forward,
// and counts only the customer's messages.
func TestDeliverRecordsConversationInbound(t *testing.T) {
	e := newEnv(t)
	base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	e.update(func(tx *store.Tx) error {
		return tx.CreateUser(&ticket.User{Name: "Agent", Role: ticket.RoleAgent, Identities: []ticket.Identity{{Type: "whatsapp", Value: "15559999"}}})
	})
	steps := []struct {
		name   string
		id     string
		author string
		sentAt time.Time
		want   time.Time
	}{
		{"first message", "wamid.1", "15550001", base, base},
		{"newer message", "wamid.2", "15550001", base.Add(time.Hour), base.Add(time.Hour)},
		{"an older message arriving late", "wamid.0", "15550001", base.Add(-time.Hour), base.Add(time.Hour)},
		{"an agent writing in the conversation", "wamid.3", "15559999", base.Add(2 * time.Hour), base.Add(time.Hour)},
		{"redelivery changes nothing", "wamid.2", "15550001", base.Add(5 * time.Hour), base.Add(time.Hour)},
	}
	for _, s := range steps {
		m := msg(s.id, "15550001", s.author, "text")
		m.Author.IdentityType = "whatsapp"
		m.SentAt = s.sentAt
		e.deliver("wa", m)
		var got time.Time
		e.st.View(func(r *store.ReadTx) error {
			var err error
			got, err = r.ConversationLastInbound("wa", "15550001")
			return err
		})
		if !got.Equal(s.want) {
			t.Fatalf("%s: conversation last inbound = %v, want %v", s.name, got, s.want)
		}
	}
	// Another conversation and another instance are kept apart.
	e.st.View(func(r *store.ReadTx) error {
		for _, k := range [][2]string{{"wa", "15550002"}, {"it-help", "15550001"}} {
			if got, err := r.ConversationLastInbound(k[0], k[1]); err != nil || !got.IsZero() {
				t.Errorf("%s/%s: %v %v, want none", k[0], k[1], got, err)
			}
		}
		return nil
	})
	e.check()
}
