package outbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/internal/testutil"
	"github.com/patchbayhq/patchbay/sdk"
)

// fakeSender answers from a script: one result per call, the last one
// repeating.
type fakeSender struct {
	mu     sync.Mutex
	script []func(n int) (*sdk.SendResult, error)
	calls  []*sdk.OutboundMessage
	times  []time.Time
}

func (f *fakeSender) Send(ctx context.Context, instance string, m *sdk.OutboundMessage) (*sdk.SendResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.calls)
	f.calls = append(f.calls, m)
	f.times = append(f.times, time.Now())
	step := f.script[min(n, len(f.script)-1)]
	return step(n)
}

func (f *fakeSender) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func ok(n int) (*sdk.SendResult, error) { return &sdk.SendResult{ExternalID: "wamid.out"}, nil }
func down(n int) (*sdk.SendResult, error) {
	return nil, errors.New("plugin unavailable")
}
func throttled(n int) (*sdk.SendResult, error) {
	return nil, sdk.Retryable("rate_limited", errors.New("429 too many requests"), 200*time.Millisecond)
}
func window(n int) (*sdk.SendResult, error) {
	return nil, sdk.Permanent("outside_window", errors.New("more than 24 hours since the customer's last message"))
}

type env struct {
	t   *testing.T
	dir string
	st  *store.Store
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, dir: t.TempDir()}
	e.open()
	return e
}

func (e *env) open() {
	st, err := store.Open(store.Options{Dir: e.dir})
	if err != nil {
		e.t.Fatal(err)
	}
	e.st = st
	e.t.Cleanup(func() { st.Close() })
}

// seed creates a WhatsApp conversation with one inbound message and
// returns the ticket.
func (e *env) seed() *ticket.Ticket {
	var t *ticket.Ticket
	if err := e.st.Update(context.Background(), func(tx *store.Tx) error {
		u := &ticket.User{Name: "Ann", Identities: []ticket.Identity{{Type: "email", Value: "ann@x.test"}, {Type: "whatsapp", Value: "15550001"}}}
		if err := tx.CreateUser(u); err != nil {
			return err
		}
		t = &ticket.Ticket{Subject: "Help", Status: ticket.StatusNew, Channel: "wa", Via: "whatsapp", RequesterID: u.ID, ConversationKey: "15550001", LastInboundAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
		if err := tx.CreateTicket(t); err != nil {
			return err
		}
		return tx.CreateComment(&ticket.Comment{TicketID: t.ID, AuthorID: u.ID, Body: "hi", Public: true, ExternalID: "wamid.in1"}, store.CommentOptions{Instance: "wa"})
	}); err != nil {
		e.t.Fatal(err)
	}
	return t
}

// reply stores a public agent reply and its outbox entry in one Update.
func (e *env) reply(t *ticket.Ticket, body string) uint64 {
	var id uint64
	if err := e.st.Update(context.Background(), func(tx *store.Tx) error {
		agent := &ticket.User{Name: "Agent Smith", Role: ticket.RoleAgent, Identities: []ticket.Identity{{Type: "email", Value: fmt.Sprintf("agent%d@corp.test", time.Now().UnixNano())}}}
		if err := tx.CreateUser(agent); err != nil {
			return err
		}
		c := &ticket.Comment{TicketID: t.ID, AuthorID: agent.ID, Body: body, Public: true, Via: ticket.ViaAPI, Delivery: &ticket.Delivery{Status: ticket.DeliveryPending}}
		if err := tx.CreateComment(c, store.CommentOptions{}); err != nil {
			return err
		}
		id = c.ID
		return tx.EnqueueReply(t, c)
	}); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) run(s Sender, opts Options) (stop func()) {
	if opts.BaseBackoff == 0 {
		opts.BaseBackoff = 5 * time.Millisecond
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 20 * time.Millisecond
	}
	opts.Kinds = map[string]string{"wa": "whatsapp"}
	w := New(e.st, s, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func (e *env) delivery(id uint64) *ticket.Delivery {
	var c *ticket.Comment
	if err := e.st.View(func(r *store.ReadTx) error {
		var err error
		c, err = r.Comment(id)
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	return c.Delivery
}

func (e *env) waitStatus(id uint64, status string) *ticket.Delivery {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d := e.delivery(id)
		if d != nil && d.Status == status {
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("comment %d delivery %+v, want %s", id, d, status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) queued() int {
	var n int
	e.st.View(func(r *store.ReadTx) error {
		var err error
		n, err = r.OutboxLen()
		return err
	})
	return n
}

func TestSendOutcomes(t *testing.T) {
	cases := []struct {
		name      string
		script    []func(int) (*sdk.SendResult, error)
		maxTries  int
		want      string
		attempts  int
		errSubstr string
	}{
		{"sent first time", []func(int) (*sdk.SendResult, error){ok}, 0, ticket.DeliverySent, 1, ""},
		{"plugin down then recovers", []func(int) (*sdk.SendResult, error){down, down, down, ok}, 0, ticket.DeliverySent, 4, ""},
		{"retryable errors then sent", []func(int) (*sdk.SendResult, error){throttled, throttled, ok}, 0, ticket.DeliverySent, 3, ""},
		{"permanent error", []func(int) (*sdk.SendResult, error){window}, 0, ticket.DeliveryFailed, 1, "outside_window: more than 24 hours"},
		{"attempts exhausted", []func(int) (*sdk.SendResult, error){down}, 3, ticket.DeliveryFailed, 3, "gave up after 3 attempts: plugin unavailable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			tk := e.seed()
			id := e.reply(tk, "Try restarting the router.")
			if d := e.delivery(id); d.Status != ticket.DeliveryPending {
				t.Fatalf("queued delivery %+v", d)
			}
			f := &fakeSender{script: c.script}
			stop := e.run(f, Options{MaxAttempts: c.maxTries})
			d := e.waitStatus(id, c.want)
			stop()
			if d.Attempts != c.attempts || f.count() != c.attempts {
				t.Fatalf("attempts %d, sends %d, want %d", d.Attempts, f.count(), c.attempts)
			}
			if !strings.Contains(d.Error, c.errSubstr) {
				t.Fatalf("error %q, want %q", d.Error, c.errSubstr)
			}
			if c.want == ticket.DeliverySent && d.ExternalID != "wamid.out" {
				t.Fatalf("external id %q", d.ExternalID)
			}
			if n := e.queued(); n != 0 {
				t.Fatalf("%d entries left in the outbox", n)
			}
			for _, m := range f.calls {
				if m.IdempotencyKey != IdempotencyKey(id) {
					t.Fatalf("idempotency key %q", m.IdempotencyKey)
				}
			}
			if c.name == "retryable errors then sent" {
				for i := 1; i < len(f.times); i++ {
					if gap := f.times[i].Sub(f.times[i-1]); gap < 200*time.Millisecond {
						t.Fatalf("retry after %v, before the provider's Retry-After", gap)
					}
				}
			}
		})
	}
}

func TestOutboundMessageContents(t *testing.T) {
	e := newEnv(t)
	tk := e.seed()
	first := e.reply(tk, "first answer")
	f := &fakeSender{script: []func(int) (*sdk.SendResult, error){
		func(n int) (*sdk.SendResult, error) {
			return &sdk.SendResult{ExternalID: fmt.Sprintf("wamid.out%d", n)}, nil
		},
	}}
	stop := e.run(f, Options{})
	defer stop()
	e.waitStatus(first, ticket.DeliverySent)
	second := e.reply(tk, "second answer")
	e.waitStatus(second, ticket.DeliverySent)
	m := f.calls[1]
	if m.Recipient.ExternalID != "15550001" || m.Recipient.IdentityType != "whatsapp" || m.ConversationKey != "15550001" ||
		m.Subject != "Help" || m.Text != "second answer" || m.TicketID != tk.ID || m.CommentID != second ||
		!m.LastInboundAt.Equal(tk.LastInboundAt) || m.Author.Name != "Agent Smith" {
		t.Fatalf("outbound message %+v", m)
	}
	if fmt.Sprint(m.ThreadExternalIDs) != "[wamid.in1 wamid.out0]" {
		t.Fatalf("thread ids %v", m.ThreadExternalIDs)
	}
	// The sent id is indexed: receipts and replies find the comment.
	e.st.View(func(r *store.ReadTx) error {
		c, err := r.CommentByOutboundID("wa", "wamid.out1")
		if err != nil || c.ID != second {
			t.Errorf("outbound index: %v %v", c, err)
		}
		return nil
	})
	if err := e.st.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSurvivesReopen(t *testing.T) {
	e := newEnv(t)
	tk := e.seed()
	id := e.reply(tk, "answer")
	f := &fakeSender{script: []func(int) (*sdk.SendResult, error){down}}
	stop := e.run(f, Options{BaseBackoff: time.Hour, MaxBackoff: time.Hour})
	deadline := time.Now().Add(20 * time.Second)
	for e.delivery(id).Attempts < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no attempt")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	var entry *store.OutboxEntry
	e.st.View(func(r *store.ReadTx) error { entry, _ = r.OutboxEntry(id); return nil })
	if entry == nil || entry.Attempts != 1 || time.Until(entry.NextAttemptAt) < 20*time.Minute {
		t.Fatalf("persisted entry %+v", entry)
	}
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	e.open()
	// After the restart the entry is still there, with its due time: a clock
	// past it sends it.
	f2 := &fakeSender{script: []func(int) (*sdk.SendResult, error){ok}}
	stop = e.run(f2, Options{Clock: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	defer stop()
	d := e.waitStatus(id, ticket.DeliverySent)
	if d.Attempts != 2 || f2.count() != 1 {
		t.Fatalf("after reopen: %+v, %d sends", d, f2.count())
	}
}

func TestBackoffCappedWithJitter(t *testing.T) {
	w := New(nil, nil, Options{BaseBackoff: time.Second, MaxBackoff: 10 * time.Second})
	for n := 1; n <= 30; n++ {
		want := min(time.Second<<min(n-1, 20), 10*time.Second)
		for range 20 {
			d := w.backoff(n)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v]", n, d, want/2, want)
			}
		}
	}
}

func TestThreadIDsOfLongConversation(t *testing.T) {
	e := newEnv(t)
	tk := e.seed() // comment 1: wamid.in1
	e.st.Update(context.Background(), func(tx *store.Tx) error {
		for i := range 150 {
			c := &ticket.Comment{TicketID: tk.ID, Public: true, ExternalID: fmt.Sprintf("in-%d", i+2)}
			if i%10 == 0 {
				c.ExternalID = "" // an internal note now and then
			}
			if err := tx.CreateComment(c, store.CommentOptions{Instance: "wa"}); err != nil {
				return err
			}
		}
		return nil
	})
	reply := e.reply(tk, "answer")
	var ids []string
	if err := e.st.View(func(r *store.ReadTx) error {
		var err error
		ids, err = threadIDs(r, tk.ID, reply)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var want []string
	want = append(want, "wamid.in1")
	for i := 151; len(want) < 20; i-- {
		if (i-2)%10 != 0 {
			want = append(want[:1], append([]string{fmt.Sprintf("in-%d", i)}, want[1:]...)...)
		}
	}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("thread ids\n%v\nwant\n%v", ids, want)
	}
}

// TestThreadIDsLeaveOutInternalNotes: the message ids of internal notes
// (an unverified sender's mail kept for agents) never reach the customer in
// the reply's threading headers.
func TestThreadIDsLeaveOutInternalNotes(t *testing.T) {
	e := newEnv(t)
	tk := e.seed() // comment 1: wamid.in1
	e.st.Update(context.Background(), func(tx *store.Tx) error {
		for _, c := range []*ticket.Comment{
			{TicketID: tk.ID, Public: false, ExternalID: "stranger-1", Metadata: map[string]string{"reason": "unverified_sender"}},
			{TicketID: tk.ID, Public: true, ExternalID: "in-2"},
			{TicketID: tk.ID, Public: false, ExternalID: "stranger-2"},
		} {
			if err := tx.CreateComment(c, store.CommentOptions{Instance: "wa"}); err != nil {
				return err
			}
		}
		return nil
	})
	reply := e.reply(tk, "answer")
	var ids []string
	if err := e.st.View(func(r *store.ReadTx) error {
		var err error
		ids, err = threadIDs(r, tk.ID, reply)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids) != "[wamid.in1 in-2]" {
		t.Fatalf("thread ids %v", ids)
	}
}

// A reply whose channel plugin is down waits for the channel: those
// attempts do not count toward MaxAttempts (an outage never fails a reply),
// and ChannelUp sends it at once instead of after its backoff.
func TestWaitsForItsChannel(t *testing.T) {
	errDown := errors.New("channel plugin unavailable: channel \"wa\" is restarting")
	down := func(int) (*sdk.SendResult, error) { return nil, fmt.Errorf("send: %w", errDown) }
	e := newEnv(t)
	tk := e.seed()
	id := e.reply(tk, "Try restarting the router.")
	f := &fakeSender{script: []func(int) (*sdk.SendResult, error){down, down, ok}}
	w := New(e.st, f, Options{
		MaxAttempts: 1, // one counted failure would fail the reply
		BaseBackoff: time.Hour, MaxBackoff: time.Hour,
		Kinds:       map[string]string{"wa": "whatsapp"},
		Unavailable: func(err error) bool { return errors.Is(err, errDown) },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	for calls := 1; calls <= 2; calls++ {
		eventually(t, fmt.Sprintf("send attempt %d", calls), func() bool {
			var en *store.OutboxEntry
			_ = e.st.View(func(r *store.ReadTx) error {
				var err error
				en, err = r.OutboxEntry(id)
				return err
			})
			return f.count() == calls && en != nil && en.Waits == calls
		})
		d := e.delivery(id)
		if d.Status != ticket.DeliveryPending || d.Attempts != 0 || !strings.Contains(d.Error, "unavailable") {
			t.Fatalf("while the channel is down: %+v", d)
		}
		if err := w.ChannelUp(context.Background(), "other"); err != nil {
			t.Fatal(err)
		}
		if err := w.ChannelUp(context.Background(), "wa"); err != nil {
			t.Fatal(err)
		}
	}
	d := e.waitStatus(id, ticket.DeliverySent)
	if d.Attempts != 1 || f.count() != 3 || d.Error != "" {
		t.Fatalf("after the channel came back: %+v, %d sends", d, f.count())
	}
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, what, cond)
}
