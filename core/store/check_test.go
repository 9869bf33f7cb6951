package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// checkFixture is a consistent store holding one of each record Check
// reads: a user with an email identity, a ticket of a conversation, an
// inbound comment with its dedupe entry and inline raw payload, a pending
// reply with its outbox entry, and a failed reply in the failed index.
type checkFixture struct {
	s                        *Store
	user, tk                 uint64
	inbound, pending, failed uint64
	due                      time.Time
}

func newCheckFixture(t *testing.T) *checkFixture {
	t.Helper()
	f := &checkFixture{s: openTest(t), due: time.Unix(1_900_000_000, 0).UTC()}
	mustUpdate(t, f.s, func(tx *Tx) error {
		u := &ticket.User{Name: "Ana", Role: ticket.RoleEndUser, Identities: []ticket.Identity{{Type: "email", Value: "ana@example.com"}}}
		if err := tx.CreateUser(u); err != nil {
			return err
		}
		tk := &ticket.Ticket{Status: ticket.StatusOpen, Channel: "wa", ConversationKey: "conv", RequesterID: u.ID}
		if err := tx.CreateTicket(tk); err != nil {
			return err
		}
		in := &ticket.Comment{TicketID: tk.ID, AuthorID: u.ID, Public: true, ExternalID: "m1"}
		if err := tx.CreateComment(in, CommentOptions{Instance: "wa", Raw: []byte("raw"), RawContentType: "text/plain"}); err != nil {
			return err
		}
		pending := &ticket.Comment{TicketID: tk.ID, Public: true, Body: "on its way", Delivery: &ticket.Delivery{Status: ticket.DeliveryPending}}
		if err := tx.CreateComment(pending, CommentOptions{}); err != nil {
			return err
		}
		if err := tx.PutOutbox(&OutboxEntry{CommentID: pending.ID, TicketID: tk.ID, Instance: "wa", NextAttemptAt: f.due}); err != nil {
			return err
		}
		failed := &ticket.Comment{TicketID: tk.ID, Public: true, Body: "lost", Delivery: &ticket.Delivery{Status: ticket.DeliveryFailed}}
		if err := tx.CreateComment(failed, CommentOptions{}); err != nil {
			return err
		}
		f.user, f.tk, f.inbound, f.pending, f.failed = u.ID, tk.ID, in.ID, pending.ID, failed.ID
		return tx.MarkFailed("wa", failed.ID)
	})
	return f
}

// TestCheckFindsEachViolation damages a consistent store in one way per
// case and expects Check to name that violation: each of Check's
// per-prefix checks runs and reports.
func TestCheckFindsEachViolation(t *testing.T) {
	cases := []struct {
		name   string
		damage func(tx *Tx, f *checkFixture)
		want   string
	}{
		{"ticket under another id's key", func(tx *Tx, f *checkFixture) {
			v, _, _ := tx.r.get(ticketKey(f.tk))
			tx.del(ticketKey(f.tk))
			tx.set(ticketKey(f.tk+100), v)
		}, "holds id"},
		{"ticket above its sequence", func(tx *Tx, f *checkFixture) {
			tx.set(key(pSeq, []byte(SeqTicket)), u64(f.tk-1))
		}, "above the ticket sequence"},
		{"solved ticket without solved_at", func(tx *Tx, f *checkFixture) {
			tk, err := tx.Ticket(f.tk)
			if err != nil {
				t.Fatal(err)
			}
			tk.Status = ticket.StatusSolved
			if err := tx.setJSON(ticketKey(f.tk), tk); err != nil {
				t.Fatal(err)
			}
		}, "solved without solved_at"},
		{"stale index entry", func(tx *Tx, f *checkFixture) {
			tx.set(key(pIxTag, strSep("vip"), inv(f.tk)), nil)
		}, "stale index entry"},
		{"missing index entry", func(tx *Tx, f *checkFixture) {
			tx.del(key(pIxAll, inv(f.tk)))
		}, "missing index entry"},
		{"conversation names an older ticket", func(tx *Tx, f *checkFixture) {
			tx.set(convKey("wa", "conv"), u64(f.tk+7))
		}, "latest is"},
		{"conversation record missing", func(tx *Tx, f *checkFixture) {
			tx.del(convKey("wa", "conv"))
		}, "missing"},
		{"conversation inbound record not a time", func(tx *Tx, f *checkFixture) {
			tx.set(convInKey("wa", "conv"), []byte("soon"))
		}, "is not a time"},
		{"comment above its sequence", func(tx *Tx, f *checkFixture) {
			tx.set(key(pSeq, []byte(SeqComment)), u64(f.failed-1))
		}, "above the comment sequence"},
		{"comment not listed under its ticket", func(tx *Tx, f *checkFixture) {
			tx.del(ticketCommentKey(f.tk, f.inbound))
		}, "not listed under ticket"},
		{"ticket comment entry without comment", func(tx *Tx, f *checkFixture) {
			tx.set(ticketCommentKey(f.tk, f.failed+50), nil)
		}, "without comment"},
		{"comment on a missing ticket", func(tx *Tx, f *checkFixture) {
			tx.del(ticketKey(f.tk))
		}, "on missing ticket"},
		{"inline raw payload missing", func(tx *Tx, f *checkFixture) {
			tx.del(rawKey(f.inbound))
		}, "raw payload of comment"},
		{"raw payload record of a missing comment", func(tx *Tx, f *checkFixture) {
			tx.set(rawInfoKey(f.failed+50), []byte(`{}`))
		}, "raw payload record of missing comment"},
		{"outbox entry missing from the due index", func(tx *Tx, f *checkFixture) {
			tx.del(outboxDueKey(f.due, f.pending))
		}, "missing from the due index"},
		{"stale outbox due entry", func(tx *Tx, f *checkFixture) {
			tx.set(outboxDueKey(f.due, f.failed+50), nil)
		}, "stale outbox due entry"},
		{"outbox entry for a reply not pending", func(tx *Tx, f *checkFixture) {
			if err := tx.PutOutbox(&OutboxEntry{CommentID: f.inbound, TicketID: f.tk, Instance: "wa"}); err != nil {
				t.Fatal(err)
			}
		}, "not pending"},
		{"pending reply not queued", func(tx *Tx, f *checkFixture) {
			if err := tx.DeleteOutbox(f.pending); err != nil {
				t.Fatal(err)
			}
		}, "pending but not queued"},
		{"queued reply in the failed index", func(tx *Tx, f *checkFixture) {
			tx.set(failedKey("wa", f.pending), nil)
		}, "which is queued"},
		{"failed-reply entry of a missing comment", func(tx *Tx, f *checkFixture) {
			tx.set(failedKey("wa", f.failed+50), nil)
		}, "failed-reply entry"},
		{"dedupe entry pointing at another message", func(tx *Tx, f *checkFixture) {
			tx.set(extInKey("wa", "m2"), append(u64(f.tk), u64(f.inbound)...))
		}, "dedupe entry"},
		{"identity its user does not list", func(tx *Tx, f *checkFixture) {
			tx.set(identityKey("email", "bob@example.com"), u64(f.user))
		}, "does not list it"},
		{"identity of a missing user", func(tx *Tx, f *checkFixture) {
			tx.set(identityKey("email", "bob@example.com"), u64(f.user+50))
		}, "identity"},
		{"event above its sequence", func(tx *Tx, f *checkFixture) {
			last, err := tx.LastID(SeqEvent)
			if err != nil {
				t.Fatal(err)
			}
			tx.set(eventKey(last+5), []byte(`{}`))
		}, "above the event sequence"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newCheckFixture(t)
			if err := f.s.Check(context.Background()); err != nil {
				t.Fatalf("intact store: %v", err)
			}
			mustUpdate(t, f.s, func(tx *Tx) error {
				tc.damage(tx, f)
				return nil
			})
			err := f.s.Check(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check = %v, want a violation containing %q", err, tc.want)
			}
		})
	}
}

// TestCheckStopsWhenCancelled: Check of a cancelled context returns the
// context's error, not a verdict on the store.
func TestCheckStopsWhenCancelled(t *testing.T) {
	f := newCheckFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.s.Check(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Check = %v, want context.Canceled", err)
	}
}
