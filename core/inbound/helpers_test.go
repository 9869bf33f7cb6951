package inbound

import (
	"context"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/store/storetest"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/internal/testutil"
	"github.com/patchbayhq/patchbay/sdk"
)

var testInstances = []Instance{
	{Name: "support", Kind: "email", Brand: "acme"},
	{Name: "it-help", Kind: "slack"},
	{Name: "wa", Kind: "whatsapp", Attachments: sdk.AttachmentPolicy{Allow: []string{".pdf", ".txt"}, MaxBytes: 1000}},
}

type env struct {
	t     testing.TB
	dir   string
	clock *testutil.Clock
	st    *store.Store
	svc   *Service
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), clock: testutil.NewClock()}
	e.open()
	return e
}

func (e *env) open() {
	e.t.Helper()
	e.st = storetest.Open(e.t, e.dir, e.clock.Now)
	e.svc = New(e.st, testInstances, Options{Clock: e.clock.Now})
}

func (e *env) reopen() {
	e.t.Helper()
	if err := e.st.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

func msg(id, conv, author, text string) *sdk.InboundMessage {
	return &sdk.InboundMessage{
		ExternalID:      id,
		ConversationKey: conv,
		Author:          sdk.Party{ExternalID: author, Name: "Ann"},
		Text:            text,
		SentAt:          time.Date(2026, 3, 1, 8, 59, 0, 0, time.UTC),
	}
}

func (e *env) deliver(instance string, m *sdk.InboundMessage, att ...string) *sdk.Receipt {
	e.t.Helper()
	r, err := e.svc.Deliver(context.Background(), instance, m, att)
	if err != nil {
		e.t.Fatalf("deliver %s: %v", m.ExternalID, err)
	}
	return r
}

func (e *env) ticket(id uint64) *ticket.Ticket {
	e.t.Helper()
	return storetest.Ticket(e.t, e.st, id)
}

func (e *env) comments(id uint64) []*ticket.Comment {
	e.t.Helper()
	return storetest.Comments(e.t, e.st, id)
}

func (e *env) user(id uint64) *ticket.User {
	e.t.Helper()
	return storetest.User(e.t, e.st, id)
}

func (e *env) update(fn func(*store.Tx) error) {
	e.t.Helper()
	storetest.Update(e.t, e.st, fn)
}

func (e *env) setStatus(id uint64, s ticket.Status) {
	e.t.Helper()
	storetest.SetStatus(e.t, e.st, id, 99, s)
}

func (e *env) check() {
	e.t.Helper()
	if err := e.st.Check(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) countTickets() int {
	e.t.Helper()
	return int(storetest.Read(e.t, e.st, func(r *store.ReadTx) (uint64, error) { return r.LastID(store.SeqTicket) }))
}
