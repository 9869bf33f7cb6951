package store

import (
	"fmt"
	"time"
)

// ConversationLastInbound returns the latest time the customer wrote in a
// channel conversation, whichever ticket the message went to (a follow-up
// ticket, or an older one a quoted reply routed it to), as recorded by
// NoteConversationInbound; the zero time when none is recorded (data
// written before the record existed: callers fall back to the tickets'
// LastInboundAt).
func (r *ReadTx) ConversationLastInbound(instance, conversation string) (time.Time, error) {
	if instance == "" || conversation == "" {
		return time.Time{}, nil
	}
	v, ok, err := r.r.get(convInKey(instance, conversation))
	if err != nil || !ok || len(v) != 8 {
		return time.Time{}, err
	}
	return time.Unix(0, int64(getU64(v))).UTC(), nil
}

// NoteConversationInbound records that the customer wrote in a channel
// conversation at time at. The record only moves forward: an older message
// arriving late leaves it unchanged. Messaging windows such as WhatsApp's
// 24 hours are per conversation, not per ticket, so the outbox reads this
// record when it sends a reply.
func (tx *Tx) NoteConversationInbound(instance, conversation string, at time.Time) error {
	if err := checkName("instance", instance); err != nil {
		return err
	}
	if err := checkName("conversation key", conversation); err != nil {
		return err
	}
	if instance == "" || conversation == "" || at.IsZero() {
		return fmt.Errorf("store: conversation inbound needs an instance, a conversation and a time: %w", ErrInvalid)
	}
	prev, err := tx.ConversationLastInbound(instance, conversation)
	if err != nil {
		return err
	}
	if !at.After(prev) {
		return nil
	}
	tx.set(convInKey(instance, conversation), u64(uint64(at.UnixNano())))
	return nil
}
