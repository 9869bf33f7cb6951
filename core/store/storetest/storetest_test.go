package storetest

import (
	"testing"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/internal/testutil"
)

// TestHelpersOnARealStore: what Update writes, Ticket, Comments, User and
// Read read back from a real store; SetStatus closes an open ticket (which
// the lifecycle refuses unless it is solved first, so SetStatus solves it).
func TestHelpersOnARealStore(t *testing.T) {
	clock := testutil.NewClock()
	st := Open(t, t.TempDir(), clock.Now)
	u := &ticket.User{Name: "Ann", Role: ticket.RoleEndUser, Identities: []ticket.Identity{{Type: "email", Value: "ann@example.com"}}}
	tk := &ticket.Ticket{Subject: "VPN", Status: ticket.StatusOpen, Via: "email", Channel: "support"}
	Update(t, st, func(tx *store.Tx) error {
		if err := tx.CreateUser(u); err != nil {
			return err
		}
		tk.RequesterID = u.ID
		if err := tx.CreateTicket(tk); err != nil {
			return err
		}
		return tx.CreateComment(&ticket.Comment{TicketID: tk.ID, AuthorID: u.ID, Body: "It is down.", Public: true, Via: "email"}, store.CommentOptions{})
	})

	if got := User(t, st, u.ID); got.Name != "Ann" {
		t.Fatalf("User = %+v", got)
	}
	if got := Ticket(t, st, tk.ID); got.Subject != "VPN" || got.Status != ticket.StatusOpen {
		t.Fatalf("Ticket = %+v", got)
	}
	if cs := Comments(t, st, tk.ID); len(cs) != 1 || cs[0].Body != "It is down." {
		t.Fatalf("Comments = %+v", cs)
	}
	if last := Read(t, st, func(r *store.ReadTx) (uint64, error) { return r.LastID(store.SeqTicket) }); last != tk.ID {
		t.Fatalf("last ticket id %d, want %d", last, tk.ID)
	}

	SetStatus(t, st, tk.ID, 0, ticket.StatusClosed)
	if got := Ticket(t, st, tk.ID); got.Status != ticket.StatusClosed {
		t.Fatalf("after SetStatus(closed) the ticket is %q", got.Status)
	}
}
