package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustUpdate(t testing.TB, s *Store, fn func(*Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func TestCreateAndListTickets(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	mustUpdate(t, s, func(tx *Tx) error {
		for i := range 10 {
			st := ticket.StatusNew
			if i%2 == 1 {
				st = ticket.StatusOpen
			}
			if err := tx.CreateTicket(&ticket.Ticket{Subject: fmt.Sprint(i), Status: st, Channel: "c", RequesterID: uint64(i%3 + 1)}); err != nil {
				return err
			}
		}
		return nil
	})
	var got []uint64
	cursor := ""
	for {
		var page []*ticket.Ticket
		var next string
		if err := s.View(func(r *ReadTx) error {
			var err error
			page, next, err = r.ListTickets(TicketFilter{Status: ticket.StatusOpen, Limit: 2, Cursor: cursor})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for _, tk := range page {
			got = append(got, tk.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if fmt.Sprint(got) != "[10 8 6 4 2]" {
		t.Fatalf("open tickets newest first = %v", got)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestFailingFnDiscardedAlone(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(ctx, func(tx *Tx) error {
				if err := tx.CreateTicket(&ticket.Ticket{Subject: fmt.Sprint(i), Status: ticket.StatusNew}); err != nil {
					return err
				}
				if i%4 == 0 {
					return errors.New("boom")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		if i%4 == 0 && err == nil || i%4 != 0 && err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		if err == nil {
			ok++
		}
	}
	var n int
	s.View(func(r *ReadTx) error {
		ts, _, err := r.ListTickets(TicketFilter{Limit: 100})
		n = len(ts)
		last, _ := r.LastID(SeqTicket)
		if int(last) != ok {
			t.Errorf("ticket sequence %d, want %d", last, ok)
		}
		return err
	})
	if n != ok {
		t.Fatalf("%d tickets, want %d", n, ok)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	_ = time.Now
}
