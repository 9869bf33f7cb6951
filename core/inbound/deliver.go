package inbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/sdk"
)

// MaxExternalIDLength bounds a provider message id.
const MaxExternalIDLength = 1024

// maxParticipantScan bounds how many of a ticket's latest comments are read
// to find whether an unverified sender took part in its public conversation.
const maxParticipantScan = 1000

// Bounds on recorded CCs: per message, and per ticket.
const (
	maxCCPerMessage = 20
	maxCCPerTicket  = 50
)

// How route found a message's ticket.
type routeKind int

const (
	routeNew           routeKind = iota // no ticket: a new one
	routeReplyTo                        // a ReplyTo id known on the instance
	routeVerifiedHint                   // a signed TicketHint
	routeRequesterHint                  // an unsigned TicketHint, author = requester
	routeConversation                   // the conversation's latest ticket
)

// Comment metadata of a message kept as an unverified sender's note.
const (
	reasonUnverifiedSender = "unverified_sender"
	reasonRawNotKept       = "raw_not_kept"
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
// Who may write what (the trust rules, docs/channels/email.md):
//
//   - an author who resolves to an agent or administrator writes as them
//     only when the channel verified the author (msg.AuthorVerified);
//   - a message threaded by content the sender wrote (msg.HeaderThreading:
//     email In-Reply-To, References, thread root) becomes a public comment
//     on an existing ticket only when its author is that ticket's
//     requester or a participant (an earlier public comment of theirs on
//     it), or a signed TicketHint names that ticket;
//
// anything else that routed to an existing ticket is added to it as an
// internal note from an unverified sender (no author, the sender's address
// and user id in its metadata, the ticket's status untouched), and
// anything that would open a ticket for an unverified agent opens it with
// such a note. A message for a closed ticket from a sender who may not
// write on it opens a new ticket of their own instead of a follow-up.
//
// A raw payload over store.MaxInlineRaw is kept in chunks like an
// attachment (the SDK streams one; an inline one is staged here), so the
// raw payload never makes the core refuse a message the channel accepted.
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
	if len(msg.Raw) > store.MaxInlineRaw {
		// A plugin that sent a large raw payload inline (the SDK streams
		// one): keep it in chunks, a few MiB per commit, outside the
		// delivery's own commit.
		st, err := s.stageRaw(ctx, instance, msg.RawContentType, "", bytes.NewReader(msg.Raw))
		if err != nil {
			s.metrics.delivered(instance, start, false, err)
			return nil, err
		}
		m := *msg
		m.Raw = nil
		msg = &m
		attachmentIDs = append(slices.Clip(attachmentIDs), st.ID)
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
	}
	ids := append([]string{msg.ExternalID, msg.ConversationKey, msg.Author.ExternalID, msg.Author.Email, msg.Author.IdentityType}, msg.ReplyTo...)
	for _, id := range ids {
		if !utf8.ValidString(id) {
			return fmt.Errorf("%w: an id is not valid UTF-8", ErrInvalidMessage)
		}
	}
	return nil
}

// maxClockSkew is how far in the future a message's SentAt may be (the
// provider's clock running ahead of ours) before it is replaced by the time
// of receipt.
const maxClockSkew = 5 * time.Minute

// deliver runs Deliver's steps for msg inside tx (see Deliver): dedupe,
// staged attachments, identity, route and trust, the ticket's change, the
// comment and the note naming rejected files.
func (s *Service) deliver(tx *store.Tx, inst Instance, msg *sdk.InboundMessage, attachmentIDs []string) (*sdk.Receipt, error) {
	// 1. Dedupe.
	if c, err := tx.CommentByExternalID(inst.Name, msg.ExternalID); err == nil {
		return &sdk.Receipt{TicketID: c.TicketID, CommentID: c.ID, Duplicate: true}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	files, err := sortStaged(tx, inst, msg, attachmentIDs)
	if err != nil {
		return nil, err
	}
	now := tx.Now()
	sentAt := receivedAt(msg.SentAt, now)
	// 2. Identity.
	user, err := s.findOrCreateUser(tx, inst, msg.Author)
	if err != nil {
		return nil, err
	}
	// 3. Route, then decide whether the author may write on the ticket.
	dest, err := s.destination(tx, inst, msg, user)
	if err != nil {
		return nil, err
	}
	if !dest.trusted {
		return s.deliverUnverified(tx, inst, msg, user, dest.t, files.keep, files.rejected, files.raw, now, sentAt)
	}
	// The people the author copied become participants (their user
	// records, like the author's, are the system's writes).
	cc, err := s.ccUsers(tx, inst, msg.CC)
	if err != nil {
		return nil, err
	}
	// The author caused what follows (their user record was written
	// before: identity changes are the system's).
	tx.SetActor(user.ID)
	t, err := applyToTicket(tx, inst, msg, user, dest, cc, now, sentAt)
	if err != nil {
		return nil, err
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
	if err := s.createInbound(tx, inst, msg, c, files.keep, files.raw); err != nil {
		return nil, err
	}
	return s.noteRejected(tx, t, c, files.rejected)
}

// stagedFiles are a message's staged attachments sorted by what becomes
// of them.
type stagedFiles struct {
	keep     []string                // ids of files stored with the comment
	rejected []*store.AttachmentMeta // files named in a note, not stored
	raw      *store.AttachmentMeta   // the message's raw payload, if staged
}

// sortStaged checks that every staged attachment of the message exists
// (complete, of this instance) and sorts them: kept, rejected, and at most
// one raw payload (none if the message carries its raw payload inline).
func sortStaged(tx *store.Tx, inst Instance, msg *sdk.InboundMessage, attachmentIDs []string) (stagedFiles, error) {
	var f stagedFiles
	for _, id := range attachmentIDs {
		m, err := tx.Attachment(id)
		if errors.Is(err, store.ErrNotFound) || err == nil && (!m.Staged || !m.Complete || m.Instance != inst.Name) {
			return stagedFiles{}, fmt.Errorf("%w: %s", ErrUnknownAttachment, id)
		} else if err != nil {
			return stagedFiles{}, err
		}
		switch {
		case m.Raw:
			if f.raw != nil || len(msg.Raw) > 0 {
				return stagedFiles{}, fmt.Errorf("%w: more than one raw payload", ErrInvalidMessage)
			}
			f.raw = m
		case m.Rejected:
			f.rejected = append(f.rejected, m)
		default:
			f.keep = append(f.keep, id)
		}
	}
	return f, nil
}

// receivedAt is the time a message counts as sent: its SentAt, or now
// when it has none or one in the future. A time in the future is a wrong
// clock or a forged header: the message counts as received now, so that
// ordering, reply windows and time-based rules cannot be pushed ahead.
func receivedAt(sentAt, now time.Time) time.Time {
	if sentAt.IsZero() || sentAt.After(now.Add(maxClockSkew)) {
		return now
	}
	return sentAt
}

// destination is where an inbound message goes.
type destination struct {
	t       *ticket.Ticket // the ticket written on; nil for a new one
	latest  bool           // t is its conversation's latest ticket
	trusted bool           // the author may write on t as they claim
	convKey string         // the conversation a new ticket takes over ("" for none)
}

// destination routes msg and decides whether its author may write on the
// ticket found as they claim.
func (s *Service) destination(tx *store.Tx, inst Instance, msg *sdk.InboundMessage, user *ticket.User) (destination, error) {
	t, latest, how, err := s.route(tx, inst, msg, user)
	if err != nil {
		return destination{}, err
	}
	d := destination{t: t, latest: latest, convKey: msg.ConversationKey}
	privileged := user.Role == ticket.RoleAgent || user.Role == ticket.RoleAdmin
	if d.trusted, err = authorTrusted(tx, msg, user, t, how, privileged); err != nil {
		return destination{}, err
	}
	if !d.trusted && t != nil && t.Status == ticket.StatusClosed {
		// No follow-up of someone else's closed ticket: the sender's
		// own new ticket (their message is public there unless they
		// claimed an agent's address).
		d.t, d.latest = nil, false
		d.trusted = !privileged || msg.AuthorVerified
	}
	if !d.trusted || (d.t == nil && how != routeNew) {
		// A ticket opened for a sender who threaded onto someone else's
		// conversation does not take that conversation over: later
		// messages of it still reach the original ticket.
		d.convKey = ""
	}
	return d, nil
}

// authorTrusted reports whether the author of msg may write on ticket t
// (found as how says) as who they claim to be.
func authorTrusted(tx *store.Tx, msg *sdk.InboundMessage, user *ticket.User, t *ticket.Ticket, how routeKind, privileged bool) (bool, error) {
	switch {
	case privileged && !msg.AuthorVerified:
		// From is not authentication: a message naming an agent's
		// address writes as that agent only when the channel verified it.
		return false, nil
	case t != nil && msg.HeaderThreading && (how == routeReplyTo || how == routeConversation) &&
		!privileged && !(msg.TicketHintVerified && msg.TicketHint == t.ID):
		return isParticipant(tx, t, user.ID)
	}
	return true, nil
}

// applyToTicket writes what a trusted message does to its ticket: a new
// ticket, a follow-up of a closed one, or the update of an open one. It
// returns the ticket the comment goes on.
func applyToTicket(tx *store.Tx, inst Instance, msg *sdk.InboundMessage, user *ticket.User, dest destination,
	cc []uint64, now, sentAt time.Time) (*ticket.Ticket, error) {
	t := dest.t
	switch {
	case t == nil:
		t = &ticket.Ticket{
			Subject:         ticket.SubjectFrom(msg.Subject, msg.Text),
			Status:          ticket.StatusNew,
			Channel:         inst.Name,
			Via:             inst.Kind,
			Brand:           inst.Brand,
			RequesterID:     user.ID,
			ConversationKey: dest.convKey,
			LastInboundAt:   sentAt,
			CreatedAt:       now,
		}
		t.CCIDs = addCC(nil, cc, user.ID)
		if err := tx.CreateTicket(t); err != nil {
			return nil, err
		}
		return t, nil
	case t.Status == ticket.StatusClosed:
		f := ticket.NewFollowUp(t, now)
		if strings.TrimSpace(msg.Subject) != "" {
			f.Subject = ticket.SubjectFrom(msg.Subject, "")
		}
		f.Channel, f.ConversationKey, f.Brand = inst.Name, msg.ConversationKey, inst.Brand
		f.RequesterID = user.ID
		f.LastInboundAt = sentAt
		f.CCIDs = addCC(f.CCIDs, cc, user.ID)
		if err := tx.CreateTicket(f); err != nil {
			return nil, err
		}
		return f, nil
	default:
		if err := updateOpenTicket(tx, inst, msg, user, t, dest.latest, cc, now, sentAt); err != nil {
			return nil, err
		}
		return t, nil
	}
}

// updateOpenTicket applies a trusted message to the open ticket t: its
// CCs, the agent's or requester's change of status, the reply window's
// inbound time.
func updateOpenTicket(tx *store.Tx, inst Instance, msg *sdk.InboundMessage, user *ticket.User, t *ticket.Ticket, latest bool,
	cc []uint64, now, sentAt time.Time) error {
	t.CCIDs = addCC(t.CCIDs, cc, t.RequesterID)
	if user.Role == ticket.RoleAgent || user.Role == ticket.RoleAdmin {
		if _, err := ticket.ApplyAgentComment(t, user.ID, true, nil, now); err != nil {
			return err
		}
		return tx.UpdateTicket(t)
	}
	if _, err := ticket.ApplyRequesterMessage(t, now); err != nil {
		return err
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
			return err
		}
	}
	return tx.UpdateTicket(t)
}

// createInbound stores an inbound message's comment with its attachments
// and raw payload (inline, staged in chunks, or not kept with the reason in
// the comment's metadata).
func (s *Service) createInbound(tx *store.Tx, inst Instance, msg *sdk.InboundMessage, c *ticket.Comment, keep []string, raw *store.AttachmentMeta) error {
	opts := store.CommentOptions{Instance: inst.Name, Raw: msg.Raw, RawContentType: msg.RawContentType, Attachments: keep}
	if raw != nil {
		if raw.Rejected {
			c.Metadata = maps.Clone(c.Metadata)
			if c.Metadata == nil {
				c.Metadata = map[string]string{}
			}
			c.Metadata[reasonRawNotKept] = raw.Reason
		} else {
			opts.RawAttachment = raw.ID
		}
	}
	if err := tx.CreateComment(c, opts); err != nil {
		return err
	}
	if raw != nil && raw.Rejected {
		if _, err := tx.ClaimStaged(raw.ID, c.TicketID, c.ID); err != nil {
			return err
		}
	}
	return nil
}

// noteRejected claims the rejected files of comment c and names them in
// one internal note, and returns the receipt.
func (s *Service) noteRejected(tx *store.Tx, t *ticket.Ticket, c *ticket.Comment, rejected []*store.AttachmentMeta) (*sdk.Receipt, error) {
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

// deliverUnverified stores a message whose author may not write on ticket
// t as they claim (see Deliver): an internal note on t marked as from an
// unverified sender, or, when t is nil, a new ticket for the author whose
// first comment is such a note. The note has no author and changes
// nothing of the ticket's state; its metadata names the sender.
func (s *Service) deliverUnverified(tx *store.Tx, inst Instance, msg *sdk.InboundMessage, user *ticket.User, t *ticket.Ticket,
	keep []string, rejected []*store.AttachmentMeta, raw *store.AttachmentMeta, now, sentAt time.Time) (*sdk.Receipt, error) {
	if t == nil {
		tx.SetActor(0)
		t = &ticket.Ticket{
			Subject:     ticket.SubjectFrom(msg.Subject, msg.Text),
			Status:      ticket.StatusNew,
			Channel:     inst.Name,
			Via:         inst.Kind,
			Brand:       inst.Brand,
			RequesterID: user.ID,
			CreatedAt:   now,
		}
		if err := tx.CreateTicket(t); err != nil {
			return nil, err
		}
	}
	meta := maps.Clone(msg.Metadata)
	if meta == nil {
		meta = map[string]string{}
	}
	meta["reason"] = reasonUnverifiedSender
	meta["sender_user_id"] = strconv.FormatUint(user.ID, 10)
	sender := msg.Author.Email
	if sender == "" {
		sender = msg.Author.ExternalID
	}
	meta["sender"] = sender
	c := &ticket.Comment{
		TicketID:      t.ID,
		Body:          msg.Text,
		HTMLBody:      msg.HTML,
		Public:        false,
		Via:           inst.Kind,
		ExternalID:    msg.ExternalID,
		CreatedAt:     sentAt,
		AutoSubmitted: msg.AutoSubmitted,
		Metadata:      meta,
	}
	if err := s.createInbound(tx, inst, msg, c, keep, raw); err != nil {
		return nil, err
	}
	s.log.Info("inbound message kept as an internal note: unverified sender", "instance", inst.Name,
		"ticket", t.ID, "comment", c.ID, "sender_user_id", user.ID)
	return s.noteRejected(tx, t, c, rejected)
}

// ccUsers finds or creates the end users of the parties a message copied
// (the first maxCCPerMessage); agents and administrators are left out.
func (s *Service) ccUsers(tx *store.Tx, inst Instance, parties []sdk.Party) ([]uint64, error) {
	var ids []uint64
	for _, p := range parties[:min(len(parties), maxCCPerMessage)] {
		if strings.TrimSpace(p.ExternalID) == "" && strings.TrimSpace(p.Email) == "" {
			continue
		}
		if !utf8.ValidString(p.ExternalID+p.Email+p.IdentityType) || strings.ContainsRune(p.ExternalID+p.Email, 0) ||
			len(p.ExternalID) > MaxExternalIDLength || len(p.Email) > MaxExternalIDLength {
			continue
		}
		u, err := s.findOrCreateUser(tx, inst, p)
		if err != nil {
			return nil, err
		}
		if u.Role == ticket.RoleEndUser || u.Role == "" {
			ids = append(ids, u.ID)
		}
	}
	return ids, nil
}

// addCC returns cc with the ids of add that are new, not the requester,
// up to maxCCPerTicket; cc itself is never modified (tickets share slices
// with the store's cache).
func addCC(cc, add []uint64, requester uint64) []uint64 {
	out := cc
	for _, id := range add {
		if id == requester || slices.Contains(out, id) || len(out) >= maxCCPerTicket {
			continue
		}
		out = append(slices.Clip(out), id)
	}
	return out
}

// isParticipant reports whether user may write publicly on t when the
// message reached t by sender-written threading: the requester, a recorded
// CC, or the author of a public comment among its latest maxParticipantScan.
func isParticipant(tx *store.Tx, t *ticket.Ticket, userID uint64) (bool, error) {
	if t.RequesterID == userID || slices.Contains(t.CCIDs, userID) {
		return true, nil
	}
	ids, err := tx.CommentIDsBefore(t.ID, math.MaxUint64, maxParticipantScan)
	if err != nil {
		return false, err
	}
	for _, id := range ids {
		c, err := tx.Comment(id)
		if err != nil {
			return false, err
		}
		if c.Public && c.AuthorID == userID {
			return true, nil
		}
	}
	return false, nil
}

// findOrCreateUser finds the author by (type, id); failing that links a
// profile email that is an existing end user's email identity (adding the
// new identity to that user; never an agent's or administrator's, whose
// accounts a provider profile must not reach); failing that creates an end
// user with the identity (and the email identity when it is free).
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
	emailFree := true
	if email.Value != "" && email != idn {
		u, err := tx.UserByIdentity("email", email.Value)
		if err == nil {
			if u, err = s.resolveMerged(tx, u); err != nil {
				return nil, err
			}
			if u.Role == ticket.RoleEndUser || u.Role == "" {
				return tx.AddIdentity(u.ID, idn)
			}
			// A profile email equal to an agent's: a new end user,
			// without that email.
			emailFree = false
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	u = &ticket.User{Name: strings.TrimSpace(p.Name), Phone: p.Phone, Role: ticket.RoleEndUser, Identities: []ticket.Identity{idn}}
	if email.Value != "" && emailFree {
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
func (s *Service) route(tx *store.Tx, inst Instance, msg *sdk.InboundMessage, user *ticket.User) (t *ticket.Ticket, latest bool, how routeKind, err error) {
	for _, id := range msg.ReplyTo {
		if id == "" || strings.ContainsRune(id, 0) {
			continue
		}
		t, err := tx.TicketByMessageID(inst.Name, id)
		if err == nil {
			return t, false, routeReplyTo, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, false, routeNew, err
		}
	}
	if msg.TicketHint != 0 {
		// A plugin reaches only its own instance: a hint naming another
		// channel's ticket is ignored, verified or not.
		t, err := tx.Ticket(msg.TicketHint)
		if err == nil && t.Channel == inst.Name {
			switch {
			case msg.TicketHintVerified:
				return t, false, routeVerifiedHint, nil
			case t.RequesterID == user.ID:
				return t, false, routeRequesterHint, nil
			}
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, false, routeNew, err
		}
	}
	if msg.ConversationKey != "" {
		t, err := tx.TicketByConversation(inst.Name, msg.ConversationKey)
		if err == nil {
			return t, true, routeConversation, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, false, routeNew, err
		}
	}
	return nil, false, routeNew, nil
}
