package search

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/internal/testutil"
)

// env is a real store and a real index in temporary directories.
type env struct {
	t     testing.TB
	dir   string
	clock *testutil.Clock
	st    *store.Store
	x     *Index
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), clock: testutil.NewClockAt(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))}
	st, err := store.Open(store.Options{Dir: filepath.Join(e.dir, "store"), Clock: e.clock.Now, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	e.st = st
	t.Cleanup(func() { st.Close() })
	e.openIndex()
	return e
}

func (e *env) indexDir() string { return filepath.Join(e.dir, "search") }

// openIndex opens the index and builds it if needed (as Run would).
func (e *env) openIndex() {
	e.t.Helper()
	x, err := Open(e.st, Options{Dir: e.indexDir(), Clock: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	if !x.Ready() {
		if err := x.rebuild(context.Background()); err != nil {
			e.t.Fatal(err)
		}
	}
	e.x = x
	e.t.Cleanup(func() { x.Close() })
}

func (e *env) closeIndex() {
	e.t.Helper()
	if err := e.x.Close(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) update(fn func(tx *store.Tx) error) {
	e.t.Helper()
	if err := e.st.Update(context.Background(), fn); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) user(name, email string, role ticket.Role, more ...ticket.Identity) uint64 {
	e.t.Helper()
	u := &ticket.User{Name: name, Email: email, Role: role, Identities: append([]ticket.Identity{{Type: "email", Value: email}}, more...)}
	e.update(func(tx *store.Tx) error { return tx.CreateUser(u) })
	return u.ID
}

// tkt creates a ticket with a first public comment.
func (e *env) tkt(subject, body string, requester uint64, mod ...func(*ticket.Ticket)) uint64 {
	e.t.Helper()
	t := &ticket.Ticket{Subject: subject, Status: ticket.StatusNew, Via: "email", Channel: "support", RequesterID: requester}
	for _, m := range mod {
		m(t)
	}
	e.update(func(tx *store.Tx) error {
		if err := tx.CreateTicket(t); err != nil {
			return err
		}
		return tx.CreateComment(&ticket.Comment{TicketID: t.ID, AuthorID: requester, Body: body, Public: true, Via: t.Via}, store.CommentOptions{})
	})
	return t.ID
}

func (e *env) comment(ticketID, author uint64, body string, public bool) uint64 {
	e.t.Helper()
	c := &ticket.Comment{TicketID: ticketID, AuthorID: author, Body: body, Public: public, Via: "api"}
	e.update(func(tx *store.Tx) error { return tx.CreateComment(c, store.CommentOptions{}) })
	return c.ID
}

func (e *env) patch(id uint64, fn func(*ticket.Ticket)) {
	e.t.Helper()
	e.update(func(tx *store.Tx) error {
		t, err := tx.Ticket(id)
		if err != nil {
			return err
		}
		fn(t)
		t.UpdatedAt = tx.Now()
		return tx.UpdateTicket(t)
	})
}

// catchUp indexes every committed event.
func (e *env) catchUp() {
	e.t.Helper()
	if _, err := e.x.CatchUp(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// search returns the ids of every hit of q (one page of 100).
func (e *env) search(q string, actor uint64) []uint64 {
	e.t.Helper()
	res, err := e.x.Search(context.Background(), Request{Query: q, Actor: actor, Limit: 100})
	if err != nil {
		e.t.Fatalf("search %q: %v", q, err)
	}
	return ids(res.Hits)
}

func ids(hits []Hit) []uint64 {
	out := []uint64{}
	for _, h := range hits {
		out = append(out, h.TicketID)
	}
	return out
}

// sameSet reports whether a and b hold the same ids.
func sameSet(a, b []uint64) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func queryError(err error) *QueryError {
	var qe *QueryError
	if errors.As(err, &qe) {
		return qe
	}
	return nil
}
