package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// TestCommitFailureFailsDependentUnits makes one commit fail while later
// functions were already running on top of it: every caller whose writes
// were in it or read from it gets an error, nothing of theirs is visible,
// and the store goes on working and consistent.
func TestCommitFailureFailsDependentUnits(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	release := make(chan struct{})
	var commits atomic.Int32
	failed := errors.New("disk on fire")
	s.commitHook = func(int) error {
		switch commits.Add(1) {
		case 1:
			<-release // hold the first commit so the next units pile up on it
			return failed
		}
		return nil
	}
	// First update: creates the conversation's ticket; its commit fails.
	firstErr := make(chan error, 1)
	go func() {
		firstErr <- s.Update(ctx, func(tx *Tx) error {
			return tx.CreateTicket(&ticket.Ticket{Status: ticket.StatusNew, Channel: "wa", ConversationKey: "c"})
		})
	}()
	// Wait until the writer handed it to the committer.
	deadline := time.Now().Add(10 * time.Second)
	for commits.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("first commit never started")
		}
		time.Sleep(time.Millisecond)
	}
	// Later updates read the pending ticket (it is in an overlay).
	var wg sync.WaitGroup
	var sawPending atomic.Int32
	errs := make(chan error, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Update(ctx, func(tx *Tx) error {
				tk, err := tx.TicketByConversation("wa", "c")
				if err != nil {
					return err
				}
				sawPending.Add(1)
				return tx.CreateComment(&ticket.Comment{TicketID: tk.ID, Body: "x"}, CommentOptions{})
			})
		}()
	}
	// Let them queue and run (they block on the held commit), then fail it.
	for deadline := time.Now().Add(10 * time.Second); sawPending.Load() < 10 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	if err := <-firstErr; !errors.Is(err, failed) {
		t.Fatalf("first update: %v", err)
	}
	for err := range errs {
		if !errors.Is(err, failed) {
			t.Fatalf("dependent update acknowledged or wrong error: %v", err)
		}
	}
	// Nothing of it is visible; the store works on.
	s.View(func(r *ReadTx) error {
		if _, err := r.TicketByConversation("wa", "c"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("failed ticket visible: %v", err)
		}
		return nil
	})
	var tk ticket.Ticket
	tk.Status = ticket.StatusNew
	mustUpdate(t, s, func(tx *Tx) error { return tx.CreateTicket(&tk) })
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestOnlineBackupUnderLoad takes a backup while writers run and checks
// the restored store is consistent.
func TestOnlineBackupUnderLoad(t *testing.T) {
	s := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				s.Update(ctx, func(tx *Tx) error {
					conv := fmt.Sprintf("c%d", (g+n)%13)
					tk, err := tx.TicketByConversation("wa", conv)
					if errors.Is(err, ErrNotFound) {
						tk = &ticket.Ticket{Status: ticket.StatusNew, Channel: "wa", ConversationKey: conv}
						if err := tx.CreateTicket(tk); err != nil {
							return err
						}
					} else if err != nil {
						return err
					} else {
						tk.Status = []ticket.Status{ticket.StatusOpen, ticket.StatusPending, ticket.StatusSolved}[n%3]
						if err := tx.UpdateTicket(tk); err != nil {
							return err
						}
					}
					return tx.CreateComment(&ticket.Comment{TicketID: tk.ID, ExternalID: fmt.Sprintf("g%d-%d", g, n)}, CommentOptions{Instance: "wa"})
				})
			}
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); s.Stats().Updates < 200 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	var buf bytes.Buffer
	err := s.Backup(context.Background(), &buf)
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Restore(context.Background(), Options{Dir: dir}, &buf); err != nil {
		t.Fatal(err)
	}
	r, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	var n uint64
	r.View(func(rt *ReadTx) error { n, _ = rt.LastID(SeqComment); return nil })
	if n == 0 {
		t.Fatal("backup is empty")
	}
}

// TestNoUnitBuildsOnAFailedOne checks that after a failed commit, updates
// that come later never see the failed writes, even the ones run while the
// failed unit's dependants were still being sealed.
func TestNoUnitBuildsOnAFailedOne(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var commits atomic.Int32
	s.commitHook = func(int) error {
		if commits.Add(1)%3 == 1 {
			return errors.New("injected failure")
		}
		return nil
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 40 {
				s.Update(ctx, func(tx *Tx) error {
					conv := fmt.Sprintf("c%d", (g+n)%5)
					tk, err := tx.TicketByConversation("wa", conv)
					if errors.Is(err, ErrNotFound) {
						tk = &ticket.Ticket{Status: ticket.StatusNew, Channel: "wa", ConversationKey: conv}
						if err := tx.CreateTicket(tk); err != nil {
							return err
						}
					} else if err != nil {
						return err
					}
					return tx.CreateComment(&ticket.Comment{TicketID: tk.ID, ExternalID: fmt.Sprintf("g%d-%d", g, n)}, CommentOptions{Instance: "wa"})
				})
			}
		}()
	}
	wg.Wait()
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestStaleUnitNotReadAfterFailure pins the order that matters: unit A
// fails; unit U (built on A) is sealed after the failure and is still
// queued when update C runs. C must not read U's writes (they will never
// commit), or C would commit a comment on a ticket that does not exist.
func TestStaleUnitNotReadAfterFailure(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	releaseA, releaseU := make(chan struct{}), make(chan struct{})
	var commits atomic.Int32
	s.commitHook = func(int) error {
		switch commits.Add(1) {
		case 1:
			<-releaseA
			return errors.New("A fails")
		case 2:
			<-releaseU
		}
		return nil
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	appendToConv := func(ran *atomic.Bool, sawExisting *atomic.Bool) func(*Tx) error {
		return func(tx *Tx) error {
			defer ran.Store(true)
			tk, err := tx.TicketByConversation("wa", "c")
			if errors.Is(err, ErrNotFound) {
				tk = &ticket.Ticket{Status: ticket.StatusNew, Channel: "wa", ConversationKey: "c"}
				if err := tx.CreateTicket(tk); err != nil {
					return err
				}
			} else if err != nil {
				return err
			} else {
				sawExisting.Store(true)
			}
			// A counter every update increments: C must count from
			// durable data only.
			v, _, err := tx.State("wa", "count")
			if err != nil {
				return err
			}
			if err := tx.SetState("wa", "count", append(v, 'x')); err != nil {
				return err
			}
			return tx.CreateComment(&ticket.Comment{TicketID: tk.ID, Body: "x"}, CommentOptions{})
		}
	}
	var aRan, aSaw, bRan, bSaw, cRan, cSaw atomic.Bool
	errA, errB, errC := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	go func() { errA <- s.Update(ctx, appendToConv(&aRan, &aSaw)) }()
	waitFor("A's commit", func() bool { return commits.Load() == 1 })
	go func() { errB <- s.Update(ctx, appendToConv(&bRan, &bSaw)) }()
	waitFor("B to run", bRan.Load)
	close(releaseA)
	waitFor("B's unit to reach the committer", func() bool { return commits.Load() == 2 })
	go func() { errC <- s.Update(ctx, appendToConv(&cRan, &cSaw)) }()
	waitFor("C to run", cRan.Load)
	close(releaseU)
	if err := <-errA; err == nil {
		t.Fatal("A acknowledged")
	}
	if err := <-errB; err == nil || !bSaw.Load() {
		t.Fatalf("B: err %v, saw A's ticket %v", err, bSaw.Load())
	}
	if err := <-errC; err != nil {
		t.Fatalf("C: %v", err)
	}
	if cSaw.Load() {
		t.Fatal("C read writes of a unit built on a failed commit")
	}
	s.View(func(r *ReadTx) error {
		if v, _, _ := r.State("wa", "count"); string(v) != "x" {
			t.Fatalf("counter %q after one successful update: C read a failed unit's writes", v)
		}
		return nil
	})
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}
