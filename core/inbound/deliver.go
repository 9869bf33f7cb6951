package inbound

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/sdk"
)

// Limits on inbound content.
const (
	MaxExternalIDLength = 1024
	MaxRawPayload       = 1 << 20
)

// Deliver commits one inbound message with a synced write, then answers:
//
//  1. dedupe on (instance, provider message id): a message stored before
//     returns its receipt with Duplicate set, nothing changes;
//  2. find the author by identity, or link a profile email matching an
//     existing user's email identity (adding the new identity), or create
//     an end user;
//  3. route: a ReplyTo id known on this instance → its ticket; a verified
//     TicketHint naming a ticket of this instance → that ticket; an
//     unverified one only when the author is also its requester; else the conversation's latest ticket; a closed target
//     → a new follow-up ticket; else a new ticket;
//  4. append the comment (provider timestamp; raw payload under its own
//     key), update the ticket's LastInboundAt (and the conversation's
//     record, store.NoteConversationInbound, when the message went to a
//     ticket other than its conversation's latest), apply the lifecycle
//     (requester message reopens pending/hold/solved);
//  5. claim the staged attachments; a rejected file becomes an internal
//     note naming it and the reason.
//
// All of it happens in one store.Update, so concurrent deliveries of one
// conversation or of one message are serialised by the group-commit writer:
// one ticket, one comment.
func (s *Service) Deliver(ctx context.Context, instance string, msg *sdk.InboundMessage, attachmentIDs []string) (*sdk.Receipt, error) {
	inst, err := s.instance(instance)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := validateMessage(msg); err != nil {
		s.metrics.delivered(instance, start, false, err)
		return nil, err
	}
	var rec *sdk.Receipt
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		rec, err = s.deliver(tx, inst, msg, attachmentIDs)
		return err
	})
	if err != nil {
		s.metrics.delivered(instance, start, false, err)
		if errors.Is(err, store.ErrInsufficientSpace) {
			if ok, n := s.quiet.Allow(instance); ok {
				s.log.Warn("inbound messages refused: the disk is short of space (the provider retries)", "instance", instance, "error", err, "refused_since_last_line", n+1)
			}
			return nil, err
		}
		s.log.Warn("inbound message not stored", "instance", instance, "error", err)
		return nil, err
	}
	s.metrics.delivered(instance, start, rec.Duplicate, nil)
	if n := len(rec.Rejected); n > 0 {
		s.metrics.rejected.WithLabelValues(instance).Add(float64(n))
	}
	return rec, nil
}

func validateMessage(msg *sdk.InboundMessage) error {
	switch {
	case msg == nil:
		return fmt.Errorf("%w: no message", ErrInvalidMessage)
	case strings.TrimSpace(msg.ExternalID) == "":
		return fmt.Errorf("%w: no provider message id", ErrInvalidMessage)
	case len(msg.ExternalID) > MaxExternalIDLength:
		return fmt.Errorf("%w: provider message id longer than %d bytes", ErrInvalidMessage, MaxExternalIDLength)
	case strings.TrimSpace(msg.Author.ExternalID) == "" && strings.TrimSpace(msg.Author.Email) == "":
		return fmt.Errorf("%w: no author id or email", ErrInvalidMessage)
	case strings.ContainsRune(msg.ConversationKey, 0) || strings.ContainsRune(msg.ExternalID, 0):
		return fmt.Errorf("%w: NUL byte in an id", ErrInvalidMessage)
	case len(msg.Raw) > MaxRawPayload:
		return fmt.Errorf("%w: raw payload over %d bytes", ErrInvalidMessage, MaxRawPayload)
	}
	ids := append([]string{msg.ExternalID, msg.ConversationKey, msg.Author.ExternalID, msg.Author.Email, msg.Author.IdentityType}, msg.ReplyTo...)
	for _, id := range ids {
		if !utf8.ValidString(id) {
			return fmt.Errorf("%w: an id is not valid UTF-8", ErrInvalidMessage)
		}
	}
	return nil
}

func (s *Service) deliver(tx *store.Tx, inst Instance, msg *sdk.InboundMessage, attachmentIDs []string) (*sdk.Receipt, error) {
	// 1. Dedupe.
	if c, err := tx.CommentByExternalID(inst.Name, msg.ExternalID); err == nil {
		return &sdk.Receipt{TicketID: c.TicketID, CommentID: c.ID, Duplicate: true}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	// Staged attachments: all must exist (complete, this instance).
	var keep []string
	var rejected []*store.AttachmentMeta
	for _, id := range attachmentIDs {
		m, err := tx.Attachment(id)
		if errors.Is(err, store.ErrNotFound) || err == nil && (!m.Staged || !m.Complete || m.Instance != inst.Name) {
			return nil, fmt.Errorf("%w: %s", ErrUnknownAttachment, id)
		} else if err != nil {
			return nil, err
		}
		if m.Rejected {
			rejected = append(rejected, m)
		} else {
			keep = append(keep, id)
		}
	}
	now := tx.Now()
	sentAt := msg.SentAt
	if sentAt.IsZero() {
		sentAt = now
	}
	// 2. Identity.
	user, err := s.findOrCreateUser(tx, inst, msg.Author)
	if err != nil {
		return nil, err
	}
	// The author caused what follows (their user record was written
	// before: identity changes are the system's).
	tx.SetActor(user.ID)
	// 3. Route.
	t, latest, err := s.route(tx, inst, msg, user)
	if err != nil {
		return nil, err
	}
	switch {
	case t == nil:
		t = &ticket.Ticket{
			Subject:         ticket.SubjectFrom(msg.Subject, msg.Text),
			Status:          ticket.StatusNew,
			Channel:         inst.Name,
			Via:             inst.Kind,
			Brand:           inst.Brand,
			RequesterID:     user.ID,
			ConversationKey: msg.ConversationKey,
			LastInboundAt:   sentAt,
			CreatedAt:       now,
		}
		if err := tx.CreateTicket(t); err != nil {
			return nil, err
		}
	case t.Status == ticket.StatusClosed:
		f := ticket.NewFollowUp(t, now)
		if strings.TrimSpace(msg.Subject) != "" {
			f.Subject = ticket.SubjectFrom(msg.Subject, "")
		}
		f.Channel, f.ConversationKey, f.Brand = inst.Name, msg.ConversationKey, inst.Brand
		f.RequesterID = user.ID
		f.LastInboundAt = sentAt
		if err := tx.CreateTicket(f); err != nil {
			return nil, err
		}
		t = f
	default:
		if user.Role == ticket.RoleAgent || user.Role == ticket.RoleAdmin {
			if _, err := ticket.ApplyAgentComment(t, user.ID, true, nil, now); err != nil {
				return nil, err
			}
		} else {
			if _, err := ticket.ApplyRequesterMessage(t, now); err != nil {
				return nil, err
			}
			if t.Channel == inst.Name && sentAt.After(t.LastInboundAt) {
				t.LastInboundAt = sentAt
			}
			// Reply windows are per conversation: the outbox takes the
			// latest of the ticket's, the conversation's latest ticket's
			// and this record's time. A message routed to the latest ticket
			// is in that ticket's LastInboundAt; one a quoted reply or a
			// hint routed elsewhere is recorded for its conversation (so
			// the common path costs no extra read on the writer).
			if !latest && msg.ConversationKey != "" {
				if err := tx.NoteConversationInbound(inst.Name, msg.ConversationKey, sentAt); err != nil {
					return nil, err
				}
			}
		}
		if err := tx.UpdateTicket(t); err != nil {
			return nil, err
		}
	}
	// 4. Comment.
	c := &ticket.Comment{
		TicketID:      t.ID,
		AuthorID:      user.ID,
		Body:          msg.Text,
		HTMLBody:      msg.HTML,
		Public:        true,
		Via:           inst.Kind,
		ExternalID:    msg.ExternalID,
		CreatedAt:     sentAt,
		AutoSubmitted: msg.AutoSubmitted,
		Metadata:      msg.Metadata,
	}
	if err := tx.CreateComment(c, store.CommentOptions{Instance: inst.Name, Raw: msg.Raw, Attachments: keep}); err != nil {
		return nil, err
	}
	rec := &sdk.Receipt{TicketID: t.ID, CommentID: c.ID}
	// 5. Rejected files: one internal note naming them.
	if len(rejected) > 0 {
		var b strings.Builder
		for _, m := range rejected {
			if _, err := tx.ClaimStaged(m.ID, t.ID, c.ID); err != nil {
				return nil, err
			}
			fmt.Fprintf(&b, "Attachment %q was not stored: %s.\n", m.Filename, m.Reason)
			rec.Rejected = append(rec.Rejected, sdk.RejectedAttachment{Filename: m.Filename, Reason: m.Reason})
		}
		note := &ticket.Comment{
			TicketID: t.ID,
			Body:     strings.TrimSpace(b.String()),
			Via:      ticket.ViaSystem,
			Metadata: map[string]string{"reason": "attachment_rejected", "comment_id": fmt.Sprint(c.ID)},
		}
		if err := tx.CreateComment(note, store.CommentOptions{}); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// findOrCreateUser finds the author by (type, id); failing that links a
// profile email that is an existing user's email identity (adding the new
// identity to that user); failing that creates an end user with the
// identity (and the email identity when it is free).
func (s *Service) findOrCreateUser(tx *store.Tx, inst Instance, p sdk.Party) (*ticket.User, error) {
	typ := p.IdentityType
	if typ == "" {
		typ = inst.Kind
	}
	value := p.ExternalID
	if strings.TrimSpace(value) == "" {
		typ, value = "email", p.Email
	}
	idn := ticket.NormalizeIdentity(typ, value)
	email := ticket.NormalizeIdentity("email", p.Email)
	u, err := tx.UserByIdentity(idn.Type, idn.Value)
	if err == nil {
		return s.resolveMerged(tx, u)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if email.Value != "" && email != idn {
		u, err := tx.UserByIdentity("email", email.Value)
		if err == nil {
			if u, err = s.resolveMerged(tx, u); err != nil {
				return nil, err
			}
			return tx.AddIdentity(u.ID, idn)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	u = &ticket.User{Name: strings.TrimSpace(p.Name), Phone: p.Phone, Role: ticket.RoleEndUser, Identities: []ticket.Identity{idn}}
	if email.Value != "" {
		u.Email = email.Value
		if email != idn {
			u.Identities = append(u.Identities, email)
		}
	}
	if u.Name == "" {
		u.Name = idn.Value
	}
	if err := tx.CreateUser(u); err != nil {
		return nil, err
	}
	return u, nil
}

// resolveMerged follows MergedInto links (identities move on merge, so
// this only matters for data written by older versions).
func (s *Service) resolveMerged(tx *store.Tx, u *ticket.User) (*ticket.User, error) {
	for range 8 {
		if u.MergedInto == 0 {
			return u, nil
		}
		next, err := tx.User(u.MergedInto)
		if err != nil {
			return nil, err
		}
		u = next
	}
	return u, nil
}

// route finds the ticket a message belongs to; nil means a new ticket.
// latest reports that it is the latest ticket of the message's own
// conversation (found through the conversation index).
func (s *Service) route(tx *store.Tx, inst Instance, msg *sdk.InboundMessage, user *ticket.User) (t *ticket.Ticket, latest bool, err error) {
	for _, id := range msg.ReplyTo {
		if id == "" || strings.ContainsRune(id, 0) {
			continue
		}
		t, err := tx.TicketByMessageID(inst.Name, id)
		if err == nil {
			return t, false, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, false, err
		}
	}
	if msg.TicketHint != 0 {
		// A plugin reaches only its own instance (DESIGN.md §2.7): a hint
		// naming another channel's ticket is ignored, verified or not.
		t, err := tx.Ticket(msg.TicketHint)
		if err == nil && t.Channel == inst.Name && (msg.TicketHintVerified || t.RequesterID == user.ID) {
			return t, false, nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, false, err
		}
	}
	if msg.ConversationKey != "" {
		t, err := tx.TicketByConversation(inst.Name, msg.ConversationKey)
		if err == nil {
			return t, true, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, false, err
		}
	}
	return nil, false, nil
}
