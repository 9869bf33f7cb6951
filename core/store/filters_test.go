package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// ids lists the ids of tickets.
func ids(ts []*ticket.Ticket) []uint64 {
	out := make([]uint64, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

func listAll(t *testing.T, s *Store, f TicketFilter) []uint64 {
	t.Helper()
	var all []uint64
	for {
		var page []*ticket.Ticket
		var next string
		if err := s.View(func(r *ReadTx) error {
			var err error
			page, next, err = r.ListTickets(f)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		all = append(all, ids(page)...)
		if next == "" {
			return all
		}
		f.Cursor = next
	}
}

// Tickets 1..12 with tags, priorities, groups and vias in a pattern; the
// filters (alone and together) list exactly the matching ones, newest
// first, across pages, and CountTickets agrees.
func TestListTicketsNewFilters(t *testing.T) {
	s := openTest(t)
	prios := []ticket.Priority{"", ticket.PriorityLow, ticket.PriorityHigh}
	groups := []string{"", "billing", "it"}
	mustUpdate(t, s, func(tx *Tx) error {
		for i := range 12 {
			tags := []string{}
			if i%2 == 0 {
				tags = append(tags, "vip")
			}
			if i%3 == 0 {
				tags = append(tags, "refund")
			}
			via := "email"
			if i%4 == 0 {
				via = "api"
			}
			if err := tx.CreateTicket(&ticket.Ticket{Subject: fmt.Sprint(i), Status: ticket.StatusNew, Via: via,
				Tags: tags, Priority: prios[i%3], Group: groups[(i/2)%3], RequesterID: 1}); err != nil {
				return err
			}
		}
		return nil
	})
	want := func(pred func(i int) bool) []uint64 {
		var out []uint64
		for i := 11; i >= 0; i-- {
			if pred(i) {
				out = append(out, uint64(i+1))
			}
		}
		return out
	}
	cases := []struct {
		name string
		f    TicketFilter
		want []uint64
	}{
		{"tag", TicketFilter{Tags: []string{"vip"}}, want(func(i int) bool { return i%2 == 0 })},
		{"two tags", TicketFilter{Tags: []string{"vip", "refund"}}, want(func(i int) bool { return i%6 == 0 })},
		{"priority", TicketFilter{Priority: ticket.PriorityHigh}, want(func(i int) bool { return i%3 == 2 })},
		{"group", TicketFilter{Group: "billing"}, want(func(i int) bool { return (i/2)%3 == 1 })},
		{"via", TicketFilter{Via: "api"}, want(func(i int) bool { return i%4 == 0 })},
		{"via and tag", TicketFilter{Via: "email", Tags: []string{"refund"}}, want(func(i int) bool { return i%4 != 0 && i%3 == 0 })},
		{"unknown tag", TicketFilter{Tags: []string{"nope"}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			f.Limit = 2
			if got := listAll(t, s, f); !slices.Equal(got, tc.want) {
				t.Fatalf("listed %v, want %v", got, tc.want)
			}
			var n int
			if err := s.View(func(r *ReadTx) error {
				var err error
				n, err = r.CountTickets(tc.f)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if n != len(tc.want) {
				t.Fatalf("count %d, want %d", n, len(tc.want))
			}
		})
	}
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Listing by update time pages oldest change first; tickets changed while
// a client pages are listed again after the cursor, never skipped, and
// updated_since cuts the older ones.
func TestListTicketsByUpdatedStable(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := Open(Options{Dir: t.TempDir(), Clock: func() time.Time { return clock() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i := range 6 {
		now = now.Add(time.Second)
		mustUpdate(t, s, func(tx *Tx) error {
			return tx.CreateTicket(&ticket.Ticket{Subject: fmt.Sprint(i), Status: ticket.StatusNew, Via: "api"})
		})
	}
	page := func(f TicketFilter) ([]uint64, string) {
		var list []*ticket.Ticket
		var next string
		if err := s.View(func(r *ReadTx) error {
			var err error
			list, next, err = r.ListTickets(f)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ids(list), next
	}
	got, next := page(TicketFilter{ByUpdated: true, Limit: 2})
	if !slices.Equal(got, []uint64{1, 2}) || next == "" {
		t.Fatalf("first page %v %q", got, next)
	}
	// Ticket 1 (already seen) and ticket 4 (not yet seen) change.
	for _, id := range []uint64{1, 4} {
		now = now.Add(time.Second)
		mustUpdate(t, s, func(tx *Tx) error {
			tk, err := tx.Ticket(id)
			if err != nil {
				return err
			}
			tk.Subject += "!"
			tk.UpdatedAt = time.Time{}
			return tx.UpdateTicket(tk)
		})
	}
	var rest []uint64
	for next != "" {
		got, next = page(TicketFilter{ByUpdated: true, Limit: 2, Cursor: next})
		rest = append(rest, got...)
	}
	if want := []uint64{3, 5, 6, 1, 4}; !slices.Equal(rest, want) {
		t.Fatalf("later pages %v, want %v", rest, want)
	}
	since := time.Date(2026, 12, 1, 10, 0, 5, 0, time.UTC) // ticket 5's creation
	if got := listAll(t, s, TicketFilter{ByUpdated: true, UpdatedSince: since}); !slices.Equal(got, []uint64{5, 6, 1, 4}) {
		t.Fatalf("updated since: %v", got)
	}
	if got := listAll(t, s, TicketFilter{UpdatedSince: since}); !slices.Equal(got, []uint64{6, 5, 4, 1}) {
		t.Fatalf("updated since, id order: %v", got)
	}
	var n int
	s.View(func(r *ReadTx) error {
		n, err = r.CountTickets(TicketFilter{UpdatedSince: since, Via: "api"})
		return err
	})
	if err != nil || n != 4 {
		t.Fatalf("count since: %d %v", n, err)
	}
	if err := s.View(func(r *ReadTx) error {
		_, _, err := r.ListTickets(TicketFilter{ByUpdated: true, Cursor: EncodeCursor(3)})
		return err
	}); err != ErrBadCursor {
		t.Fatalf("id cursor on an updated listing: %v", err)
	}
}

// Every write of a ticket moves its version on: creation, updates, a new
// comment, a requester merge.
func TestTicketVersionMovesOnEveryWrite(t *testing.T) {
	s := openTest(t)
	var id, u1, u2 uint64
	version := func() uint64 {
		var v uint64
		s.View(func(r *ReadTx) error {
			tk, err := r.Ticket(id)
			if err != nil {
				t.Fatal(err)
			}
			v = tk.Version
			return nil
		})
		return v
	}
	mustUpdate(t, s, func(tx *Tx) error {
		a := &ticket.User{Name: "a", Role: ticket.RoleEndUser, Identities: []ticket.Identity{{Type: "email", Value: "a@x.test"}}}
		b := &ticket.User{Name: "b", Role: ticket.RoleEndUser, Identities: []ticket.Identity{{Type: "email", Value: "b@x.test"}}}
		if err := tx.CreateUser(a); err != nil {
			return err
		}
		if err := tx.CreateUser(b); err != nil {
			return err
		}
		u1, u2 = a.ID, b.ID
		tk := &ticket.Ticket{Status: ticket.StatusNew, RequesterID: a.ID, Version: 99}
		if err := tx.CreateTicket(tk); err != nil {
			return err
		}
		id = tk.ID
		return nil
	})
	if v := version(); v != 1 {
		t.Fatalf("new ticket version %d", v)
	}
	steps := []struct {
		name string
		fn   func(tx *Tx) error
	}{
		{"update", func(tx *Tx) error {
			tk, _ := tx.Ticket(id)
			tk.Subject = "x"
			tk.Version = 1000 // ignored
			return tx.UpdateTicket(tk)
		}},
		{"comment", func(tx *Tx) error {
			return tx.CreateComment(&ticket.Comment{TicketID: id, AuthorID: u1, Body: "b", Public: false}, CommentOptions{})
		}},
		{"merge", func(tx *Tx) error {
			_, err := tx.MergeUsers(u1, u2)
			return err
		}},
	}
	last := version()
	for _, st := range steps {
		mustUpdate(t, s, st.fn)
		if v := version(); v <= last {
			t.Fatalf("%s: version %d after %d", st.name, v, last)
		} else {
			last = v
		}
	}
}

// A store written before the tag, priority, group, via and update-time
// indexes gets them at Open: filters find its tickets and Check passes.
func TestOpenUpgradesTicketIndexes(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 700 { // more than one upgrade batch
		mustUpdate(t, s, func(tx *Tx) error {
			return tx.CreateTicket(&ticket.Ticket{Status: ticket.StatusNew, Via: "api", Tags: []string{fmt.Sprintf("t%d", i%2)}})
		})
	}
	// Make it an old store: drop the new indexes and the format record.
	mustUpdate(t, s, func(tx *Tx) error {
		for _, p := range []string{pIxTag, pIxPriority, pIxGroup, pIxVia, pIxUpdated} {
			pairs, err := tx.r.scan([]byte(p), nil, 1<<20, true)
			if err != nil {
				return err
			}
			for _, kv := range pairs {
				tx.del(kv.Key)
			}
		}
		tx.del(metaKey(ticketIndexMeta))
		return nil
	})
	if err := s.Check(context.Background()); err == nil {
		t.Fatal("Check passes on a store without the new indexes")
	}
	s.Close()
	if s, err = Open(Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	var n int
	s.View(func(r *ReadTx) error { n, err = r.CountTickets(TicketFilter{Tags: []string{"t1"}}); return err })
	if err != nil || n != 350 {
		t.Fatalf("count by tag after upgrade: %d %v", n, err)
	}
}

// A tag or group holding a NUL byte (refused by the API today, possible in
// older records) is not indexed: it cannot be mistaken for a shorter
// value's entry, the ticket still lists under its other tags, and Check
// agrees.
func TestNULValuesAreNotIndexed(t *testing.T) {
	s := openTest(t)
	mustUpdate(t, s, func(tx *Tx) error {
		return tx.CreateTicket(&ticket.Ticket{Status: ticket.StatusNew, Via: "api", Tags: []string{"a\x00b", "ok"}, Group: "g\x00h"})
	})
	for _, tc := range []struct {
		f    TicketFilter
		want int
	}{
		{TicketFilter{Tags: []string{"a"}}, 0},
		{TicketFilter{Tags: []string{"ok"}}, 1},
		{TicketFilter{Group: "g"}, 0},
	} {
		var n int
		var err error
		s.View(func(r *ReadTx) error { n, err = r.CountTickets(tc.f); return err })
		if err != nil || n != tc.want {
			t.Errorf("%+v: %d %v, want %d", tc.f, n, err, tc.want)
		}
	}
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}
