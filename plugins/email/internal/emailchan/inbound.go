package emailchan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/patchbayhq/patchbay/plugins/email/internal/mailparse"
	"github.com/patchbayhq/patchbay/plugins/email/internal/plusaddr"
	"github.com/patchbayhq/patchbay/sdk"
)

// deliverTimeout bounds one Deliver call; the sending MTA waits meanwhile.
const deliverTimeout = 2 * time.Minute

// unknownSender is the author of a message with neither a From header nor
// an envelope sender.
const unknownSender = "unknown-sender@invalid"

// envelope is what the receiving protocol knew about a message besides its
// content.
type envelope struct {
	Via        string // "smtp", "lmtp" or "imap"
	MailFrom   string // envelope sender; "" for the null sender or IMAP
	NullSender bool   // MAIL FROM:<>
	Rcpts      []string
	Remote     string
}

// outcome says what became of one received message.
type outcome int

const (
	delivered outcome = iota + 1
	droppedEcho
)

// errDeliver marks a failed Host.Deliver: the message is not stored and the
// sender must retry.
var errDeliver = errors.New("the core did not store the message")

// receive parses raw, drops our own echoed mail, and delivers the rest to
// the core. It returns only after Deliver returned.
func (c *Channel) receive(ctx context.Context, inst *instance, raw []byte, env envelope) (outcome, *sdk.Receipt, error) {
	host, signer, log := inst.host, inst.signer, inst.log
	m := mailparse.Parse(raw)
	if ours, _ := signer.Match(m.FromAddress); ours {
		log.Info("dropped mail from our own address (echo)", "message_id", m.ID, "via", env.Via)
		return droppedEcho, nil, nil
	}
	msg := buildInbound(inst, m, raw, env)
	ctx, cancel := context.WithTimeout(ctx, deliverTimeout)
	defer cancel()
	rcpt, err := host.Deliver(ctx, msg)
	if err != nil {
		log.Warn("deliver failed; the sender will retry", "message_id", msg.ExternalID, "via", env.Via, "error", err)
		return 0, nil, fmt.Errorf("%w: %w", errDeliver, err)
	}
	var rejected []string
	for _, r := range rcpt.Rejected {
		rejected = append(rejected, r.Filename+": "+r.Reason)
	}
	log.Info("mail delivered", "message_id", msg.ExternalID, "via", env.Via, "ticket", rcpt.TicketID, "comment", rcpt.CommentID,
		"duplicate", rcpt.Duplicate, "auto_submitted", msg.AutoSubmitted, "rejected_files", strings.Join(rejected, "; "))
	return delivered, rcpt, nil
}

// buildInbound turns a parsed message into what the core stores.
func buildInbound(inst *instance, m *mailparse.Message, raw []byte, env envelope) *sdk.InboundMessage {
	signer := inst.signer
	author := m.FromAddress
	if author == "" {
		author = strings.ToLower(env.MailFrom)
	}
	if author == "" {
		author = unknownSender
	}
	// The message's time is when we received it: the sender's Date header
	// is not to be trusted for ordering or time-based rules (clocks are
	// wrong, old mail is resent, dates are forged); it is kept as metadata.
	receivedAt := time.Now().UTC()
	msg := &sdk.InboundMessage{
		ExternalID:      m.ID,
		ConversationKey: m.ThreadRoot,
		ReplyTo:         m.ReplyTo(),
		// Threading ids are whatever the sender wrote: the core threads
		// publicly only for the ticket's participants.
		HeaderThreading: true,
		Author: sdk.Party{
			ExternalID:   author,
			IdentityType: "email",
			Name:         m.FromName,
			Email:        author,
		},
		Subject:        m.Subject,
		Text:           m.Text,
		HTML:           m.HTML,
		SentAt:         receivedAt,
		Raw:            raw,
		RawContentType: "message/rfc822",
		Metadata:       map[string]string{"via": env.Via},
	}
	if author == unknownSender {
		msg.Author.Email = ""
	}
	if !m.Date.IsZero() {
		msg.Metadata["date"] = m.Date.UTC().Format(time.RFC3339)
	}
	if m.MessageID != "" {
		msg.Metadata["message_id"] = m.MessageID
	}
	if env.Via != "imap" {
		msg.Metadata["envelope_from"] = env.MailFrom
		msg.Metadata["envelope_to"] = strings.Join(env.Rcpts, ", ")
	}
	if len(m.Recipients) > 0 {
		msg.Metadata["to"] = strings.Join(m.Recipients, ", ")
	}
	if m.FullText != m.Text {
		// The display text lost quoted history or a signature: the full
		// body stays with the comment (and in Raw).
		msg.Metadata["full_text"] = m.FullText
	}
	if len(m.Errors) > 0 {
		msg.Metadata["parse_errors"] = strings.Join(m.Errors, "; ")
	}
	if m.Truncated {
		msg.Metadata["parts_dropped"] = "true"
	}
	if auto, reason := mailparse.DetectAuto(m.Header, env.NullSender); auto {
		msg.AutoSubmitted = true
		msg.Metadata["auto_submitted"] = reason
	}

	// Everyone else the author wrote to (To, Cc): the core records them
	// as the ticket's participants when the message may speak publicly.
	msg.CC = copied(signer, m.Header, author)

	// Threading hints: a signed plus-address in an envelope recipient (or,
	// over IMAP, in the recipient headers) wins over a subject token.
	for _, r := range append(append([]string(nil), env.Rcpts...), m.Recipients...) {
		if _, t := signer.Match(r); t != 0 {
			msg.TicketHint, msg.TicketHintVerified = t, true
			break
		}
	}
	var legacyHint uint64
	msg.ReplyTo, msg.ConversationKey, legacyHint = screenThreadIDs(inst.ids, msg, m.ID)
	if msg.TicketHint == 0 && legacyHint != 0 {
		msg.TicketHint = legacyHint
	}
	if msg.TicketHint == 0 {
		if t := mailparse.SubjectTicket(m.Subject); t != 0 {
			msg.TicketHint = t
		}
	}
	if ok, method := verifiedAuthor(m.Header, m.FromAddress, inst.cfg.TrustedRelays); ok && author == m.FromAddress {
		msg.AuthorVerified = true
		msg.Metadata["sender_verified"] = method
	}

	for _, a := range m.Attachments {
		sum := sha256.Sum256(a.Data)
		att := sdk.BytesAttachment(a.Filename, a.ContentType, a.Data)
		att.SHA256 = hex.EncodeToString(sum[:])
		msg.Attachments = append(msg.Attachments, att)
	}
	return msg
}

// screenThreadIDs sorts the threading ids of a message by what they prove.
// A correctly signed id of ours is a capability like the signed
// plus-address (only recipients of our mail know it): it becomes a verified
// ticket hint and stays in ReplyTo. An id of our shape with a wrong
// signature is dropped (a guess). A legacy id of ours (minted before ids
// were signed, computable by anyone) is dropped from ReplyTo and returned
// as an unsigned hint, which threads only for the ticket's requester. A
// conversation key that is a forged or legacy id of ours is replaced by the
// message's own id. Foreign ids stay: the core threads on them only for the
// ticket's participants.
func screenThreadIDs(ids *msgIDSigner, msg *sdk.InboundMessage, ownID string) (replyTo []string, conv string, legacyHint uint64) {
	conv = msg.ConversationKey
	if ids == nil {
		return msg.ReplyTo, conv, 0
	}
	for _, id := range msg.ReplyTo {
		switch kind, t := ids.classify(id); kind {
		case idSigned:
			if msg.TicketHint == 0 {
				msg.TicketHint, msg.TicketHintVerified = t, true
			}
			replyTo = append(replyTo, id)
		case idLegacy:
			if legacyHint == 0 {
				legacyHint = t
			}
		case idForged:
		default:
			replyTo = append(replyTo, id)
		}
	}
	if kind, _ := ids.classify(conv); kind == idForged || kind == idLegacy {
		conv = ownID
	}
	return replyTo, conv, legacyHint
}

// copied returns the people a mail's To and Cc headers name besides the
// author and our own addresses (a header that does not parse names nobody).
func copied(signer *plusaddr.Signer, h textproto.MIMEHeader, author string) []sdk.Party {
	var out []sdk.Party
	seen := map[string]bool{author: true}
	// Display names in a charset Go does not decode keep their raw form.
	parser := &mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: func(_ string, input io.Reader) (io.Reader, error) {
		return input, nil
	}}}
	for _, field := range []string{"To", "Cc"} {
		for _, v := range h.Values(field) {
			list, err := parser.ParseList(v)
			if err != nil {
				continue
			}
			for _, a := range list {
				addr := strings.ToLower(strings.TrimSpace(a.Address))
				if ours, _ := signer.Match(addr); ours || seen[addr] || !strings.Contains(addr, "@") {
					continue
				}
				seen[addr] = true
				out = append(out, sdk.Party{ExternalID: addr, IdentityType: "email", Name: strings.ToValidUTF8(a.Name, "\uFFFD"), Email: addr})
			}
		}
	}
	return out
}
