package store

import (
	"context"
	"sync"
	"testing"

	"github.com/patchbayhq/patchbay/core/ticket"
)

var statuses = []ticket.Status{ticket.StatusNew, ticket.StatusOpen, ticket.StatusPending, ticket.StatusHold, ticket.StatusSolved, ticket.StatusClosed}

var (
	fixtureOnce sync.Once
	fixture     *Store
	fixtureErr  error
)

// bigStore returns a store holding 100,000 tickets, built once per run in
// large batches straight through the store.
func bigStore(b *testing.B) *Store {
	fixtureOnce.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			fixtureErr = err
			return
		}
		fixture, fixtureErr = Open(Options{Dir: dir})
		if fixtureErr != nil {
			return
		}
		const total, batch = 100_000, 2_000
		for done := 0; done < total && fixtureErr == nil; done += batch {
			fixtureErr = fixture.Update(context.Background(), func(tx *Tx) error {
				for i := range batch {
					n := done + i
					tk := &ticket.Ticket{Subject: "fixture", Status: statuses[n%len(statuses)], Channel: []string{"wa", "mail", "slack"}[n%3], Via: "whatsapp", RequesterID: uint64(n%5000 + 1), AssigneeID: uint64(n % 40),
						Tags: []string{[]string{"vip", "billing", "refund", "vpn"}[n%4]}}
					if err := tx.CreateTicket(tk); err != nil {
						return err
					}
				}
				return nil
			})
		}
	})
	if fixtureErr != nil {
		b.Fatal(fixtureErr)
	}
	return fixture
}

// BenchmarkListTicketsByStatus lists the 50 newest open tickets (one page)
// and the next page, in a store holding 100,000 tickets.
func BenchmarkListTicketsByStatus(b *testing.B) {
	s := bigStore(b)
	b.ResetTimer()
	for b.Loop() {
		var next string
		err := s.View(func(r *ReadTx) error {
			ts, c, err := r.ListTickets(TicketFilter{Status: ticket.StatusOpen, Limit: 50})
			if len(ts) != 50 {
				b.Fatalf("%d tickets", len(ts))
			}
			next = c
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		if next == "" {
			b.Fatal("no next page")
		}
	}
}

// BenchmarkListTicketsTwoFilters lists 50 tickets by status and channel.
func BenchmarkListTicketsTwoFilters(b *testing.B) {
	s := bigStore(b)
	b.ResetTimer()
	for b.Loop() {
		err := s.View(func(r *ReadTx) error {
			ts, _, err := r.ListTickets(TicketFilter{Status: ticket.StatusOpen, Channel: "mail", Limit: 50})
			if len(ts) != 50 {
				b.Fatalf("%d tickets", len(ts))
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListTicketsByTagAndStatus lists 50 open tickets tagged billing
// (a tag index driving, the status checked by index lookups).
func BenchmarkListTicketsByTagAndStatus(b *testing.B) {
	s := bigStore(b)
	b.ResetTimer()
	for b.Loop() {
		err := s.View(func(r *ReadTx) error {
			ts, _, err := r.ListTickets(TicketFilter{Tags: []string{"billing"}, Status: ticket.StatusOpen, Limit: 50})
			if len(ts) != 50 {
				b.Fatalf("%d tickets", len(ts))
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListTicketsByUpdated reads one 50-ticket page of the sync
// listing (update-time order) from the middle of the store.
func BenchmarkListTicketsByUpdated(b *testing.B) {
	s := bigStore(b)
	var mid *ticket.Ticket
	if err := s.View(func(r *ReadTx) (err error) { mid, err = r.Ticket(50_000); return err }); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		err := s.View(func(r *ReadTx) error {
			ts, _, err := r.ListTickets(TicketFilter{ByUpdated: true, UpdatedSince: mid.UpdatedAt, Limit: 50})
			if len(ts) != 50 {
				b.Fatalf("%d tickets", len(ts))
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCountTicketsByStatus counts the open tickets (one sixth of
// 100,000) from index keys alone.
func BenchmarkCountTicketsByStatus(b *testing.B) {
	s := bigStore(b)
	b.ResetTimer()
	for b.Loop() {
		err := s.View(func(r *ReadTx) error {
			n, err := r.CountTickets(TicketFilter{Status: ticket.StatusOpen})
			if n != 100_000/len(statuses) && n != 100_000/len(statuses)+1 {
				b.Fatalf("%d open tickets", n)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
