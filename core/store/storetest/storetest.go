// Package storetest holds the helpers the tests of the store's users (the
// inbound service, the rules engine) share to open a real store in a
// temporary directory and read or change it in one call, failing the test on
// an error instead of returning it.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// Open opens the store in dir with clock as its time source, and closes it
// when the test ends (a test that closed it already is not failed for it).
func Open(t testing.TB, dir string, clock func() time.Time) *store.Store {
	t.Helper()
	st, err := store.Open(store.Options{Dir: dir, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Read runs fn in a read transaction and returns what it returns.
func Read[T any](t testing.TB, st *store.Store, fn func(*store.ReadTx) (T, error)) T {
	t.Helper()
	var v T
	if err := st.View(func(r *store.ReadTx) error {
		var err error
		v, err = fn(r)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// Update runs fn in a write transaction.
func Update(t testing.TB, st *store.Store, fn func(*store.Tx) error) {
	t.Helper()
	if err := st.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// Ticket reads ticket id.
func Ticket(t testing.TB, st *store.Store, id uint64) *ticket.Ticket {
	t.Helper()
	return Read(t, st, func(r *store.ReadTx) (*ticket.Ticket, error) { return r.Ticket(id) })
}

// Comments reads every comment of ticket id, oldest first.
func Comments(t testing.TB, st *store.Store, id uint64) []*ticket.Comment {
	t.Helper()
	return Read(t, st, func(r *store.ReadTx) ([]*ticket.Comment, error) { return r.Comments(id, 0, 0) })
}

// User reads user id.
func User(t testing.TB, st *store.Store, id uint64) *ticket.User {
	t.Helper()
	return Read(t, st, func(r *store.ReadTx) (*ticket.User, error) { return r.User(id) })
}

// SetStatus moves ticket id to status s in one transaction, as actor.
// Closing a ticket that is not solved solves it first, as the lifecycle
// requires.
func SetStatus(t testing.TB, st *store.Store, id, actor uint64, s ticket.Status) {
	t.Helper()
	Update(t, st, func(tx *store.Tx) error {
		tk, err := tx.Ticket(id)
		if err != nil {
			return err
		}
		steps := []ticket.Status{s}
		if s == ticket.StatusClosed && tk.Status != ticket.StatusSolved {
			steps = []ticket.Status{ticket.StatusSolved, s}
		}
		for _, step := range steps {
			if _, err := (ticket.Patch{Status: &step}).Apply(tk, actor, tx.Now()); err != nil {
				return err
			}
		}
		return tx.UpdateTicket(tk)
	})
}
