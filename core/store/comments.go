package store

import (
	"fmt"
	"slices"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// Comment returns the comment with that id, or ErrNotFound.
func (r *ReadTx) Comment(id uint64) (*ticket.Comment, error) {
	var c ticket.Comment
	ok, err := r.getJSON(commentKey(id), &c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("comment %d: %w", id, ErrNotFound)
	}
	if c.Attachments == nil {
		c.Attachments = []ticket.Attachment{}
	}
	return &c, nil
}

// Comments returns up to limit comments of a ticket, oldest first, starting
// after comment id afterID (0: from the first). limit <= 0 means all.
func (r *ReadTx) Comments(ticketID, afterID uint64, limit int) ([]*ticket.Comment, error) {
	if limit <= 0 {
		limit = 1 << 30
	}
	prefix := key(pTicketCmts, u64(ticketID))
	var from []byte
	if afterID != 0 {
		from = key(pTicketCmts, u64(ticketID), u64(afterID+1))
	}
	out := []*ticket.Comment{}
	for len(out) < limit {
		n := min(limit-len(out), 256)
		pairs, err := r.r.scan(prefix, from, n, true)
		if err != nil {
			return nil, err
		}
		for _, p := range pairs {
			c, err := r.Comment(getU64(p.Key[len(prefix):]))
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		if len(pairs) < n {
			break
		}
		from = append(append([]byte(nil), pairs[len(pairs)-1].Key...), 0)
	}
	return out, nil
}

// CommentIDs returns the ids of a ticket's comments, oldest first, without
// decoding them (a keys-only index scan).
func (r *ReadTx) CommentIDs(ticketID uint64) ([]uint64, error) {
	prefix := key(pTicketCmts, u64(ticketID))
	pairs, err := r.r.scan(prefix, nil, 1<<31-1, true)
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, len(pairs))
	for i, p := range pairs {
		ids[i] = getU64(p.Key[len(prefix):])
	}
	return ids, nil
}

// CommentIDsBefore returns up to n ids of a ticket's comments older than
// comment before (0: all), newest first, by a reverse index scan.
func (r *ReadTx) CommentIDsBefore(ticketID, before uint64, n int) ([]uint64, error) {
	prefix := key(pTicketCmts, u64(ticketID))
	end := key(pTicketCmts, u64(ticketID), u64(before))
	if before == 0 {
		end = key(pTicketCmts, u64(ticketID+1))
	}
	keys, err := r.r.scanKeysBefore(prefix, end, n)
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, len(keys))
	for i, k := range keys {
		ids[i] = getU64(k[len(prefix):])
	}
	return ids, nil
}

// CommentByExternalID returns the inbound comment stored for a provider
// message id on an instance (the dedupe index), or ErrNotFound.
func (r *ReadTx) CommentByExternalID(instance, externalID string) (*ticket.Comment, error) {
	v, ok, err := r.r.get(extInKey(instance, externalID))
	if err != nil {
		return nil, err
	}
	if !ok {
		// The common answer on the inbound path (every new message): an
		// error formatted only if someone reads it.
		return nil, &lookupError{what: "message", key: instance + "/" + externalID}
	}
	return r.Comment(getU64(v[8:]))
}

// lookupError is ErrNotFound for one key, formatted when read.
type lookupError struct{ what, key string }

func (e *lookupError) Error() string { return e.what + " " + e.key + ": " + ErrNotFound.Error() }
func (e *lookupError) Unwrap() error { return ErrNotFound }

// CommentByOutboundID returns the outbound reply that the provider knows by
// externalID on an instance (for receipts and replies), or ErrNotFound.
func (r *ReadTx) CommentByOutboundID(instance, externalID string) (*ticket.Comment, error) {
	v, ok, err := r.r.get(extOutKey(instance, externalID))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &lookupError{what: "sent message", key: instance + "/" + externalID}
	}
	return r.Comment(getU64(v))
}

// TicketByMessageID returns the ticket holding the message the provider
// knows as externalID on an instance, inbound or outbound, or ErrNotFound.
func (r *ReadTx) TicketByMessageID(instance, externalID string) (*ticket.Ticket, error) {
	c, err := r.CommentByExternalID(instance, externalID)
	if err != nil {
		c, err = r.CommentByOutboundID(instance, externalID)
	}
	if err != nil {
		return nil, err
	}
	return r.Ticket(c.TicketID)
}

// RawPayload returns the raw provider payload kept for an inbound comment.
func (r *ReadTx) RawPayload(commentID uint64) ([]byte, bool, error) {
	return r.r.get(rawKey(commentID))
}

// CommentOptions are the extras of CreateComment.
type CommentOptions struct {
	// Instance is the channel instance an inbound message came from; with
	// the comment's ExternalID it feeds the dedupe index.
	Instance string
	// Raw is the raw provider payload, stored under its own key.
	Raw []byte
	// Attachments are staged attachment ids (Store.WriteAttachment) to
	// claim for this comment; each is appended to the comment's
	// Attachments. A rejected, incomplete or unknown id is an error wrapping
	// ErrNotFound (callers deal with rejected files themselves).
	Attachments []string
}

// CreateComment assigns the next comment id, stores the comment under its
// ticket and appends a comment.created event. With opts.Instance and an
// ExternalID it records (instance, external id) in the permanent dedupe
// index; a comment already stored for that pair is an error (callers check
// CommentByExternalID first). Of the ticket only its Version moves on:
// callers apply the lifecycle and UpdateTicket.
func (tx *Tx) CreateComment(c *ticket.Comment, opts CommentOptions) error {
	t, err := tx.Ticket(c.TicketID)
	if err != nil {
		return err
	}
	if t.Status == ticket.StatusClosed {
		return fmt.Errorf("ticket %d: %w", t.ID, ticket.ErrClosed)
	}
	if err := checkName("instance", opts.Instance); err != nil {
		return err
	}
	if err := checkName("external id", c.ExternalID); err != nil {
		return err
	}
	var ext []byte
	if opts.Instance != "" && c.ExternalID != "" {
		ext = extInKey(opts.Instance, c.ExternalID)
		if _, dup, err := tx.r.get(ext); err != nil {
			return err
		} else if dup {
			return fmt.Errorf("store: message %s/%s already stored", opts.Instance, c.ExternalID)
		}
	}
	id, err := tx.NextID(SeqComment)
	if err != nil {
		return err
	}
	c.ID = id
	if c.CreatedAt.IsZero() {
		c.CreatedAt = tx.now
	}
	if c.Attachments == nil {
		c.Attachments = []ticket.Attachment{}
	}
	for _, aid := range opts.Attachments {
		m, err := tx.Attachment(aid)
		if err != nil {
			return err
		}
		if m.Rejected {
			return fmt.Errorf("attachment %s was rejected: %w", aid, ErrNotFound)
		}
		if m, err = tx.ClaimStaged(aid, c.TicketID, id); err != nil {
			return err
		}
		c.Attachments = append(c.Attachments, ticket.Attachment{ID: m.ID, Filename: m.Filename, ContentType: m.ContentType, Size: m.Size})
	}
	if err := tx.setJSON(commentKey(id), c); err != nil {
		return err
	}
	tx.set(ticketCommentKey(c.TicketID, id), nil)
	if ext != nil {
		tx.set(ext, append(u64(c.TicketID), u64(id)...))
	}
	if len(opts.Raw) > 0 {
		tx.set(rawKey(id), opts.Raw)
	}
	// A new comment is a change of its ticket for optimistic concurrency:
	// its version moves on (its fields, updated_at and indexes do not),
	// unless this function already moved it (inbound updates the ticket
	// before adding the message: no second write).
	if !slices.Contains(tx.versioned, t.ID) {
		t.Version++
		if err := tx.setJSON(ticketKey(t.ID), t); err != nil {
			return err
		}
		tx.remember(t)
		tx.versioned = append(tx.versioned, t.ID)
	}
	return tx.AppendEvent(&Event{Type: EventCommentCreated, TicketID: c.TicketID, CommentID: id, Data: c})
}

// UpdateComment stores a changed comment (delivery status, attachments)
// and appends a comment.updated event. Its id, ticket and external id are
// fixed. Comments of closed tickets may still get delivery updates.
func (tx *Tx) UpdateComment(c *ticket.Comment) error {
	old, err := tx.Comment(c.ID)
	if err != nil {
		return err
	}
	c.TicketID, c.CreatedAt = old.TicketID, old.CreatedAt
	if c.ExternalID != old.ExternalID && old.ExternalID != "" {
		return fmt.Errorf("store: comment %d: external id is fixed", c.ID)
	}
	if err := tx.setJSON(commentKey(c.ID), c); err != nil {
		return err
	}
	return tx.AppendEvent(&Event{Type: EventCommentUpdated, TicketID: c.TicketID, CommentID: c.ID, Data: c})
}

// IndexOutboundID records that the provider knows comment commentID as
// externalID on an instance (set by the outbox when a reply is sent).
func (tx *Tx) IndexOutboundID(instance, externalID string, commentID uint64) error {
	if err := checkName("instance", instance); err != nil {
		return err
	}
	if err := checkName("external id", externalID); err != nil {
		return err
	}
	tx.set(extOutKey(instance, externalID), u64(commentID))
	return nil
}

// UpdateDelivery replaces the delivery state of an outbound comment and
// appends a delivery.updated event (instead of comment.updated).
func (tx *Tx) UpdateDelivery(commentID uint64, d *ticket.Delivery) (*ticket.Comment, error) {
	c, err := tx.Comment(commentID)
	if err != nil {
		return nil, err
	}
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = tx.now
	}
	c.Delivery = d
	if err := tx.setJSON(commentKey(c.ID), c); err != nil {
		return nil, err
	}
	return c, tx.AppendEvent(&Event{Type: EventDeliveryUpdated, TicketID: c.TicketID, CommentID: c.ID, Data: c})
}
