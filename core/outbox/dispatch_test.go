package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/patchbayhq/patchbay/config"
	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/internal/testutil/metrictest"
	"github.com/patchbayhq/patchbay/sdk"
)

// channelSender answers per channel instance: sends to a channel in hold
// block until release is closed (a hanging provider); the others succeed
// at once. It records the most sends of each channel in flight at once.
type channelSender struct {
	hold    map[string]bool
	release chan struct{}

	mu          sync.Mutex
	inflight    map[string]int
	maxInflight map[string]int
	sent        map[uint64]int
	calls       map[string]int
}

func newChannelSender(hold ...string) *channelSender {
	s := &channelSender{hold: map[string]bool{}, release: make(chan struct{}),
		inflight: map[string]int{}, maxInflight: map[string]int{}, sent: map[uint64]int{}, calls: map[string]int{}}
	for _, h := range hold {
		s.hold[h] = true
	}
	return s
}

func (s *channelSender) Send(ctx context.Context, instance string, m *sdk.OutboundMessage) (*sdk.SendResult, error) {
	s.mu.Lock()
	s.calls[instance]++
	s.inflight[instance]++
	s.maxInflight[instance] = max(s.maxInflight[instance], s.inflight[instance])
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight[instance]--
		s.mu.Unlock()
	}()
	if s.hold[instance] {
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	s.sent[m.CommentID]++
	s.mu.Unlock()
	return &sdk.SendResult{ExternalID: fmt.Sprintf("out-%d", m.CommentID)}, nil
}

func (s *channelSender) stats(instance string) (calls, maxInflight int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[instance], s.maxInflight[instance]
}

// queueReplies stores n public replies on a new ticket of the channel
// instance, in one Update, and returns their comment ids.
func (e *env) queueReplies(instance string, n int) []uint64 {
	var ids []uint64
	if err := e.st.Update(context.Background(), func(tx *store.Tx) error {
		u := &ticket.User{Name: "Customer", Identities: []ticket.Identity{{Type: "whatsapp", Value: fmt.Sprintf("1555%07d", time.Now().UnixNano()%10_000_000)}}}
		if err := tx.CreateUser(u); err != nil {
			return err
		}
		tk := &ticket.Ticket{Subject: "Help", Status: ticket.StatusOpen, Channel: instance, Via: "whatsapp", RequesterID: u.ID, ConversationKey: u.Identities[0].Value}
		if err := tx.CreateTicket(tk); err != nil {
			return err
		}
		for i := range n {
			c := &ticket.Comment{TicketID: tk.ID, Body: fmt.Sprintf("reply %d on %s", i, instance), Public: true, Via: ticket.ViaAPI, Delivery: &ticket.Delivery{Status: ticket.DeliveryPending}}
			if err := tx.CreateComment(c, store.CommentOptions{}); err != nil {
				return err
			}
			if err := tx.EnqueueReply(tk, c); err != nil {
				return err
			}
			ids = append(ids, c.ID)
		}
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return ids
}

// startWorker runs a worker over the env's store with the given options
// (Kinds naming every instance as WhatsApp).
func (e *env) startWorker(s Sender, opts Options, instances ...string) (stop func()) {
	opts.Kinds = map[string]string{}
	for _, in := range instances {
		opts.Kinds[in] = "whatsapp"
	}
	w := New(e.st, s, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// A channel whose provider hangs holds at most ChannelWorkers sends; the
// other channel's replies — queued after the slow channel's whole backlog,
// even a backlog far longer than one scan reads — are sent meanwhile. When
// the provider recovers, every reply is sent exactly once.
func TestSlowChannelDoesNotStarveOthers(t *testing.T) {
	cases := []struct {
		name                     string
		workers, channelWorkers  int
		slowReplies, fastReplies int
	}{
		{"backlog within one scan", 8, 4, 6, 5},
		{"backlog far beyond one scan", 4, 2, 300, 5},
		{"one worker left to the others", 4, 3, 40, 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			slow := e.queueReplies("slow", c.slowReplies) // due first
			fast := e.queueReplies("fast", c.fastReplies)
			s := newChannelSender("slow")
			stop := e.startWorker(s, Options{Workers: c.workers, ChannelWorkers: c.channelWorkers, BaseBackoff: time.Hour}, "slow", "fast")
			defer stop()
			for _, id := range fast {
				e.waitStatus(id, ticket.DeliverySent)
			}
			calls, most := s.stats("slow")
			if most != c.channelWorkers || calls != c.channelWorkers {
				t.Fatalf("slow channel: %d sends started, at most %d at once; want %d (its limit) while it hangs", calls, most, c.channelWorkers)
			}
			close(s.release)
			for _, id := range slow {
				e.waitStatus(id, ticket.DeliverySent)
			}
			if _, most := s.stats("slow"); most > c.channelWorkers {
				t.Fatalf("slow channel had %d sends at once, limit %d", most, c.channelWorkers)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, id := range append(slow, fast...) {
				if s.sent[id] != 1 {
					t.Fatalf("comment %d sent %d times", id, s.sent[id])
				}
			}
		})
	}
}

// pauseSender refuses a channel's first send with a Retry-After and sends
// everything else.
type pauseSender struct {
	mu         sync.Mutex
	retryAfter time.Duration
	refused    map[string]bool
	times      map[string][]time.Time
}

func (p *pauseSender) Send(ctx context.Context, instance string, m *sdk.OutboundMessage) (*sdk.SendResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.times[instance] = append(p.times[instance], time.Now())
	if !p.refused[instance] {
		p.refused[instance] = true
		return nil, sdk.Retryable("rate_limited", errors.New("429 too many requests"), p.retryAfter)
	}
	return &sdk.SendResult{ExternalID: fmt.Sprintf("out-%d", m.CommentID)}, nil
}

func (p *pauseSender) attempts(instance string) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.times[instance]...)
}

// A provider's Retry-After pauses its whole channel, not only the refused
// reply: the channel's other replies are not sent (and spend no attempt)
// before it ends, while other channels go on.
func TestRetryAfterPausesTheChannel(t *testing.T) {
	cases := []struct {
		name       string
		retryAfter time.Duration
		maxBackoff time.Duration
		// wantGap is the least time between the refusal and the channel's
		// next send; 0: the test only checks the channel is still paused
		// when the other channel's reply is sent.
		wantGap time.Duration
	}{
		{"short pause is waited out", 300 * time.Millisecond, time.Minute, 300 * time.Millisecond},
		{"long pause holds the channel while another sends", time.Hour, time.Hour, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			limited := e.queueReplies("limited", 3)
			p := &pauseSender{retryAfter: c.retryAfter, refused: map[string]bool{"other": true}, times: map[string][]time.Time{}}
			stop := e.startWorker(p, Options{Workers: 2, ChannelWorkers: 1, BaseBackoff: 10 * time.Millisecond, MaxBackoff: c.maxBackoff}, "limited", "other")
			defer stop()
			// The first reply is refused (attempt 1, still pending).
			deadline := time.Now().Add(20 * time.Second)
			for len(p.attempts("limited")) == 0 || e.delivery(limited[0]).Attempts == 0 {
				if time.Now().After(deadline) {
					t.Fatal("no refused attempt")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if c.wantGap == 0 {
				other := e.queueReplies("other", 1)
				e.waitStatus(other[0], ticket.DeliverySent)
				if n := len(p.attempts("limited")); n != 1 {
					t.Fatalf("%d sends on the paused channel, want only the refused one", n)
				}
				for _, id := range limited[1:] {
					if d := e.delivery(id); d.Attempts != 0 || d.Status != ticket.DeliveryPending {
						t.Fatalf("reply %d during the pause: %+v", id, d)
					}
				}
				return
			}
			for _, id := range limited {
				e.waitStatus(id, ticket.DeliverySent)
			}
			ts := p.attempts("limited")
			if len(ts) != 4 {
				t.Fatalf("%d sends, want 4 (one refused, three sent)", len(ts))
			}
			for _, at := range ts[1:] {
				if gap := at.Sub(ts[0]); gap < c.wantGap {
					t.Fatalf("a send %v after the refusal, before its Retry-After %v", gap, c.wantGap)
				}
			}
			for _, id := range limited[1:] {
				if d := e.delivery(id); d.Attempts != 1 {
					t.Fatalf("reply %d: %d attempts, want 1 (the pause spends none)", id, d.Attempts)
				}
			}
		})
	}
}

// The dispatcher reads the due index in batches, not once per send: the
// entries its scans read stay within a small multiple of the replies,
// where a scan after every finished send would read about Workers entries
// per reply.
func TestScansAreBatched(t *testing.T) {
	cases := []struct {
		name             string
		workers, replies int
	}{
		{"few workers", 8, 400},
		{"many workers", 64, 1200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			ids := e.queueReplies("wa", c.replies)
			reg := prometheus.NewRegistry()
			s := newChannelSender()
			stop := e.startWorker(s, Options{Workers: c.workers, Registerer: reg}, "wa")
			defer stop()
			for _, id := range ids {
				e.waitStatus(id, ticket.DeliverySent)
			}
			scanned, _ := metrictest.Value(t, reg, "patchbay_outbox_scanned_entries_total", nil)
			scans, _ := metrictest.Value(t, reg, "patchbay_outbox_scans_total", nil)
			t.Logf("%v scans read %v entries for %d replies", scans, scanned, c.replies)
			if scanned < float64(c.replies) || scanned > 8*float64(c.replies) {
				t.Fatalf("%v scans read %v entries for %d replies; want between 1 and 8 per reply", scans, scanned, c.replies)
			}
		})
	}
}

// Thread ids are collected only for channels that use them.
func TestThreadIDsOnlyWhereUsed(t *testing.T) {
	cases := []struct {
		name      string
		threadIDs func(string) bool
		want      string
	}{
		{"unset: every channel", nil, "[wamid.in1]"},
		{"channel with threads", func(string) bool { return true }, "[wamid.in1]"},
		{"channel without threads", func(string) bool { return false }, "[]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			id := e.reply(e.seed(), "answer")
			f := &fakeSender{script: []func(int) (*sdk.SendResult, error){ok}}
			stop := e.run(f, Options{ThreadIDs: c.threadIDs})
			defer stop()
			e.waitStatus(id, ticket.DeliverySent)
			f.mu.Lock()
			defer f.mu.Unlock()
			if got := fmt.Sprint(f.calls[0].ThreadExternalIDs); got != c.want {
				t.Fatalf("thread ids %s, want %s", got, c.want)
			}
		})
	}
}

// The defaults: 128 workers (as config documents), every worker for a
// single channel, three quarters with several, never above Workers.
func TestWorkerDefaults(t *testing.T) {
	cases := []struct {
		name                    string
		opts                    Options
		workers, channelWorkers int
	}{
		{"no channels named", Options{}, DefaultWorkers, DefaultWorkers},
		{"one channel", Options{Kinds: map[string]string{"wa": "whatsapp"}}, DefaultWorkers, DefaultWorkers},
		{"several channels", Options{Kinds: map[string]string{"wa": "whatsapp", "mail": "email"}}, DefaultWorkers, DefaultWorkers * 3 / 4},
		{"explicit", Options{Workers: 10, ChannelWorkers: 4}, 10, 4},
		{"channel limit above workers", Options{Workers: 10, ChannelWorkers: 40}, 10, 10},
		{"one worker, several channels", Options{Workers: 1, Kinds: map[string]string{"a": "x", "b": "y"}}, 1, 1},
	}
	if DefaultWorkers != config.DefaultOutboxWorkers {
		t.Fatalf("outbox default %d, config documents %d", DefaultWorkers, config.DefaultOutboxWorkers)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := New(nil, nil, c.opts)
			if w.opts.Workers != c.workers || w.opts.ChannelWorkers != c.channelWorkers {
				t.Fatalf("workers %d, channel workers %d; want %d, %d", w.opts.Workers, w.opts.ChannelWorkers, c.workers, c.channelWorkers)
			}
		})
	}
}

// TestFrozenClockStillSends: Options.Clock decides when entries are due,
// but the scan rate limit is CPU pacing on the wall clock. With the store's
// and the worker's clock frozen far from the wall clock (as tests and
// simulations do), replies queued before and after the worker starts are
// still sent. Mixing the two clocks once made the dispatcher sleep for its
// idle minute (or never scan again) after its first scan.
func TestFrozenClockStillSends(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   time.Time
	}{
		{"past", time.Date(2020, 3, 4, 5, 6, 7, 0, time.UTC)},
		{"future", time.Date(2040, 3, 4, 5, 6, 7, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := func() time.Time { return tc.at }
			e := &env{t: t, dir: t.TempDir()}
			st, err := store.Open(store.Options{Dir: e.dir, Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			e.st = st
			tk := e.seed()
			first := e.reply(tk, "queued before the worker starts")
			s := &fakeSender{script: []func(int) (*sdk.SendResult, error){ok}}
			stop := e.run(s, Options{Clock: clock})
			defer stop()
			e.waitStatus(first, ticket.DeliverySent)
			second := e.reply(tk, "queued while the worker idles")
			e.waitStatus(second, ticket.DeliverySent)
			if n := s.count(); n != 2 {
				t.Fatalf("%d sends, want 2", n)
			}
		})
	}
}
