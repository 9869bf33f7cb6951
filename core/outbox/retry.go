package outbox

import (
	"errors"
	"fmt"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// ErrNotFailed is returned by Retry for a reply whose delivery has not
// failed (it is pending, sent, or not a reply on a channel).
var ErrNotFailed = errors.New("outbox: only a failed reply can be retried")

// Retry queues a failed public reply again, in tx: its delivery becomes
// pending with no attempts spent (the full MaxAttempts budget), the last
// error is kept in the entry until the next attempt, and the worker sends
// it as soon as the transaction commits (it notices the commit). It is
// sent with the same idempotency key as before, so a provider that honours
// the key drops a duplicate. Errors: store.ErrNotFound for an unknown
// comment or one of another ticket; ticket.ErrClosed for a closed ticket
// (closed is closed); ErrNotFailed.
func Retry(tx *store.Tx, ticketID, commentID uint64) (*ticket.Comment, error) {
	c, err := tx.Comment(commentID)
	if err != nil {
		return nil, err
	}
	if c.TicketID != ticketID {
		return nil, fmt.Errorf("comment %d of ticket %d: %w", commentID, ticketID, store.ErrNotFound)
	}
	t, err := tx.Ticket(ticketID)
	if err != nil {
		return nil, err
	}
	if t.Status == ticket.StatusClosed {
		// Closed is closed: nothing of a closed ticket changes.
		return nil, fmt.Errorf("reply %d: %w", commentID, ticket.ErrClosed)
	}
	if !c.Public || t.Channel == "" || c.Delivery == nil || c.Delivery.Status != ticket.DeliveryFailed {
		return nil, fmt.Errorf("%w: reply %d is %s", ErrNotFailed, commentID, deliveryState(c))
	}
	if _, err := tx.OutboxEntry(commentID); err == nil {
		return nil, fmt.Errorf("%w: reply %d is already queued", ErrNotFailed, commentID)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	d := &ticket.Delivery{Status: ticket.DeliveryPending, UpdatedAt: tx.Now()}
	c, err = tx.UpdateDelivery(commentID, d)
	if err != nil {
		return nil, err
	}
	tx.UnmarkFailed(t.Channel, commentID)
	return c, tx.PutOutbox(&store.OutboxEntry{CommentID: commentID, TicketID: ticketID, Instance: t.Channel, NextAttemptAt: tx.Now()})
}

func deliveryState(c *ticket.Comment) string {
	switch {
	case !c.Public:
		return "an internal note"
	case c.Delivery == nil:
		return "not a reply on a channel"
	default:
		return string(c.Delivery.Status)
	}
}

// RetryFailed looks at up to limit of the instance's failed replies,
// oldest first, queues them again (see Retry) and returns how many it
// queued and how many it looked at (fewer than limit: there are no more).
// Replies whose delivery changed since they failed (a late provider
// receipt) and replies of tickets closed since are dropped from the failed
// index, not retried.
func RetryFailed(tx *store.Tx, instance string, limit int) (retried, examined int, err error) {
	ids, err := tx.FailedReplies(instance, limit)
	if err != nil {
		return 0, 0, err
	}
	n, err := retryIDs(tx, instance, ids)
	return n, len(ids), err
}

func retryIDs(tx *store.Tx, instance string, ids []uint64) (int, error) {
	n := 0
	for _, id := range ids {
		c, err := tx.Comment(id)
		if errors.Is(err, store.ErrNotFound) {
			tx.UnmarkFailed(instance, id)
			continue
		} else if err != nil {
			return n, err
		}
		if _, err := Retry(tx, c.TicketID, id); errors.Is(err, ErrNotFailed) || errors.Is(err, store.ErrNotFound) || errors.Is(err, ticket.ErrClosed) {
			tx.UnmarkFailed(instance, id)
			continue
		} else if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
