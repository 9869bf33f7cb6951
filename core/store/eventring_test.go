package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// TestEventRingMatchesLog checks that Store.EventsAfter answers exactly as
// a read of the log in Badger does, whether the in-memory ring of recent
// events answers or not: across commits, after a failed commit (whose
// events never happened), after the ring wrapped, and after events were
// trimmed from the log.
func TestEventRingMatchesLog(t *testing.T) {
	clock := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	s, err := Open(Options{Dir: t.TempDir(), Clock: now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.events = newEventRing(8) // small, so it wraps
	ctx := context.Background()
	var tid uint64
	comment := func(n int) error {
		return s.Update(ctx, func(tx *Tx) error {
			if tid == 0 {
				tk := &ticket.Ticket{Status: ticket.StatusNew, Channel: "wa", ConversationKey: "c"}
				if err := tx.CreateTicket(tk); err != nil {
					return err
				}
				tid = tk.ID
			}
			return tx.CreateComment(&ticket.Comment{TicketID: tid, Body: fmt.Sprint(n)}, CommentOptions{})
		})
	}
	compare := func(step string) {
		t.Helper()
		var last uint64
		if err := s.View(func(r *ReadTx) error { last, err = r.LastID(SeqEvent); return err }); err != nil {
			t.Fatal(err)
		}
		for seq := uint64(0); seq <= last+1; seq++ {
			for _, limit := range []int{1, 3, 100} {
				got, err := s.EventsAfter(seq, limit)
				if err != nil {
					t.Fatal(err)
				}
				var want []Event
				if err := s.View(func(r *ReadTx) error { want, err = r.EventsAfter(seq, limit); return err }); err != nil {
					t.Fatal(err)
				}
				if len(got) == 0 && len(want) == 0 {
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: EventsAfter(%d, %d)\n%v\nthe log holds\n%v", step, seq, limit, got, want)
				}
			}
		}
	}
	steps := []struct {
		name string
		run  func()
	}{
		{"first commits", func() {
			for n := range 3 {
				if err := comment(n); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"failed commit", func() {
			s.commitHook = func(int) error { return errInjected }
			if err := comment(10); !errors.Is(err, errInjected) {
				t.Fatalf("commit: %v, want the injected failure", err)
			}
			s.commitHook = nil
			if err := comment(11); err != nil {
				t.Fatal(err)
			}
		}},
		{"ring wraps", func() {
			for n := range 12 {
				if err := comment(20 + n); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"events trimmed", func() {
			clock = clock.Add(time.Hour)
			if err := comment(40); err != nil {
				t.Fatal(err)
			}
			if n, err := s.TrimEvents(ctx, clock); err != nil || n == 0 {
				t.Fatalf("trimmed %d events: %v", n, err)
			}
		}},
		{"after the trim", func() {
			if err := comment(41); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, st := range steps {
		st.run()
		compare(st.name)
	}
}
