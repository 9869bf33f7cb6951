package whatsappchan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/graph"
	"github.com/patchbayhq/patchbay/sdk"
)

// MaxTextRunes is the longest text body the Cloud API accepts; longer
// replies are split into several messages.
const MaxTextRunes = 4096

// Upload limits per media kind; larger images, audio and video go out as
// documents (up to MaxMediaBytes).
const (
	maxImageBytes = 5 << 20
	maxAVBytes    = 16 << 20
)

// progress records which parts of a reply are already at Meta, so that a
// retried Send (same idempotency key) never sends a part twice.
type progress struct {
	IDs  []string `json:"ids"`
	Done bool     `json:"done"`
}

// Send delivers one reply: its text (split at 4096 characters), then each
// attachment uploaded and sent by media id. Outside the 24-hour window the
// configured template is sent instead, or the reply fails with
// window_closed.
func (c *Channel) Send(ctx context.Context, msg *sdk.OutboundMessage) (*sdk.SendResult, error) {
	rt := c.rt.Load()
	if rt == nil {
		return nil, sdk.Retryable("not_configured", errors.New("the channel is not configured yet"), 0)
	}
	to, recipient := recipientOf(msg)
	if to == "" && recipient == "" {
		return nil, sdk.Permanent("no_recipient", errors.New("the reply has no WhatsApp recipient (no phone number or user id)"))
	}
	text := strings.TrimSpace(msg.Text)
	if text == "" && len(msg.Attachments) == 0 {
		return nil, sdk.Permanent("empty_message", errors.New("the reply has neither text nor attachments"))
	}
	parts := splitText(text, MaxTextRunes)
	total := len(parts) + len(msg.Attachments)
	// A reply of several messages records which ones Meta accepted (Host
	// state), so that a retry after a failed later part never sends an
	// earlier one twice. A reply of one message needs no record: a retry
	// means Meta accepted nothing, or the core did not learn of the
	// acceptance (a crash between the two), which is the at-least-once
	// window the record would only have narrowed — at the price of two
	// Host round trips and a synced commit per reply.
	multi := total > 1
	var prog progress
	if multi {
		prog = c.loadProgress(ctx, rt, msg.IdempotencyKey)
		if prog.Done && len(prog.IDs) > 0 {
			return &sdk.SendResult{ExternalID: prog.IDs[0]}, nil
		}
	}
	if len(prog.IDs) == 0 {
		// The local clock may be wrong (a forward step makes a recent
		// message look older than 24 hours): it only chooses the template
		// when one is configured. Without one, the free-form reply is
		// tried and WhatsApp, whose clock decides, refuses it with 131047
		// if the window really closed (window_closed below): a reply never
		// fails for good on the local clock alone.
		if last := msg.LastInboundAt; !last.IsZero() && c.now().Sub(last) >= ReplyWindow {
			if rt.cfg.Template != nil {
				return c.sendOutsideWindow(ctx, rt, msg, to, recipient, last)
			}
			rt.log.Debug("the customer's last message looks older than 24 hours by the local clock; sending free-form, WhatsApp decides",
				"last_inbound", last.UTC().Format(time.RFC3339))
		}
	}

	for i := len(prog.IDs); i < total; i++ {
		var id string
		var err error
		if i < len(parts) {
			m := graph.NewMessage(to, recipient, "text")
			m.Text = &graph.Text{Body: parts[i], PreviewURL: strings.Contains(parts[i], "https://")}
			id, err = rt.client.SendMessage(ctx, m)
		} else {
			id, err = c.sendAttachment(ctx, rt, to, recipient, msg.Attachments[i-len(parts)])
		}
		if err != nil {
			if i == 0 && graph.IsCode(err, graph.CodeReEngagement) {
				return c.sendOutsideWindow(ctx, rt, msg, to, recipient, time.Time{})
			}
			return nil, c.sendError(ctx, rt, err)
		}
		c.recent.add(id, c.now())
		prog.IDs = append(prog.IDs, id)
		if i < total-1 {
			c.saveProgress(ctx, rt, msg.IdempotencyKey, prog)
		}
	}
	if multi {
		prog.Done = true
		c.saveProgress(ctx, rt, msg.IdempotencyKey, prog)
	}
	c.report(ctx, rt, sdk.StateConnected, "")
	return &sdk.SendResult{ExternalID: prog.IDs[0]}, nil
}

// sendOutsideWindow sends the configured template (one message: no progress
// record, see Send), or fails permanently with window_closed.
func (c *Channel) sendOutsideWindow(ctx context.Context, rt *runtime, msg *sdk.OutboundMessage, to, recipient string, last time.Time) (*sdk.SendResult, error) {
	tpl := rt.cfg.Template
	if tpl == nil {
		when := "more than 24 hours ago"
		if !last.IsZero() {
			when = fmt.Sprintf("%s ago (%s)", c.now().Sub(last).Round(time.Minute), last.UTC().Format(time.RFC3339))
		}
		return nil, sdk.Permanent("window_closed", fmt.Errorf(
			"the customer last wrote %s; WhatsApp accepts free-form replies only within 24 hours of the customer's last message. "+
				"The reply was not sent: configure a template for this channel, or wait for the customer to write again", when))
	}
	m := graph.NewMessage(to, recipient, "template")
	m.Template = &graph.Template{Name: tpl.Name, Language: graph.TemplateLanguage{Code: tpl.Language}}
	if tpl.BodyParameter {
		m.Template.Components = []graph.TemplateComponent{{
			Type:       "body",
			Parameters: []graph.TemplateParameter{{Type: "text", Text: templateText(msg.Text)}},
		}}
	}
	id, err := rt.client.SendMessage(ctx, m)
	if err != nil {
		return nil, c.sendError(ctx, rt, err)
	}
	c.recent.add(id, c.now())
	rt.log.Info("reply outside the 24-hour window sent as template", "template", tpl.Name, "wamid", id)
	return &sdk.SendResult{ExternalID: id}, nil
}

// sendAttachment uploads one file and sends it by media id.
func (c *Channel) sendAttachment(ctx context.Context, rt *runtime, to, recipient string, a sdk.Attachment) (string, error) {
	if a.Open == nil {
		return "", sdk.Permanent("attachment_unreadable", fmt.Errorf("attachment %q cannot be read", a.Filename))
	}
	contentType := a.ContentType
	if mt, _, err := mime.ParseMediaType(contentType); err == nil {
		contentType = mt
	} else {
		contentType = firstNonEmpty(mime.TypeByExtension(strings.ToLower(path.Ext(a.Filename))), "application/octet-stream")
		if mt, _, err := mime.ParseMediaType(contentType); err == nil {
			contentType = mt
		}
	}
	if a.Size > MaxMediaBytes {
		return "", sdk.Permanent("attachment_too_large", fmt.Errorf("attachment %q is %d bytes; WhatsApp carries at most %d", a.Filename, a.Size, MaxMediaBytes))
	}
	r, err := a.Open(ctx)
	if err != nil {
		return "", sdk.Retryable("attachment_unreadable", fmt.Errorf("open attachment %q: %w", a.Filename, err), 0)
	}
	defer r.Close()
	mediaID, err := rt.client.UploadMedia(ctx, a.Filename, contentType, io.LimitReader(r, MaxMediaBytes+1))
	if err != nil {
		return "", fmt.Errorf("upload %q: %w", a.Filename, err)
	}
	kind := outboundKind(contentType, a.Size)
	m := graph.NewMessage(to, recipient, kind)
	ref := &graph.MediaRef{ID: mediaID}
	switch kind {
	case "image":
		m.Image = ref
	case "video":
		m.Video = ref
	case "audio":
		m.Audio = ref
	default:
		ref.Filename = a.Filename
		m.Document = ref
	}
	return rt.client.SendMessage(ctx, m)
}

// outboundKind picks the message type for a file: images, audio and video
// within WhatsApp's per-type limits go as such, everything else as a
// document.
func outboundKind(contentType string, size int64) string {
	switch contentType {
	case "image/jpeg", "image/png":
		if size >= 0 && size <= maxImageBytes {
			return "image"
		}
	case "video/mp4", "video/3gpp":
		if size >= 0 && size <= maxAVBytes {
			return "video"
		}
	case "audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg":
		if size >= 0 && size <= maxAVBytes {
			return "audio"
		}
	}
	return "document"
}

// sendError turns a failure into the *sdk.SendError the core acts on:
// 429, 5xx and Meta's rate-limit and outage codes are retried (honouring
// Retry-After); any other Graph answer fails permanently with Meta's code
// and message.
func (c *Channel) sendError(ctx context.Context, rt *runtime, err error) error {
	var se *sdk.SendError
	if errors.As(err, &se) {
		return se
	}
	var ae *graph.APIError
	if !errors.As(err, &ae) {
		if ctx.Err() != nil {
			return sdk.Retryable("canceled", err, 0)
		}
		return sdk.Retryable("network", err, 0)
	}
	switch {
	case ae.Code == graph.CodeReEngagement:
		return sdk.Permanent("window_closed", fmt.Errorf("WhatsApp refused the reply because the 24-hour window is closed: %w", err))
	case ae.Retryable():
		code := "provider_unavailable"
		if ae.RateLimited() {
			code = "rate_limited"
		}
		return sdk.Retryable(code, err, ae.RetryAfter)
	case ae.AuthFailed():
		c.report(ctx, rt, sdk.StateAuthFailed, "the access token was refused: "+ae.Message)
		return sdk.Permanent("auth_failed", err)
	case ae.Code != 0:
		return sdk.Permanent(fmt.Sprintf("whatsapp_%d", ae.Code), err)
	default:
		return sdk.Permanent(fmt.Sprintf("http_%d", ae.HTTPStatus), err)
	}
}

// recipientOf returns the phone number to send to (preferred, as Meta
// recommends) or else the business-scoped user id.
func recipientOf(msg *sdk.OutboundMessage) (to, recipient string) {
	if p := phoneDigits(msg.Recipient.Phone); isPhone(p) {
		return p, ""
	}
	for _, v := range []string{msg.ConversationKey, msg.Recipient.ExternalID} {
		if p := strings.TrimPrefix(strings.TrimSpace(v), "+"); isPhone(p) {
			return p, ""
		}
	}
	for _, v := range []string{msg.ConversationKey, msg.Recipient.ExternalID} {
		if v = strings.TrimSpace(v); v != "" {
			return "", v
		}
	}
	return "", ""
}

// phoneDigits drops the formatting of a phone number ("+1 (555) 010-0").
func phoneDigits(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '(', ')', '.', '+':
			return -1
		}
		return r
	}, s)
}

func isPhone(s string) bool {
	if len(s) < 6 || len(s) > 20 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func (c *Channel) loadProgress(ctx context.Context, rt *runtime, key string) progress {
	var p progress
	if key == "" {
		return p
	}
	v, ok, err := rt.host.GetState(ctx, progressKey(key))
	if err != nil {
		rt.log.Warn("could not read send progress", "error", err)
		return p
	}
	if ok {
		if err := json.Unmarshal(v, &p); err != nil {
			rt.log.Warn("send progress unreadable; starting over", "error", err)
			return progress{}
		}
	}
	return p
}

func (c *Channel) saveProgress(ctx context.Context, rt *runtime, key string, p progress) {
	if key == "" {
		return
	}
	b, _ := json.Marshal(p)
	if err := rt.host.SetState(ctx, progressKey(key), b); err != nil {
		rt.log.Warn("could not record send progress", "error", err)
	}
}

func progressKey(idempotencyKey string) string { return "send/" + idempotencyKey }

// splitText cuts text into pieces of at most max runes, preferring to cut
// after a newline or a space.
func splitText(text string, max int) []string {
	if text == "" {
		return nil
	}
	var parts []string
	for utf8.RuneCountInString(text) > max {
		cut := byteOffset(text, max)
		if i := strings.LastIndex(text[:cut], "\n"); i > cut/2 {
			cut = i + 1
		} else if i := strings.LastIndex(text[:cut], " "); i > cut/2 {
			cut = i + 1
		}
		parts = append(parts, strings.TrimRight(text[:cut], " \n"))
		text = strings.TrimLeft(text[cut:], " \n")
	}
	if text != "" {
		parts = append(parts, text)
	}
	return parts
}

func byteOffset(s string, runes int) int {
	n := 0
	for i := range s {
		if n == runes {
			return i
		}
		n++
	}
	return len(s)
}

// templateText fits a reply into a template text parameter, which may not
// contain newlines, tabs or more than four consecutive spaces, and is
// capped at 1024 characters.
func templateText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > 1024 {
		s = s[:byteOffset(s, 1021)] + "..."
	}
	if s == "" {
		s = "-"
	}
	return s
}
