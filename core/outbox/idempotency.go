// Package outbox delivers public agent replies to their channel: the reply
// and its outbox entry commit together (store.Tx.EnqueueReply), and a Worker sends due
// entries through the channel's plugin, retrying with capped, jittered
// exponential backoff that survives restarts (the due time is persisted),
// until the reply is `sent` (with the provider's id) or `failed` (with the
// reason). See docs/guarantees.md for the at-least-once window.
package outbox

import "fmt"

// IdempotencyKey is the key sent with every attempt of one reply.
func IdempotencyKey(commentID uint64) string {
	return fmt.Sprintf("patchbay-reply-%d", commentID)
}
