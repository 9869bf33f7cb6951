package store

import (
	"fmt"
	"time"
)

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
