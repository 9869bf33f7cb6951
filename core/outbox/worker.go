package outbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/internal/backoff"
	"github.com/patchbayhq/patchbay/sdk"
)

// Sender sends one reply through a channel instance's plugin;
// pluginhost.Manager satisfies it. A *sdk.SendError says whether a retry can
// help; any other error (the plugin is down, unknown channel while
// reconfiguring…) is treated as retryable.
type Sender interface {
	Send(ctx context.Context, instance string, msg *sdk.OutboundMessage) (*sdk.SendResult, error)
}

// Options configure a Worker.
type Options struct {
	Logger hclog.Logger
	// Workers is how many replies are sent concurrently (default 128:
	// providers answer in tens of milliseconds, so throughput is at most
	// Workers / provider latency — 2,560 replies/s at 50 ms).
	Workers int
	// ChannelWorkers is the most sends one channel instance has in flight,
	// so that a slow or hanging provider cannot hold every worker (default:
	// Workers when Kinds names at most one instance, else three quarters of
	// Workers; at most Workers).
	ChannelWorkers int
	// MaxAttempts ends retrying with status failed (default 20).
	MaxAttempts int
	// BaseBackoff is the first retry delay (default 2s); each retry doubles
	// it, up to MaxBackoff (default 10m), with jitter (50–100 % of it).
	BaseBackoff, MaxBackoff time.Duration
	// SendTimeout bounds one Send call (default 60s).
	SendTimeout time.Duration
	// Kinds maps a channel instance to its plugin kind, which names the
	// requester identity to send to ("email", "whatsapp"…). An instance
	// missing here is sent to the requester's first identity.
	Kinds map[string]string
	// ThreadIDs reports whether the instance's plugin uses
	// OutboundMessage.ThreadExternalIDs (its manifest's Threads capability:
	// email's References). Collecting them reads up to a hundred comments of
	// the ticket per reply, so channels without threads are spared it. Nil:
	// every reply carries them.
	ThreadIDs func(instance string) bool
	// Unavailable reports errors meaning the channel's plugin is not
	// running (in the core: errors.Is(err, pluginhost.ErrUnavailable)).
	// Such an attempt waits for the channel: it does not count toward
	// MaxAttempts (a plugin outage never fails a reply), it backs off up to
	// MaxBackoff, and ChannelUp makes it due at once. Nil: every error is
	// an attempt.
	Unavailable func(error) bool
	// Clock is the time source (tests); nil is a clock that follows the
	// monotonic clock and the wall clock only forward (stepClock), so that
	// a step of the system clock back does not hold replies pending.
	Clock func() time.Time
	// Registerer receives the worker's metrics; nil: no metrics.
	Registerer prometheus.Registerer
}

// DefaultWorkers is Options.Workers' default.
const DefaultWorkers = 128

// Worker sends due outbox entries. Create it with New, run it with Run.
type Worker struct {
	st     *store.Store
	sender Sender
	opts   Options
	log    hclog.Logger

	kick chan struct{}

	sends *prometheus.CounterVec
	// scans and scanned count due-index scans and the entries they read.
	scans, scanned prometheus.Counter

	// health tracks each channel's consecutive failed sends (degraded);
	// statsCache the store's outbox snapshot (health.go).
	health     channelHealth
	statsCache statsCache
}

// New returns a worker over the store.
func New(st *store.Store, sender Sender, opts Options) *Worker {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.ChannelWorkers <= 0 {
		opts.ChannelWorkers = opts.Workers
		if len(opts.Kinds) > 1 {
			opts.ChannelWorkers = max(1, opts.Workers*3/4)
		}
	}
	opts.ChannelWorkers = min(opts.ChannelWorkers, opts.Workers)
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 20
	}
	if opts.BaseBackoff <= 0 {
		opts.BaseBackoff = 2 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Minute
	}
	if opts.SendTimeout <= 0 {
		opts.SendTimeout = 60 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = newStepClock().Now
	}
	w := &Worker{st: st, sender: sender, opts: opts, log: opts.Logger, kick: make(chan struct{}, 1)}
	w.sends = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "patchbay", Subsystem: "outbox", Name: "send_attempts_total",
		Help: "Reply send attempts by result (sent, retry, waiting for the channel's plugin, failed).",
	}, []string{"result"})
	w.scans = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "patchbay", Subsystem: "outbox", Name: "scans_total",
		Help: "Scans of the outbox's due index by the dispatcher.",
	})
	w.scanned = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "patchbay", Subsystem: "outbox", Name: "scanned_entries_total",
		Help: "Outbox entries read by the dispatcher's scans (including those already queued or in flight).",
	})
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(w.sends, w.scans, w.scanned, newStatusCollector(w))
	}
	return w
}

// Kick makes the worker look for due entries now (e.g. after a plugin
// restart); new entries are noticed on their own through Store.Notify.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// ChannelUp makes the replies waiting for the instance's plugin due now
// (call it when the plugin is running again) and wakes the worker.
func (w *Worker) ChannelUp(ctx context.Context, instance string) error {
	var moved int
	err := w.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		moved, err = tx.RetryWaiting(instance, 100_000)
		return err
	})
	if err != nil {
		return fmt.Errorf("outbox: retry replies waiting for %s: %w", instance, err)
	}
	if moved > 0 {
		w.log.Info("channel is up: retrying its waiting replies now", "instance", instance, "replies", moved)
	}
	w.Kick()
	return nil
}

// process makes one attempt at one entry and records the outcome. It
// returns how long the provider asked the channel to wait (the Retry-After
// of a retryable refusal), or zero.
func (w *Worker) process(ctx context.Context, e *store.OutboxEntry) (pause time.Duration) {
	msg, err := w.build(e)
	if errors.Is(err, errDone) {
		return 0
	}
	var res *sdk.SendResult
	if err == nil {
		if werr := w.st.Writable(); werr != nil {
			return 0 // the result could not be recorded: leave the entry due
		}
		sctx, cancel := context.WithTimeout(ctx, w.opts.SendTimeout)
		res, err = w.sender.Send(sctx, e.Instance, msg)
		cancel()
		if err == nil && (res == nil || res.ExternalID == "") {
			// A send without a provider id is still a send; record it.
			if res == nil {
				res = &sdk.SendResult{}
			}
		}
	}
	if ctx.Err() != nil && err != nil {
		return 0 // shutting down: the entry stays due and is retried after restart
	}
	w.recordUntilStored(ctx, e, res, err)
	if se := (*sdk.SendError)(nil); errors.As(err, &se) && se.Retryable && se.RetryAfter > 0 {
		return se.RetryAfter
	}
	return 0
}

// recordUntilStored records a send's outcome, retrying the record (never the
// send) with backoff while it fails, so that a store refusing writes for a
// while does not turn into the same reply sent over and over. Only a
// shutdown ends the retries; the entry then stays due and the reply is sent
// again after the restart (the documented at-least-once window).
func (w *Worker) recordUntilStored(ctx context.Context, e *store.OutboxEntry, res *sdk.SendResult, sendErr error) {
	delay := 100 * time.Millisecond
	for {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		rerr := w.record(rctx, e, res, sendErr)
		cancel()
		if rerr == nil {
			return
		}
		w.log.Error("outbox: recording the send result failed; retrying the record", "comment_id", e.CommentID, "error", rerr)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

var errDone = errors.New("outbox entry already handled or not due")

// permanentErr marks a build failure no retry can fix.
type permanentErr struct{ msg string }

// Error returns the reason.
func (p *permanentErr) Error() string { return p.msg }

// build reads everything the plugin needs for one reply.
func (w *Worker) build(e *store.OutboxEntry) (*sdk.OutboundMessage, error) {
	var msg *sdk.OutboundMessage
	now := w.opts.Clock()
	err := w.st.View(func(r *store.ReadTx) error {
		cur, err := r.OutboxEntry(e.CommentID)
		if errors.Is(err, store.ErrNotFound) {
			return errDone
		} else if err != nil {
			return err
		}
		if cur.NextAttemptAt.After(now) {
			// Another attempt already ran and rescheduled it (the
			// dispatcher read an older snapshot): not due now.
			return errDone
		}
		c, err := r.Comment(e.CommentID)
		if err != nil {
			return err
		}
		t, err := r.Ticket(c.TicketID)
		if err != nil {
			return err
		}
		last, err := conversationLastInbound(r, t)
		if err != nil {
			return err
		}
		msg = &sdk.OutboundMessage{
			IdempotencyKey:  IdempotencyKey(c.ID),
			TicketID:        t.ID,
			CommentID:       c.ID,
			ConversationKey: t.ConversationKey,
			Subject:         t.Subject,
			Text:            c.Body,
			HTML:            c.HTMLBody,
			LastInboundAt:   last,
			AutoReply:       c.Via == ticket.ViaRule,
		}
		req, err := r.User(t.RequesterID)
		if err != nil {
			return err
		}
		rcpt, ok := w.recipient(req, e.Instance)
		if !ok {
			return &permanentErr{fmt.Sprintf("the requester has no %s identity to reply to", w.opts.Kinds[e.Instance])}
		}
		msg.Recipient = rcpt
		if c.AuthorID != 0 {
			if a, err := r.User(c.AuthorID); err == nil {
				msg.Author = sdk.Party{ExternalID: fmt.Sprint(a.ID), Name: a.Name, Email: a.Email}
			}
		}
		if w.opts.ThreadIDs == nil || w.opts.ThreadIDs(e.Instance) {
			thread, err := threadIDs(r, t.ID, c.ID)
			if err != nil {
				return err
			}
			msg.ThreadExternalIDs = thread
		}
		for _, a := range c.Attachments {
			id := a.ID
			msg.Attachments = append(msg.Attachments, sdk.Attachment{
				ID: a.ID, Filename: a.Filename, ContentType: a.ContentType, Size: a.Size,
				Open: func(context.Context) (io.ReadCloser, error) {
					_, rc, err := w.st.OpenAttachment(id)
					return rc, err
				},
			})
		}
		return nil
	})
	return msg, err
}

// conversationLastInbound is when the customer last wrote in the ticket's
// conversation, which may be later than the ticket's own LastInboundAt: a
// follow-up ticket of the same conversation, or an older ticket a quoted
// reply was routed to, received the newer message. Reply windows (WhatsApp's
// 24 hours) are per conversation, so the latest of the ticket's time, the
// conversation's latest ticket's and the conversation's record
// (store.NoteConversationInbound) is what the plugin gets.
func conversationLastInbound(r *store.ReadTx, t *ticket.Ticket) (time.Time, error) {
	last := t.LastInboundAt
	if t.Channel == "" || t.ConversationKey == "" {
		return last, nil
	}
	latest, err := r.TicketByConversation(t.Channel, t.ConversationKey)
	switch {
	case err == nil:
		if latest.LastInboundAt.After(last) {
			last = latest.LastInboundAt
		}
	case !errors.Is(err, store.ErrNotFound):
		return time.Time{}, err
	}
	rec, err := r.ConversationLastInbound(t.Channel, t.ConversationKey)
	if err != nil {
		return time.Time{}, err
	}
	if rec.After(last) {
		last = rec
	}
	return last, nil
}

// Thread references sent with a reply: the conversation's first message
// and the last ones before the reply (as email References are trimmed).
const (
	maxThreadIDs     = 20
	maxThreadDecodes = 100
)

// threadIDs returns the provider ids of the ticket's messages before
// comment before, oldest first: the first one and up to maxThreadIDs-1 of
// the latest, decoding at most maxThreadDecodes comments however long the
// ticket is.
func threadIDs(r *store.ReadTx, ticketID, before uint64) ([]string, error) {
	extID := func(id uint64) (string, error) {
		c, err := r.Comment(id)
		if err != nil {
			return "", err
		}
		if !c.Public {
			// An internal note (an unverified sender's message kept
			// for agents) is not part of the customer's thread.
			return "", nil
		}
		if c.ExternalID != "" {
			return c.ExternalID, nil
		}
		if c.Delivery != nil {
			return c.Delivery.ExternalID, nil
		}
		return "", nil
	}
	// The thread root: the first comment with a provider id.
	first, firstID := "", uint64(0)
	after := uint64(0)
	for range maxThreadDecodes / 2 {
		cs, err := r.Comments(ticketID, after, 1)
		if err != nil {
			return nil, err
		}
		if len(cs) == 0 || cs[0].ID >= before {
			break
		}
		c := cs[0]
		after = c.ID
		x := c.ExternalID
		if x == "" && c.Delivery != nil {
			x = c.Delivery.ExternalID
		}
		if !c.Public {
			x = ""
		}
		if x != "" {
			first, firstID = x, c.ID
			break
		}
	}
	// The latest ones, newest first, down to the root.
	ids, err := r.CommentIDsBefore(ticketID, before, maxThreadDecodes/2)
	if err != nil {
		return nil, err
	}
	var latest []string
	for _, id := range ids {
		if id <= firstID || len(latest) == maxThreadIDs-1 {
			break
		}
		x, err := extID(id)
		if err != nil {
			return nil, err
		}
		if x != "" {
			latest = append(latest, x)
		}
	}
	var out []string
	if first != "" {
		out = append(out, first)
	}
	for i := len(latest) - 1; i >= 0; i-- {
		out = append(out, latest[i])
	}
	return out, nil
}

// recipient picks the requester's identity for the instance's kind.
func (w *Worker) recipient(u *ticket.User, instance string) (sdk.Party, bool) {
	p := sdk.Party{Name: u.Name, Email: u.Email, Phone: u.Phone}
	kind, known := w.opts.Kinds[instance]
	for _, i := range u.Identities {
		if i.Type == kind || !known {
			p.ExternalID, p.IdentityType = i.Value, i.Type
			return p, true
		}
	}
	return p, false
}

// record stores the outcome of one attempt.
func (w *Worker) record(ctx context.Context, e *store.OutboxEntry, res *sdk.SendResult, sendErr error) error {
	now := w.opts.Clock()
	result := "sent"
	err := w.st.Update(ctx, func(tx *store.Tx) error {
		cur, err := tx.OutboxEntry(e.CommentID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		attempts := cur.Attempts + 1
		d := &ticket.Delivery{Attempts: attempts, UpdatedAt: now}
		if sendErr == nil {
			result = "sent"
			d.Status, d.ExternalID = ticket.DeliverySent, res.ExternalID
			if res.ExternalID != "" {
				if err := tx.IndexOutboundID(cur.Instance, res.ExternalID, cur.CommentID); err != nil {
					return err
				}
			}
			if _, err := tx.UpdateDelivery(cur.CommentID, d); err != nil {
				return err
			}
			return tx.DeleteOutbox(cur.CommentID)
		}
		var se *sdk.SendError
		var pe *permanentErr
		retryable := !errors.As(sendErr, &pe) && (!errors.As(sendErr, &se) || se.Retryable)
		d.Error = sendErr.Error()
		if retryable && se == nil && w.opts.Unavailable != nil && w.opts.Unavailable(sendErr) {
			// The plugin is down: wait for the channel, however long.
			result = "waiting"
			cur.Waits++
			cur.WaitingForChannel = true
			cur.LastError, cur.NextAttemptAt = d.Error, now.Add(w.backoff(cur.Waits))
			d.Status, d.Attempts = ticket.DeliveryPending, cur.Attempts
			if _, err := tx.UpdateDelivery(cur.CommentID, d); err != nil {
				return err
			}
			return tx.PutOutbox(cur)
		}
		cur.WaitingForChannel, cur.Waits = false, 0
		if !retryable || attempts >= w.opts.MaxAttempts {
			result = "failed"
			if retryable {
				d.Error = fmt.Sprintf("gave up after %d attempts: %s", attempts, d.Error)
			}
			d.Status = ticket.DeliveryFailed
			if _, err := tx.UpdateDelivery(cur.CommentID, d); err != nil {
				return err
			}
			if err := tx.MarkFailed(cur.Instance, cur.CommentID); err != nil {
				return err
			}
			return tx.DeleteOutbox(cur.CommentID)
		}
		result = "retry"
		delay := w.backoff(attempts)
		if se != nil && se.RetryAfter > delay {
			delay = se.RetryAfter
		}
		cur.Attempts, cur.LastError, cur.NextAttemptAt = attempts, d.Error, now.Add(delay)
		d.Status = ticket.DeliveryPending
		if _, err := tx.UpdateDelivery(cur.CommentID, d); err != nil {
			return err
		}
		return tx.PutOutbox(cur)
	})
	if err == nil {
		w.sends.WithLabelValues(result).Inc()
		if result != "sent" {
			w.log.Info("reply not sent", "comment_id", e.CommentID, "instance", e.Instance, "outcome", result, "error", sendErr)
		}
		if recovered := w.health.note(e.Instance, result, sendErr, now); recovered {
			w.channelRecovered(ctx, e.Instance)
		}
	}
	return err
}

// channelRecovered makes the channel's replies that back off after failed
// attempts due now: a send to the channel just succeeded after failures,
// so the provider (or plugin) is back and the queue need not sit out its
// backoff (up to MaxBackoff) reply by reply.
func (w *Worker) channelRecovered(ctx context.Context, instance string) {
	var moved int
	now := w.opts.Clock()
	err := w.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		moved, err = tx.RetryChannel(instance, now, 100_000)
		return err
	})
	if err != nil {
		w.log.Warn("a send to the channel succeeded again, but making its queued replies due failed; they go out after their backoff", "instance", instance, "error", err)
		return
	}
	w.log.Info("channel sends succeed again: its queued replies are due now", "instance", instance, "replies", moved)
	w.Kick()
}

// backoff is the delay before attempt n+1: BaseBackoff·2^(n-1) capped at
// MaxBackoff, with jitter drawn from [50 %, 100 %] of it.
func (w *Worker) backoff(attempts int) time.Duration {
	return backoff.Policy{Base: w.opts.BaseBackoff, Max: w.opts.MaxBackoff, JitterLow: 0.5, JitterHigh: 1}.Next(attempts)
}
