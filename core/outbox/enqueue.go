// Package outbox delivers public agent replies to their channel: the reply
// and its outbox entry commit together (Enqueue), and a Worker sends due
// entries through the channel's plugin, retrying with capped, jittered
// exponential backoff that survives restarts (the due time is persisted),
// until the reply is `sent` (with the provider's id) or `failed` (with the
// reason). See docs/guarantees.md for the at-least-once window.
package outbox

import (
	"errors"
	"fmt"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// ErrNotReply is returned by Enqueue for a comment that is not a stored
// public reply on that ticket.
var ErrNotReply = errors.New("outbox: not a public reply of this ticket")

// Enqueue queues comment c (already created with tx.CreateComment) for
// delivery on ticket t's channel, in the same transaction, so the reply and
// its delivery commit together. It does nothing for a ticket without a
// channel (an API ticket: there is nobody to send to). The comment's
// delivery becomes `pending`; set c.Delivery = &ticket.Delivery{Status:
// ticket.DeliveryPending} before CreateComment to save one event.
func Enqueue(tx *store.Tx, t *ticket.Ticket, c *ticket.Comment) error {
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
	return tx.PutOutbox(&store.OutboxEntry{CommentID: c.ID, TicketID: t.ID, Instance: t.Channel})
}

// IdempotencyKey is the key sent with every attempt of one reply.
func IdempotencyKey(commentID uint64) string {
	return fmt.Sprintf("patchbay-reply-%d", commentID)
}
