package outbox

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/internal/testutil/metrictest"
	"github.com/patchbayhq/patchbay/sdk"
)

// switchSender fails every send while broken is set, with err.
type switchSender struct {
	broken atomic.Bool
	err    error
	sent   atomic.Int64
	calls  atomic.Int64
}

func (s *switchSender) Send(ctx context.Context, instance string, m *sdk.OutboundMessage) (*sdk.SendResult, error) {
	s.calls.Add(1)
	if s.broken.Load() {
		return nil, s.err
	}
	s.sent.Add(1)
	return &sdk.SendResult{ExternalID: "wamid." + m.IdempotencyKey}, nil
}

func (e *env) worker(s Sender, opts Options) (*Worker, func()) {
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
	return w, func() { cancel(); <-done }
}

func (e *env) update(fn func(tx *store.Tx) error) error {
	return e.st.Update(context.Background(), fn)
}

func TestRetryFailedReply(t *testing.T) {
	e := newEnv(t)
	tk := e.seed()
	s := &switchSender{err: sdk.Permanent("bad_recipient", errors.New("recipient unknown"))}
	s.broken.Store(true)
	w, stop := e.worker(s, Options{})
	defer stop()
	id := e.reply(tk, "hello")
	e.waitStatus(id, ticket.DeliveryFailed)
	var failed []uint64
	_ = e.st.View(func(r *store.ReadTx) error { failed, _ = r.FailedReplies("wa", 10); return nil })
	if len(failed) != 1 || failed[0] != id {
		t.Fatalf("failed index %v, want [%d]", failed, id)
	}

	// Wrong ticket: not found, nothing changes.
	if err := e.update(func(tx *store.Tx) error { _, err := Retry(tx, tk.ID+1, id); return err }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("retry under another ticket: %v", err)
	}
	s.broken.Store(false)
	if err := e.update(func(tx *store.Tx) error {
		c, err := Retry(tx, tk.ID, id)
		if err == nil && (c.Delivery.Status != ticket.DeliveryPending || c.Delivery.Attempts != 0) {
			t.Errorf("retried delivery %+v", c.Delivery)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	w.Kick()
	d := e.waitStatus(id, ticket.DeliverySent)
	if d.Attempts != 1 || d.Error != "" {
		t.Errorf("delivery after the retry %+v: want one attempt, no error", d)
	}
	_ = e.st.View(func(r *store.ReadTx) error { failed, _ = r.FailedReplies("wa", 10); return nil })
	if len(failed) != 0 {
		t.Errorf("failed index after the retry: %v", failed)
	}
	// A sent reply is not retried.
	if err := e.update(func(tx *store.Tx) error { _, err := Retry(tx, tk.ID, id); return err }); !errors.Is(err, ErrNotFailed) {
		t.Fatalf("retry of a sent reply: %v", err)
	}
	if err := e.st.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestOutageLongerThanTheRetryBudget: a provider outage fails every queued
// reply (MaxAttempts spent); once it is over, one bulk retry of the
// channel sends them all.
func TestOutageLongerThanTheRetryBudget(t *testing.T) {
	e := newEnv(t)
	tk := e.seed()
	s := &switchSender{err: errors.New("provider answered 503")}
	s.broken.Store(true)
	w, stop := e.worker(s, Options{MaxAttempts: 3})
	defer stop()
	var ids []uint64
	for range 5 {
		ids = append(ids, e.reply(tk, "during the outage"))
	}
	for _, id := range ids {
		if d := e.waitStatus(id, ticket.DeliveryFailed); !strings.Contains(d.Error, "gave up after 3 attempts") {
			t.Fatalf("delivery %+v", d)
		}
	}
	st, err := w.ChannelStatus()
	if err != nil {
		t.Fatal(err)
	}
	if got := st["wa"]; got.Failed != 5 || got.Depth != 0 || !got.Degraded || !strings.Contains(got.LastError, "503") {
		t.Fatalf("channel status after the outage %+v", got)
	}
	s.broken.Store(false)
	var n int
	if err := e.update(func(tx *store.Tx) error {
		var err error
		var examined int
		n, examined, err = RetryFailed(tx, "wa", 100)
		if examined != 5 {
			t.Errorf("RetryFailed examined %d, want 5", examined)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Fatalf("RetryFailed = %d, want 5", n)
	}
	w.Kick()
	for _, id := range ids {
		e.waitStatus(id, ticket.DeliverySent)
	}
	if got := s.sent.Load(); got != 5 {
		t.Errorf("%d sends succeeded, want 5 (one per reply)", got)
	}
	// The store part of the status is up to two seconds old.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ = w.ChannelStatus()
		if got := st["wa"]; got.Failed == 0 && !got.Degraded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("channel status after the retry %+v", st["wa"])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBackoffResetsWhenChannelRecovers: replies backing off after failed
// attempts go out as soon as one send to their channel succeeds again, not
// after their backoff (a minute here).
func TestBackoffResetsWhenChannelRecovers(t *testing.T) {
	e := newEnv(t)
	tk := e.seed()
	s := &switchSender{err: errors.New("provider answered 500")}
	s.broken.Store(true)
	_, stop := e.worker(s, Options{BaseBackoff: time.Minute, MaxBackoff: time.Minute})
	defer stop()
	var ids []uint64
	for range 4 {
		ids = append(ids, e.reply(tk, "before recovery"))
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.calls.Load() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("%d attempts, want 4", s.calls.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.broken.Store(false)
	fresh := e.reply(tk, "after recovery") // due at once: succeeds
	e.waitStatus(fresh, ticket.DeliverySent)
	// The others were due in 30-60 s; waitStatus gives up after 20 s.
	for _, id := range ids {
		if d := e.waitStatus(id, ticket.DeliverySent); d.Attempts != 2 {
			t.Errorf("reply %d: %d attempts, want 2", id, d.Attempts)
		}
	}
}

// TestOutboxMetrics: depth, oldest pending age, failed count and degraded
// per channel are exported.
func TestOutboxMetrics(t *testing.T) {
	e := newEnv(t)
	tk := e.seed()
	s := &switchSender{err: errors.New("provider answered 500")}
	s.broken.Store(true)
	reg := prometheus.NewRegistry()
	_, stop := e.worker(s, Options{BaseBackoff: time.Hour, MaxBackoff: time.Hour, Registerer: reg})
	defer stop()
	for range 3 {
		e.reply(tk, "queued")
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.calls.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no attempts")
		}
		time.Sleep(5 * time.Millisecond)
	}
	gauge := func(name string) (float64, bool) {
		return metrictest.Value(t, reg, name, map[string]string{"channel": "wa"})
	}
	// The third attempt's outcome is recorded just after its send returns.
	for v, _ := gauge("patchbay_outbox_channel_degraded"); v != 1; v, _ = gauge("patchbay_outbox_channel_degraded") {
		if time.Now().After(deadline) {
			t.Fatal("the channel never showed degraded")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for name, want := range map[string]float64{
		"patchbay_outbox_depth":              3,
		"patchbay_outbox_waiting_for_plugin": 0,
		"patchbay_outbox_failed_replies":     0,
	} {
		if got, ok := gauge(name); !ok || got != want {
			t.Errorf("%s{channel=wa} = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if got, ok := gauge("patchbay_outbox_oldest_pending_age_seconds"); !ok || got < 0 || got > 60 {
		t.Errorf("oldest pending age %v s (present %v)", got, ok)
	}
}

// TestStepClock: the worker's clock ignores a step of the wall clock back
// and follows one forward.
func TestStepClock(t *testing.T) {
	base := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	wall, mono := base, time.Duration(0)
	c := &stepClock{wall: func() time.Time { return wall }, elapsed: func() time.Duration { return mono }, last: base}
	steps := []struct {
		name      string
		advance   time.Duration // real (monotonic) time passing
		wallDelta time.Duration // wall clock change besides that
		want      time.Time
	}{
		{"runs", 2 * time.Second, 0, base.Add(2 * time.Second)},
		{"wall steps back an hour", time.Second, -time.Hour, base.Add(3 * time.Second)},
		{"keeps running after the step", 2 * time.Second, 0, base.Add(5 * time.Second)},
		{"wall steps forward two hours", time.Second, 2 * time.Hour, base.Add(-time.Hour + 2*time.Hour + 6*time.Second)},
	}
	for _, s := range steps {
		mono += s.advance
		wall = wall.Add(s.advance + s.wallDelta)
		if got := c.Now(); !got.Equal(s.want) {
			t.Fatalf("%s: Now = %v, want %v", s.name, got, s.want)
		}
	}
}

// TestClockStepBackDoesNotHoldReplies: the system clock steps back an hour
// while a reply backs off after a failed attempt. The worker's clock
// follows monotonic time, so the retry still comes after its backoff (a
// fraction of a second here), not an hour later as with due times compared
// to the wall clock (with Clock: wall this test fails).
func TestClockStepBackDoesNotHoldReplies(t *testing.T) {
	e := newEnv(t)
	tk := e.seed()
	start := time.Now()
	var step atomic.Int64 // how far the wall clock was stepped back
	wall := func() time.Time { return start.Round(0).Add(time.Since(start) - time.Duration(step.Load())) }
	clock := &stepClock{wall: wall, elapsed: func() time.Duration { return time.Since(start) }, last: start.Round(0)}
	s := &switchSender{err: errors.New("provider answered 500")}
	s.broken.Store(true)
	_, stop := e.worker(s, Options{Clock: clock.Now, BaseBackoff: 200 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	defer stop()
	id := e.reply(tk, "across a clock step")
	deadline := time.Now().Add(10 * time.Second)
	for s.calls.Load() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no first attempt")
		}
		time.Sleep(5 * time.Millisecond)
	}
	step.Store(int64(time.Hour))
	s.broken.Store(false)
	e.waitStatus(id, ticket.DeliverySent) // gives up after 20 s
}
