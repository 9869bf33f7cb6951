package emailchan

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/inbucket/html2text"
	gomail "github.com/wneessen/go-mail"

	"github.com/patchbayhq/patchbay/plugins/email/internal/mailparse"
	"github.com/patchbayhq/patchbay/plugins/email/internal/plusaddr"
	"github.com/patchbayhq/patchbay/sdk"
)

// maxReferences bounds the References header of outbound mail: the thread
// root and the most recent ids are kept (RFC 5322 3.6.4 allows trimming).
const maxReferences = 20

// composed is an outbound message ready for a transport.
type composed struct {
	msg       *gomail.Msg
	messageID string // without angle brackets
	rcpt      string
	from      string
}

// compose builds the outbound mail for one public reply. Errors are
// *sdk.SendError values (a reply that cannot be built is not retried).
func compose(ctx context.Context, cfg *config, signer *plusaddr.Signer, ids *msgIDSigner, out *sdk.OutboundMessage) (*composed, error) {
	rcpt := recipientAddress(out.Recipient)
	if a, err := mail.ParseAddress(rcpt); err != nil || a.Address != rcpt || !strings.Contains(rcpt, "@") {
		return nil, sdk.Permanent("invalid_recipient", fmt.Errorf("recipient %q is not an email address", rcpt))
	}

	m := gomail.NewMsg()
	fromName := cfg.FromName
	if fromName == "" {
		fromName = out.Author.Name
	}
	if err := m.FromFormat(fromName, cfg.Address); err != nil {
		return nil, sdk.Permanent("invalid_sender", err)
	}
	if err := m.EnvelopeFrom(cfg.Address); err != nil {
		return nil, sdk.Permanent("invalid_sender", err)
	}
	rcptName := out.Recipient.Name
	if strings.EqualFold(strings.TrimSpace(rcptName), rcpt) {
		rcptName = "" // a user named after the address: no "a@b" <a@b>
	}
	if err := m.AddToFormat(rcptName, rcpt); err != nil {
		return nil, sdk.Permanent("invalid_recipient", err)
	}
	if out.TicketID != 0 {
		if err := m.ReplyToFormat(fromName, signer.Address(out.TicketID)); err != nil {
			return nil, sdk.Permanent("invalid_sender", err)
		}
		m.SetGenHeader("X-Patchbay-Ticket", strconv.FormatUint(out.TicketID, 10))
	}

	var refs []string
	for _, id := range out.ThreadExternalIDs {
		if mailparse.IsMsgID(id) && !contains(refs, id) {
			refs = append(refs, id)
		}
	}
	if len(refs) > maxReferences {
		refs = append(refs[:1:1], refs[len(refs)-(maxReferences-1):]...)
	}
	// A reply to anything the customer wrote is "Re:", even when their
	// message had no usable Message-ID to reference.
	m.SetGenHeaderPreformatted(gomail.HeaderSubject, foldSubject(outboundSubject(out.Subject, out.TicketID, len(out.ThreadExternalIDs) > 0)))
	m.SetUserAgent("Patchbay email channel " + Version)

	// Signed with the instance's secret: nobody else can make an id that
	// threads into this ticket (see trust.go).
	msgID := ids.mint(out.TicketID, out.IdempotencyKey)
	m.SetMessageIDWithValue(msgID)
	m.SetDate()
	if len(refs) > 0 {
		m.SetGenHeaderPreformatted(gomail.HeaderInReplyTo, "<"+refs[len(refs)-1]+">")
		m.SetGenHeaderPreformatted(gomail.HeaderReferences, "<"+strings.Join(refs, ">\r\n <")+">")
	}
	if out.AutoReply {
		// RFC 3834: mark our automatic mail so that other robots do not
		// answer it; Exchange honours X-Auto-Response-Suppress.
		m.SetGenHeader("Auto-Submitted", "auto-replied")
		m.SetGenHeader("X-Auto-Response-Suppress", "All")
	}

	text := out.Text
	if text == "" && out.HTML != "" {
		if t, err := html2text.FromString(out.HTML); err == nil {
			text = t
		}
	}
	m.SetBodyString(gomail.TypeTextPlain, text)
	if out.HTML != "" {
		m.AddAlternativeString(gomail.TypeTextHTML, out.HTML)
	}

	for _, a := range out.Attachments {
		if err := attach(ctx, m, a, cfg.MaxBytes); err != nil {
			return nil, err
		}
	}
	return &composed{msg: m, messageID: msgID, rcpt: rcpt, from: cfg.Address}, nil
}

// recipientAddress picks the address to answer: the requester's email
// identity on this channel (the address the conversation is with), else
// the user's email.
func recipientAddress(p sdk.Party) string {
	if id := strings.TrimSpace(p.ExternalID); (p.IdentityType == "email" || p.IdentityType == "") && strings.Contains(id, "@") {
		return id
	}
	return strings.TrimSpace(p.Email)
}

// attach reads one outbound file into the message.
func attach(ctx context.Context, m *gomail.Msg, a sdk.Attachment, limit int64) error {
	if a.Open == nil {
		return sdk.Permanent("attachment_unavailable", fmt.Errorf("attachment %q has no content", a.Filename))
	}
	rc, err := a.Open(ctx)
	if err != nil {
		return sdk.Retryable("attachment_unavailable", fmt.Errorf("opening attachment %q: %w", a.Filename, err), 0)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return sdk.Retryable("attachment_unavailable", fmt.Errorf("reading attachment %q: %w", a.Filename, err), 0)
	}
	if int64(len(data)) > limit {
		return sdk.Permanent("attachment_too_large", fmt.Errorf("attachment %q is larger than max_message_mb", a.Filename))
	}
	name := a.Filename
	if name == "" {
		name = "attachment"
	}
	ct := a.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	if err := m.AttachReader(name, strings.NewReader(string(data)), gomail.WithFileContentType(gomail.ContentType(ct))); err != nil {
		return sdk.Permanent("attachment_invalid", fmt.Errorf("attaching %q: %w", a.Filename, err))
	}
	// The file name as a MIME parameter: RFC 2231 (filename*=utf-8''…)
	// when it is not ASCII, never an RFC 2047 encoded word inside a
	// quoted string (RFC 2047 §5 forbids it; go-mail writes one).
	files := m.GetAttachments()
	f := files[len(files)-1]
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = "application/octet-stream"
	}
	if v := mime.FormatMediaType(mt, map[string]string{"name": name}); v != "" {
		f.Header.Set("Content-Type", v)
	}
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" {
		f.Header.Set("Content-Disposition", v)
	}
	return nil
}

// maxHeaderLine is the longest header line written (RFC 5322 2.1.1
// recommends 78 characters).
const maxHeaderLine = 78

// foldSubject returns the value of a Subject header: ASCII text as it is,
// anything else as RFC 2047 encoded words, folded between words so that
// every line stays within maxHeaderLine and the first one starts right
// after "Subject: " (go-mail's own folding moved a long encoded subject
// to a continuation line).
func foldSubject(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x7f || s[i] < 0x20 {
			ascii = false
			break
		}
	}
	var words []string
	if ascii {
		words = strings.Fields(s)
	} else {
		// Encode piece by piece: 42 bytes make a 68-character encoded
		// word (RFC 2047 allows 75) that fits on the first line after
		// "Subject: ", and folding happens between them.
		for _, w := range splitUTF8(s, 42) {
			words = append(words, mime.BEncoding.Encode("utf-8", w))
		}
	}
	var b strings.Builder
	line := len("Subject: ")
	for i, w := range words {
		if i > 0 {
			if line+1+len(w) > maxHeaderLine {
				b.WriteString("\r\n ")
				line = 1
			} else {
				b.WriteByte(' ')
				line++
			}
		}
		b.WriteString(w)
		line += len(w)
	}
	return b.String()
}

// splitUTF8 cuts s into pieces of at most n bytes, at rune boundaries.
// Adjacent encoded words are joined without the space between them when
// decoded (RFC 2047 6.2), so the pieces together are s.
func splitUTF8(s string, n int) []string {
	var out []string
	for len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if cut == 0 {
			cut = n
		}
		// Prefer to cut after a space: decoders that wrongly keep the
		// folding white space between encoded words then still show
		// whole words.
		if sp := strings.LastIndexByte(s[:cut], ' '); sp >= n/2 {
			cut = sp + 1
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	if len(s) > 0 {
		out = append(out, s)
	}
	return out
}

// outboundSubject is "Re: <subject> [#42]" for a reply in a thread,
// "<subject> [#42]" for the first mail of a ticket opened elsewhere.
func outboundSubject(subject string, ticket uint64, reply bool) string {
	s := mailparse.CleanSubject(subject)
	if ticket != 0 {
		tok := "[#" + strconv.FormatUint(ticket, 10) + "]"
		if s == "" {
			s = tok
		} else {
			s += " " + tok
		}
	}
	if reply {
		s = "Re: " + s
	}
	return strings.TrimSpace(s)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
