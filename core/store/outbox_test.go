package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// RetryWaiting moves only the instance's entries that wait for their
// channel and are due later.
func TestRetryWaiting(t *testing.T) {
	s := openTest(t)
	later := time.Now().Add(time.Hour)
	entries := []*OutboxEntry{
		{CommentID: 1, Instance: "wa", WaitingForChannel: true, NextAttemptAt: later},   // moves
		{CommentID: 2, Instance: "wa", NextAttemptAt: later},                            // waits for the provider
		{CommentID: 3, Instance: "mail", WaitingForChannel: true, NextAttemptAt: later}, // another channel
		{CommentID: 4, Instance: "wa", WaitingForChannel: true},                         // already due
	}
	mustUpdate(t, s, func(tx *Tx) error {
		for _, e := range entries {
			if err := tx.PutOutbox(e); err != nil {
				return err
			}
		}
		return nil
	})
	var moved int
	mustUpdate(t, s, func(tx *Tx) error {
		var err error
		moved, err = tx.RetryWaiting("wa", 1000)
		return err
	})
	if moved != 1 {
		t.Fatalf("moved %d, want 1", moved)
	}
	s.View(func(r *ReadTx) error {
		due, next, err := r.DueOutbox(time.Now().Add(time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		got := map[uint64]bool{}
		for _, e := range due {
			got[e.CommentID] = true
		}
		if len(due) != 2 || !got[1] || !got[4] || next.IsZero() {
			t.Fatalf("due %v, next %v", got, next)
		}
		return nil
	})
}

// EnqueueReply writes the outbox entry in the caller's transaction: it
// commits with the reply or not at all, marks the reply pending, refuses a
// comment that is not a public reply of the ticket and skips a ticket with
// no channel.
func TestEnqueueReply(t *testing.T) {
	s := openTest(t)
	chat := &ticket.Ticket{Subject: "Help", Status: ticket.StatusNew, Channel: "wa"}
	api := &ticket.Ticket{Subject: "API", Status: ticket.StatusNew}
	mustUpdate(t, s, func(tx *Tx) error {
		if err := tx.CreateTicket(chat); err != nil {
			return err
		}
		return tx.CreateTicket(api)
	})
	queued := func() int {
		var n int
		s.View(func(r *ReadTx) error {
			var err error
			n, err = r.OutboxLen()
			return err
		})
		return n
	}

	// A failed transaction leaves neither the reply nor its entry.
	err := s.Update(context.Background(), func(tx *Tx) error {
		c := &ticket.Comment{TicketID: chat.ID, Body: "x", Public: true}
		if err := tx.CreateComment(c, CommentOptions{}); err != nil {
			return err
		}
		if err := tx.EnqueueReply(chat, c); err != nil {
			return err
		}
		return errors.New("request failed later")
	})
	if err == nil {
		t.Fatal("expected the transaction's error")
	}
	if n := queued(); n != 0 {
		t.Fatalf("%d outbox entries after a failed transaction", n)
	}

	cases := []struct {
		name    string
		tk      *ticket.Ticket
		public  bool
		wantErr error
		queued  int
	}{
		{"public reply on a channel ticket", chat, true, nil, 1},
		{"internal note", chat, false, ErrNotReply, 1},
		{"ticket without a channel", api, true, nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c *ticket.Comment
			err := s.Update(context.Background(), func(tx *Tx) error {
				c = &ticket.Comment{TicketID: tc.tk.ID, Body: "reply", Public: tc.public}
				if err := tx.CreateComment(c, CommentOptions{}); err != nil {
					return err
				}
				return tx.EnqueueReply(tc.tk, c)
			})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("EnqueueReply: %v, want %v", err, tc.wantErr)
			}
			if n := queued(); n != tc.queued {
				t.Fatalf("%d outbox entries, want %d", n, tc.queued)
			}
			if tc.wantErr != nil || tc.tk.Channel == "" {
				return
			}
			s.View(func(r *ReadTx) error {
				e, err := r.OutboxEntry(c.ID)
				if err != nil {
					t.Fatal(err)
				}
				if e.TicketID != tc.tk.ID || e.Instance != tc.tk.Channel {
					t.Errorf("entry %+v", e)
				}
				stored, err := r.Comment(c.ID)
				if err != nil {
					t.Fatal(err)
				}
				if stored.Delivery == nil || stored.Delivery.Status != ticket.DeliveryPending {
					t.Errorf("delivery %+v, want pending", stored.Delivery)
				}
				return nil
			})
		})
	}
}
