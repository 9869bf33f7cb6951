package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	Seq       uint64 `json:"seq"`
	Type      string `json:"type"`
	TicketID  uint64 `json:"ticket_id,omitempty"`
	CommentID uint64 `json:"comment_id,omitempty"`
	UserID    uint64 `json:"user_id,omitempty"`
	// ActorID is the user who made the change (Tx.SetActor); absent for
	// the system's own changes.
	ActorID uint64    `json:"actor_id,omitempty"`
	At      time.Time `json:"at"`
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
	if ev.ActorID == 0 {
		ev.ActorID = tx.actor
	}
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
	b, err := encodeEvent(ev)
	if err != nil {
		return err
	}
	tx.set(eventKey(seq), b)
	return nil
}

// encodeEvent writes the event's JSON by hand: the data is usually already
// encoded (the object just stored), and json.Marshal would validate and
// compact it a second time on the writer goroutine.
func encodeEvent(ev *Event) ([]byte, error) {
	var data []byte
	switch d := ev.Data.(type) {
	case nil:
	case json.RawMessage:
		data = d
	default:
		var err error
		if data, err = json.Marshal(d); err != nil {
			return nil, fmt.Errorf("store: encode event data: %w", err)
		}
	}
	b := make([]byte, 0, 160+len(ev.Type)+len(data))
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, `,"type":`...)
	if plainJSONString([]byte(ev.Type)) && !strings.ContainsAny(ev.Type, "<>&\u2028\u2029") {
		// What json.Marshal writes for it (it escapes <, >, & and the
		// two JavaScript line separators).
		b = append(append(append(b, '"'), ev.Type...), '"')
	} else {
		typ, err := json.Marshal(ev.Type)
		if err != nil {
			return nil, err
		}
		b = append(b, typ...)
	}
	b = appendID(b, `,"ticket_id":`, ev.TicketID)
	b = appendID(b, `,"comment_id":`, ev.CommentID)
	b = appendID(b, `,"user_id":`, ev.UserID)
	b = appendID(b, `,"actor_id":`, ev.ActorID)
	b = append(b, `,"at":"`...)
	b = ev.At.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if len(data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, data...)
	}
	return append(b, '}'), nil
}

func appendID(b []byte, field string, v uint64) []byte {
	if v == 0 {
		return b
	}
	return strconv.AppendUint(append(b, field...), v, 10)
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
		ev, err := decodeEvent(p.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// decodeEvent reads one stored event; Data is left as raw JSON.
func decodeEvent(b []byte) (Event, error) {
	if ev, ok := decodeEventFast(b); ok {
		return ev, nil
	}
	var raw struct {
		Event
		Data json.RawMessage `json:"data,omitempty"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Event{}, fmt.Errorf("store: decode event: %w", err)
	}
	ev := raw.Event
	if len(raw.Data) > 0 {
		ev.Data = raw.Data
	}
	return ev, nil
}

// decodeEventFast reads an event in exactly the layout encodeEvent writes
// (fields in order, no escapes in the type, data last), without scanning
// the data a second time: the data was valid JSON when it was encoded.
// Anything else reports false and goes through encoding/json.
func decodeEventFast(b []byte) (Event, bool) {
	var ev Event
	rest, ok := bytes.CutPrefix(b, []byte(`{"seq":`))
	if !ok {
		return ev, false
	}
	if ev.Seq, rest, ok = cutUint(rest); !ok {
		return ev, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"type":"`)); !ok {
		return ev, false
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 || !plainJSONString(rest[:i]) {
		return ev, false
	}
	ev.Type, rest = string(rest[:i]), rest[i+1:]
	for _, f := range []struct {
		name string
		dst  *uint64
	}{{`,"ticket_id":`, &ev.TicketID}, {`,"comment_id":`, &ev.CommentID}, {`,"user_id":`, &ev.UserID}, {`,"actor_id":`, &ev.ActorID}} {
		if r, ok := bytes.CutPrefix(rest, []byte(f.name)); ok {
			if *f.dst, rest, ok = cutUint(r); !ok {
				return ev, false
			}
		}
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"at":`)); !ok {
		return ev, false
	}
	i = bytes.IndexByte(rest[min(1, len(rest)):], '"') + 2
	if i < 2 || rest[0] != '"' {
		return ev, false
	}
	if err := ev.At.UnmarshalJSON(rest[:i]); err != nil {
		return ev, false
	}
	rest = rest[i:]
	if data, ok := bytes.CutPrefix(rest, []byte(`,"data":`)); ok {
		if len(data) < 3 || data[len(data)-1] != '}' {
			return ev, false
		}
		ev.Data = json.RawMessage(data[:len(data)-1])
		return ev, true
	}
	return ev, string(rest) == "}"
}

// plainJSONString reports whether b is a JSON string's content that
// decodes to itself: valid UTF-8, no quote, no escape, no control
// character.
func plainJSONString(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '\\' || c == '"' {
			return false
		}
	}
	return utf8.Valid(b)
}

// cutUint reads a decimal number at the start of b.
func cutUint(b []byte) (uint64, []byte, bool) {
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	if n == 0 || n > 20 || (n > 1 && b[0] == '0') {
		return 0, b, false
	}
	v, err := strconv.ParseUint(string(b[:n]), 10, 64)
	if err != nil {
		return 0, b, false
	}
	return v, b[n:], true
}

// EventsAfter returns up to limit committed events with Seq > seq, oldest
// first. Combine with Notify to follow the log:
//
//	for { ch := s.Notify(); evs, _ := s.EventsAfter(last, 100); …; <-ch }
func (s *Store) EventsAfter(seq uint64, limit int) ([]Event, error) {
	if limit <= 0 {
		limit = 100
	}
	if out, ok, err := s.events.after(seq, limit); ok || err != nil {
		return out, err
	}
	var out []Event
	err := s.View(func(r *ReadTx) error {
		var err error
		out, err = r.EventsAfter(seq, limit)
		return err
	})
	return out, err
}

// FirstEventSeq returns the oldest event still in the log (0: empty). A
// client resuming from an older seq has missed the trimmed events.
func (r *ReadTx) FirstEventSeq() (uint64, error) {
	pairs, err := r.r.scan([]byte(pEvent), nil, 1, true)
	if err != nil || len(pairs) == 0 {
		return 0, err
	}
	return getU64(pairs[0].Key[len(pEvent):]), nil
}

// TrimEvents deletes events older than before from the head of the log,
// in batches, and returns how many it deleted. Seq numbers are never
// reused: the event sequence is kept.
func (s *Store) TrimEvents(ctx context.Context, before time.Time) (int, error) {
	const batch = 1000
	total := 0
	for {
		var keys [][]byte
		done := false
		err := s.View(func(r *ReadTx) error {
			pairs, err := r.r.scan([]byte(pEvent), nil, batch, false)
			if err != nil {
				return err
			}
			for _, p := range pairs {
				var ev struct {
					At time.Time `json:"at"`
				}
				if err := json.Unmarshal(p.Value, &ev); err != nil {
					return fmt.Errorf("store: decode event: %w", err)
				}
				if !ev.At.Before(before) {
					done = true
					break
				}
				keys = append(keys, p.Key)
			}
			if len(pairs) < batch {
				done = true
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		if len(keys) > 0 {
			if err := s.Update(ctx, func(tx *Tx) error {
				for _, k := range keys {
					tx.del(k)
				}
				return nil
			}); err != nil {
				return total, err
			}
			total += len(keys)
		}
		if done || len(keys) == 0 {
			return total, nil
		}
	}
}
