package outbox

import (
	"context"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/sdk"
)

// OutboundMessage.LastInboundAt is the conversation's latest inbound time,
// not the ticket's: reply windows (WhatsApp's 24 hours) are per
// conversation, and plugins keep no record of their own.
func TestLastInboundIsTheConversations(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	type tk struct {
		channel, conv string
		lastInbound   time.Duration // after t0
	}
	tests := []struct {
		name    string
		tickets []tk                        // created in order; the reply goes to the first
		records map[[2]string]time.Duration // conversation records (instance, key) → after t0
		want    time.Duration
	}{
		{"the ticket's own time", []tk{{"wa", "15550001", 0}}, nil, 0},
		{"a newer ticket of the conversation (follow-up)", []tk{{"wa", "15550001", 0}, {"wa", "15550001", 30 * time.Hour}}, nil, 30 * time.Hour},
		{"an older latest ticket does not move it back", []tk{{"wa", "15550001", 10 * time.Hour}, {"wa", "15550001", time.Hour}}, nil, 10 * time.Hour},
		{"the conversation's record (a quoted reply went to another ticket)", []tk{{"wa", "15550001", 0}}, map[[2]string]time.Duration{{"wa", "15550001"}: 26 * time.Hour}, 26 * time.Hour},
		{"another conversation's messages do not count", []tk{{"wa", "15550001", 0}, {"wa", "15550002", 30 * time.Hour}}, map[[2]string]time.Duration{{"wa", "15550002"}: 31 * time.Hour}, 0},
		{"the same key on another instance does not count", []tk{{"wa", "15550001", 0}, {"wa2", "15550001", 30 * time.Hour}}, map[[2]string]time.Duration{{"wa2", "15550001"}: 31 * time.Hour}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			var first *ticket.Ticket
			if err := e.st.Update(context.Background(), func(tx *store.Tx) error {
				u := &ticket.User{Name: "Ann", Identities: []ticket.Identity{{Type: "whatsapp", Value: "15550001"}}}
				if err := tx.CreateUser(u); err != nil {
					return err
				}
				for i, s := range tt.tickets {
					t := &ticket.Ticket{Subject: "Help", Status: ticket.StatusOpen, Channel: s.channel, Via: "whatsapp", RequesterID: u.ID, ConversationKey: s.conv, LastInboundAt: t0.Add(s.lastInbound)}
					if err := tx.CreateTicket(t); err != nil {
						return err
					}
					if i == 0 {
						first = t
					}
				}
				for k, d := range tt.records {
					if err := tx.NoteConversationInbound(k[0], k[1], t0.Add(d)); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			id := e.reply(first, "answer")
			f := &fakeSender{script: []func(int) (*sdk.SendResult, error){ok}}
			stop := e.run(f, Options{})
			defer stop()
			e.waitStatus(id, ticket.DeliverySent)
			if got := f.calls[0].LastInboundAt; !got.Equal(t0.Add(tt.want)) {
				t.Fatalf("LastInboundAt = %v, want %v", got, t0.Add(tt.want))
			}
		})
	}
}
