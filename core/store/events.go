package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// Event types appended by the store itself.
const (
	EventTicketCreated   = "ticket.created"
	EventTicketUpdated   = "ticket.updated"
	EventCommentCreated  = "comment.created"
	EventCommentUpdated  = "comment.updated"
	EventDeliveryUpdated = "delivery.updated"
	EventUserCreated     = "user.created"
	EventUserUpdated     = "user.updated"
	EventUserMerged      = "user.merged"
)

// Event is one entry of the durable event log, in commit order. Seq numbers
// are dense (1, 2, 3…) and never reused; SSE uses Seq as the event id.
type Event struct {
	Seq       uint64    `json:"seq"`
	Type      string    `json:"type"`
	TicketID  uint64    `json:"ticket_id,omitempty"`
	CommentID uint64    `json:"comment_id,omitempty"`
	UserID    uint64    `json:"user_id,omitempty"`
	At        time.Time `json:"at"`
	// Data is the changed object as of this event (a ticket, comment or
	// user). On events read back it is a json.RawMessage.
	Data any `json:"data,omitempty"`
}

// AppendEvent appends ev to the event log in the same commit as the rest of
// the transaction, assigning Seq (and At when zero). The store's own write
// methods already append their events; call this for other events.
func (tx *Tx) AppendEvent(ev *Event) error {
	seq, err := tx.NextID(SeqEvent)
	if err != nil {
		return err
	}
	ev.Seq = seq
	if ev.At.IsZero() {
		ev.At = tx.now
	}
	switch d := ev.Data.(type) {
	case *ticket.Ticket, *ticket.Comment, *ticket.User:
		if last, ok := tx.lastObj.(*ticket.Ticket); ok && any(last) == d {
			ev.Data = json.RawMessage(tx.lastRaw)
		} else if last, ok := tx.lastObj.(*ticket.Comment); ok && any(last) == d {
			ev.Data = json.RawMessage(tx.lastRaw)
		} else if last, ok := tx.lastObj.(*ticket.User); ok && any(last) == d {
			ev.Data = json.RawMessage(tx.lastRaw)
		}
	}
	tx.lastObj, tx.lastRaw = nil, nil
	return tx.setJSON(eventKey(seq), ev)
}

// EventsAfter returns up to limit events with Seq > seq, oldest first.
func (r *ReadTx) EventsAfter(seq uint64, limit int) ([]Event, error) {
	if limit <= 0 {
		limit = 100
	}
	pairs, err := r.r.scan([]byte(pEvent), eventKey(seq+1), limit, false)
	if err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(pairs))
	for _, p := range pairs {
		var raw struct {
			Event
			Data json.RawMessage `json:"data,omitempty"`
		}
		if err := json.Unmarshal(p.Value, &raw); err != nil {
			return nil, fmt.Errorf("store: decode event: %w", err)
		}
		ev := raw.Event
		if len(raw.Data) > 0 {
			ev.Data = raw.Data
		}
		out = append(out, ev)
	}
	return out, nil
}

// EventsAfter returns up to limit committed events with Seq > seq, oldest
// first. Combine with Notify to follow the log:
//
//	for { ch := s.Notify(); evs, _ := s.EventsAfter(last, 100); …; <-ch }
func (s *Store) EventsAfter(seq uint64, limit int) ([]Event, error) {
	var out []Event
	err := s.View(func(r *ReadTx) error {
		var err error
		out, err = r.EventsAfter(seq, limit)
		return err
	})
	return out, err
}
