package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// ErrNotReply is returned by EnqueueReply for a comment that is not a stored
// public reply on that ticket.
var ErrNotReply = errors.New("store: not a public reply of this ticket")

// OutboxEntry is a public reply waiting to be sent to its channel.
type OutboxEntry struct {
	CommentID     uint64    `json:"comment_id"`
	TicketID      uint64    `json:"ticket_id"`
	Instance      string    `json:"instance"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	LastError     string    `json:"last_error,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	// WaitingForChannel is set while the last attempt found the channel's
	// plugin down: the entry waits for the channel, not for the provider
	// (see RetryWaiting). Waits counts those attempts, which are not
	// Attempts.
	WaitingForChannel bool `json:"waiting_for_channel,omitempty"`
	Waits             int  `json:"waits,omitempty"`
}

// OutboxEntry returns the entry of a comment, or ErrNotFound.
func (r *ReadTx) OutboxEntry(commentID uint64) (*OutboxEntry, error) {
	var e OutboxEntry
	ok, err := r.getJSON(outboxKey(commentID), &e)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("outbox entry %d: %w", commentID, ErrNotFound)
	}
	return &e, nil
}

// EnqueueReply queues comment c (already created with CreateComment) for
// delivery on ticket t's channel, in the same transaction, so the reply and
// its delivery commit together; the outbox worker (core/outbox) sends it once
// the transaction is durable. It does nothing for a ticket without a channel
// (an API ticket: there is nobody to send to). The comment's delivery becomes
// `pending`; set c.Delivery = &ticket.Delivery{Status:
// ticket.DeliveryPending} before CreateComment to save one event.
func (tx *Tx) EnqueueReply(t *ticket.Ticket, c *ticket.Comment) error {
	if t.Channel == "" {
		return nil
	}
	if c.ID == 0 || c.TicketID != t.ID || !c.Public {
		return fmt.Errorf("%w: comment %d", ErrNotReply, c.ID)
	}
	if c.Delivery == nil || c.Delivery.Status != ticket.DeliveryPending {
		d := &ticket.Delivery{Status: ticket.DeliveryPending}
		if _, err := tx.UpdateDelivery(c.ID, d); err != nil {
			return err
		}
		c.Delivery = d
	}
	return tx.PutOutbox(&OutboxEntry{CommentID: c.ID, TicketID: t.ID, Instance: t.Channel})
}

// PutOutbox stores an entry and (re)indexes it by NextAttemptAt (zero: now).
func (tx *Tx) PutOutbox(e *OutboxEntry) error {
	if err := checkName("instance", e.Instance); err != nil {
		return err
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = tx.now
	}
	if e.NextAttemptAt.IsZero() {
		e.NextAttemptAt = tx.now
	}
	old, err := tx.OutboxEntry(e.CommentID)
	if err == nil {
		tx.del(outboxDueKey(old.NextAttemptAt, old.CommentID))
	}
	tx.set(outboxDueKey(e.NextAttemptAt, e.CommentID), nil)
	return tx.setJSON(outboxKey(e.CommentID), e)
}

// DeleteOutbox removes a comment's entry (sent or failed for good).
func (tx *Tx) DeleteOutbox(commentID uint64) error {
	old, err := tx.OutboxEntry(commentID)
	if err != nil {
		return err
	}
	tx.del(outboxDueKey(old.NextAttemptAt, commentID))
	tx.del(outboxKey(commentID))
	return nil
}

// DueOutbox returns up to limit entries due at or before now, earliest
// first, and the due time of the next entry after them (zero: none).
func (r *ReadTx) DueOutbox(now time.Time, limit int) ([]*OutboxEntry, time.Time, error) {
	pairs, err := r.r.scan([]byte(pOutboxDue), nil, limit+1, true)
	if err != nil {
		return nil, time.Time{}, err
	}
	var out []*OutboxEntry
	for _, p := range pairs {
		due := time.Unix(0, int64(getU64(p.Key[len(pOutboxDue):])))
		if due.After(now) || len(out) == limit {
			return out, due, nil
		}
		e, err := r.OutboxEntry(getU64(p.Key[len(pOutboxDue)+8:]))
		if err != nil {
			return nil, time.Time{}, err
		}
		out = append(out, e)
	}
	return out, time.Time{}, nil
}

// RetryWaiting makes the instance's entries that wait for their channel
// (WaitingForChannel) due now, e.g. when its plugin is running again, so
// that replies do not sit out their backoff. It looks at no more than limit
// entries due later and returns how many it moved.
func (tx *Tx) RetryWaiting(instance string, limit int) (int, error) {
	pairs, err := tx.r.scan([]byte(pOutboxDue), nil, limit, true)
	if err != nil {
		return 0, err
	}
	moved := 0
	for _, p := range pairs {
		due := time.Unix(0, int64(getU64(p.Key[len(pOutboxDue):])))
		if !due.After(tx.now) {
			continue
		}
		e, err := tx.OutboxEntry(getU64(p.Key[len(pOutboxDue)+8:]))
		if err != nil {
			return moved, err
		}
		if e.Instance != instance || !e.WaitingForChannel {
			continue
		}
		e.NextAttemptAt = tx.now
		if err := tx.PutOutbox(e); err != nil {
			return moved, err
		}
		moved++
	}
	return moved, nil
}

// OutboxLen returns how many entries are queued (for metrics and tests).
func (r *ReadTx) OutboxLen() (int, error) {
	pairs, err := r.r.scan([]byte(pOutbox), nil, 1<<30, true)
	return len(pairs), err
}

// MarkFailed indexes a reply the outbox gave up on (its delivery is
// failed), so that RetryFailed finds a channel's failed replies without
// reading every comment.
func (tx *Tx) MarkFailed(instance string, commentID uint64) error {
	if err := checkName("instance", instance); err != nil {
		return err
	}
	tx.set(failedKey(instance, commentID), nil)
	return nil
}

// UnmarkFailed removes a reply from the failed index (it is queued again).
func (tx *Tx) UnmarkFailed(instance string, commentID uint64) {
	tx.del(failedKey(instance, commentID))
}

// FailedReplies returns up to limit comment ids of the instance's failed
// replies, oldest first.
func (r *ReadTx) FailedReplies(instance string, limit int) ([]uint64, error) {
	return failedReplies(r.r, instance, limit)
}

// FailedReplies is ReadTx.FailedReplies inside an update.
func (tx *Tx) FailedReplies(instance string, limit int) ([]uint64, error) {
	return failedReplies(tx.r, instance, limit)
}

func failedReplies(r reader, instance string, limit int) ([]uint64, error) {
	prefix := key(pFailed, []byte(instance), []byte{0})
	pairs, err := r.scan(prefix, nil, limit, true)
	if err != nil {
		return nil, err
	}
	out := make([]uint64, 0, len(pairs))
	for _, p := range pairs {
		out = append(out, getU64(p.Key[len(prefix):]))
	}
	return out, nil
}

// OutboxStats is the state of one channel instance's outbox.
type OutboxStats struct {
	// Depth is how many replies are queued (pending).
	Depth int
	// Waiting is how many of them wait for the channel's plugin.
	Waiting int
	// Oldest is when the oldest queued reply was queued (zero: none).
	Oldest time.Time
	// Failed is how many replies the outbox gave up on (failed, not
	// retried since).
	Failed int
}

// OutboxStats returns every instance's outbox state. It reads every queued
// entry and the failed index: call it for metrics and status pages, not
// per request of a hot path.
func (r *ReadTx) OutboxStats() (map[string]*OutboxStats, error) {
	out := map[string]*OutboxStats{}
	get := func(inst string) *OutboxStats {
		st := out[inst]
		if st == nil {
			st = &OutboxStats{}
			out[inst] = st
		}
		return st
	}
	pairs, err := r.r.scan([]byte(pOutbox), nil, 1<<31-1, false)
	if err != nil {
		return nil, err
	}
	for _, p := range pairs {
		var e OutboxEntry
		if err := json.Unmarshal(p.Value, &e); err != nil {
			return nil, fmt.Errorf("store: decode outbox entry %x: %w", p.Key, err)
		}
		st := get(e.Instance)
		st.Depth++
		if e.WaitingForChannel {
			st.Waiting++
		}
		if st.Oldest.IsZero() || e.CreatedAt.Before(st.Oldest) {
			st.Oldest = e.CreatedAt
		}
	}
	failed, err := r.r.scan([]byte(pFailed), nil, 1<<31-1, true)
	if err != nil {
		return nil, err
	}
	for _, p := range failed {
		rest := p.Key[len(pFailed):]
		if i := bytes.IndexByte(rest, 0); i > 0 {
			get(string(rest[:i])).Failed++
		}
	}
	return out, nil
}

// RetryChannel makes every entry of the instance that is due later due at
// now (the channel works again: its replies need not sit out their
// backoff). It looks at no more than limit due entries and returns how many
// it moved.
func (tx *Tx) RetryChannel(instance string, now time.Time, limit int) (int, error) {
	pairs, err := tx.r.scan([]byte(pOutboxDue), nil, limit, true)
	if err != nil {
		return 0, err
	}
	moved := 0
	for _, p := range pairs {
		due := time.Unix(0, int64(getU64(p.Key[len(pOutboxDue):])))
		if !due.After(now) {
			continue
		}
		e, err := tx.OutboxEntry(getU64(p.Key[len(pOutboxDue)+8:]))
		if err != nil {
			return moved, err
		}
		if e.Instance != instance {
			continue
		}
		e.NextAttemptAt = now
		if err := tx.PutOutbox(e); err != nil {
			return moved, err
		}
		moved++
	}
	return moved, nil
}
