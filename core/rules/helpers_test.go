package rules

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/inbound"
	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/store/storetest"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/internal/testutil"
	"github.com/patchbayhq/patchbay/sdk"
)

var testInstances = []inbound.Instance{
	{Name: "support", Kind: "email", Brand: "acme"},
	{Name: "it-help", Kind: "slack"},
}

type env struct {
	t     testing.TB
	dir   string
	clock *testutil.Clock
	st    *store.Store
	in    *inbound.Service
	eng   *Engine
	opts  Options
}

// testReceiverNetworks allows the loopback networks of httptest receivers.
var testReceiverNetworks = NetworkPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}

func newEnv(t testing.TB, mod ...func(*Options)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), clock: testutil.NewClock()}
	// The tests' receivers listen on loopback, which webhooks may reach
	// only when allowed.
	e.opts.WebhookNetworks = testReceiverNetworks
	for _, m := range mod {
		m(&e.opts)
	}
	e.open()
	return e
}

func (e *env) open() {
	e.t.Helper()
	st := storetest.Open(e.t, e.dir, e.clock.Now)
	e.st = st
	e.in = inbound.New(st, testInstances, inbound.Options{Clock: e.clock.Now})
	opts := e.opts
	opts.Clock = e.clock.Now
	e.eng = New(st, opts)
	if err := e.eng.Seed(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) reopen() {
	e.t.Helper()
	if err := e.st.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

func (e *env) deliver(instance, id, conv, author, text string, mod ...func(*sdk.InboundMessage)) *sdk.Receipt {
	e.t.Helper()
	m := &sdk.InboundMessage{ExternalID: id, ConversationKey: conv, Author: sdk.Party{ExternalID: author, Name: "Ann Example", Email: author + "@example.test"}, Text: text, Subject: text}
	for _, f := range mod {
		f(m)
	}
	r, err := e.in.Deliver(context.Background(), instance, m, nil)
	if err != nil {
		e.t.Fatalf("deliver %s: %v", id, err)
	}
	return r
}

// process runs the trigger follower until it is caught up.
func (e *env) process() {
	e.t.Helper()
	if _, err := e.eng.ProcessEvents(context.Background()); err != nil {
		e.t.Fatalf("process events: %v", err)
	}
}

func (e *env) ticket(id uint64) *ticket.Ticket {
	e.t.Helper()
	return storetest.Ticket(e.t, e.st, id)
}

func (e *env) comments(id uint64) []*ticket.Comment {
	e.t.Helper()
	return storetest.Comments(e.t, e.st, id)
}

func (e *env) update(fn func(*store.Tx) error) {
	e.t.Helper()
	storetest.Update(e.t, e.st, fn)
}

func (e *env) setStatus(id uint64, s ticket.Status) {
	e.t.Helper()
	storetest.SetStatus(e.t, e.st, id, 0, s)
}

func (e *env) rule(r *Rule) *Rule {
	e.t.Helper()
	out, err := e.eng.CreateRule(context.Background(), r)
	if err != nil {
		e.t.Fatalf("create %s %q: %v", r.Kind, r.Title, err)
	}
	return out
}

func cond(field, op string, v any) Condition { return Condition{Field: field, Operator: op, Value: v} }
func act(field string, v any) Action         { return Action{Field: field, Value: v} }

func all(cs ...Condition) *Conditions { return &Conditions{All: cs} }

// agent creates an agent user.
func (e *env) agent(name string) uint64 {
	e.t.Helper()
	var id uint64
	e.update(func(tx *store.Tx) error {
		u := &ticket.User{Name: name, Role: ticket.RoleAgent, Identities: []ticket.Identity{{Type: "api", Value: name}}}
		if err := tx.CreateUser(u); err != nil {
			return err
		}
		id = u.ID
		return nil
	})
	return id
}

func countBody(cs []*ticket.Comment, body string) int {
	n := 0
	for _, c := range cs {
		if c.Body == body {
			n++
		}
	}
	return n
}

// waitFor polls cond with a generous deadline (no sleeps as
// synchronisation: the condition is the synchronisation).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, what, cond)
}
