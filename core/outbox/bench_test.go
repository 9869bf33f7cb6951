package outbox

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/sdk"
)

// slowSender is a provider answering after a fixed latency.
type slowSender struct {
	latency time.Duration
	sent    atomic.Int64
}

func (s *slowSender) Send(ctx context.Context, _ string, m *sdk.OutboundMessage) (*sdk.SendResult, error) {
	select {
	case <-time.After(s.latency):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.sent.Add(1)
	return &sdk.SendResult{ExternalID: fmt.Sprintf("out-%d", m.CommentID)}, nil
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkOutboxDrain measures how fast the worker drains b.N replies
// (ten per ticket) through a provider answering in 50 ms (the default 128
// workers: the ceiling is 128 / 50 ms = 2,560 replies/s), and the process's
// CPU time per reply (dispatcher, message building, delivery-status
// commits, and in "queued while draining" the queueing commits). In
// "queued while draining" 16 goroutines queue the replies one per Update
// while the worker runs, as agents replying through the API do: every such
// commit wakes the worker.
func BenchmarkOutboxDrain(b *testing.B) {
	for _, c := range []struct {
		name     string
		prequeue bool
	}{{"queued before", true}, {"queued while draining", false}} {
		b.Run(c.name, func(b *testing.B) { benchmarkDrain(b, c.prequeue) })
	}
}

func benchmarkDrain(b *testing.B, prequeue bool) {
	st, err := store.Open(store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	// Tickets first (one per ten replies), then the replies.
	var tickets []*ticket.Ticket
	for done := 0; done < b.N; done += 10 {
		if err := st.Update(ctx, func(tx *store.Tx) error {
			u := &ticket.User{Name: "Ann", Identities: []ticket.Identity{{Type: "whatsapp", Value: fmt.Sprint(1_555_000_0000 + done)}}}
			if err := tx.CreateUser(u); err != nil {
				return err
			}
			tk := &ticket.Ticket{Status: ticket.StatusOpen, Channel: "wa", RequesterID: u.ID, ConversationKey: u.Identities[0].Value}
			if err := tx.CreateTicket(tk); err != nil {
				return err
			}
			tickets = append(tickets, tk)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	queue := func(i int) error {
		return st.Update(ctx, func(tx *store.Tx) error {
			tk := tickets[i/10]
			c := &ticket.Comment{TicketID: tk.ID, Body: "reply", Public: true, Delivery: &ticket.Delivery{Status: ticket.DeliveryPending}}
			if err := tx.CreateComment(c, store.CommentOptions{}); err != nil {
				return err
			}
			return tx.EnqueueReply(tk, c)
		})
	}
	queueAll := func(workers int) {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < b.N; i = int(next.Add(1)) - 1 {
					if err := queue(i); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	if prequeue {
		queueAll(16)
	}
	sender := &slowSender{latency: 50 * time.Millisecond}
	w := New(st, sender, Options{Kinds: map[string]string{"wa": "whatsapp"}})
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	go w.Run(rctx)
	if !prequeue {
		queueAll(16)
	}
	// Wait for the provider to have every reply (an atomic read), then
	// for the last delivery statuses to commit (scanning the outbox is
	// costly: done rarely, so as not to weigh on the measurement).
	for sender.sent.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	for {
		var left int
		st.View(func(r *store.ReadTx) error { left, _ = r.OutboxLen(); return nil })
		if left == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "replies/s")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/reply")
	if got := sender.sent.Load(); got < int64(b.N) {
		b.Fatalf("sent %d of %d", got, b.N)
	}
}
