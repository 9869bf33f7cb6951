package whatsappchan

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/webhook"
	"github.com/patchbayhq/patchbay/sdk"
)

// HandleWebhook answers Meta's requests on /hooks/<instance>: the GET
// subscription handshake and the signed POST notifications.
func (c *Channel) HandleWebhook(ctx context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
	rt := c.rt.Load()
	if rt == nil {
		return textResponse(http.StatusServiceUnavailable, "channel not configured"), nil
	}
	if req.Path != "" && req.Path != "/" {
		return textResponse(http.StatusNotFound, "not found"), nil
	}
	switch req.Method {
	case http.MethodGet:
		challenge, ok := webhook.Handshake(req.RawQuery, rt.cfg.VerifyToken)
		if !ok {
			rt.log.Warn("webhook subscription handshake refused", "remote", req.RemoteAddr)
			return textResponse(http.StatusForbidden, "forbidden"), nil
		}
		rt.log.Info("webhook subscription verified")
		return textResponse(http.StatusOK, challenge), nil
	case http.MethodPost:
		return c.handleNotification(ctx, rt, req), nil
	default:
		resp := textResponse(http.StatusMethodNotAllowed, "method not allowed")
		resp.Header.Set("Allow", "GET, POST")
		return resp, nil
	}
}

// handleNotification verifies and processes one POST. It answers 200 only
// when every message and status in it is durable (or deliberately
// ignored), and 5xx otherwise so that Meta redelivers the whole batch;
// redelivered messages are deduplicated by the core.
func (c *Channel) handleNotification(ctx context.Context, rt *runtime, req *sdk.WebhookRequest) *sdk.WebhookResponse {
	if !webhook.VerifySignature(rt.cfg.AppSecret, req.Body, headerValue(req.Header, webhook.SignatureHeader)) {
		rt.log.Warn("webhook signature missing or invalid", "remote", req.RemoteAddr, "bytes", len(req.Body))
		return textResponse(http.StatusUnauthorized, "invalid signature")
	}
	if len(req.Body) > MaxWebhookBytes {
		rt.log.Warn("webhook body too large", "bytes", len(req.Body), "limit", MaxWebhookBytes)
		return textResponse(http.StatusRequestEntityTooLarge, "body too large")
	}
	p, err := webhook.Parse(req.Body)
	if err != nil {
		// Meta retries non-2xx for days; a body that does not parse now
		// never will. Acknowledge and leave a trace.
		rt.log.Error("malformed webhook body ignored", "error", err, "bytes", len(req.Body))
		return textResponse(http.StatusOK, "ignored: malformed body")
	}
	if p.Object != webhook.ObjectWhatsApp {
		rt.log.Warn("webhook for another object ignored", "object", p.Object)
		return textResponse(http.StatusOK, "ignored")
	}
	var failed []error
	for _, entry := range p.Entry {
		for ci := range entry.Changes {
			ch := &entry.Changes[ci]
			if ch.Field != "messages" {
				rt.log.Debug("webhook field ignored", "field", ch.Field)
				continue
			}
			v := &ch.Value
			if v.Metadata.PhoneNumberID != rt.cfg.PhoneNumberID {
				rt.log.Debug("webhook for another phone number ignored", "phone_number_id", v.Metadata.PhoneNumberID)
				continue
			}
			for _, e := range v.Errors {
				rt.log.Warn("whatsapp reported an error", "error", e.Describe())
			}
			for i := range v.Messages {
				if err := c.handleMessage(ctx, rt, v, i); err != nil {
					failed = append(failed, err)
				}
			}
			for _, s := range v.Statuses {
				if err := c.handleStatus(ctx, rt, s); err != nil {
					failed = append(failed, err)
				}
			}
		}
	}
	if len(failed) > 0 {
		rt.log.Error("webhook not fully stored; asking Meta to retry", "failures", len(failed), "first_error", failed[0])
		return textResponse(http.StatusInternalServerError, fmt.Sprintf("%d event(s) could not be stored; retry", len(failed)))
	}
	return textResponse(http.StatusOK, "ok")
}

// handleMessage delivers the i-th message of v. It returns an error only
// when a retry can help (the core did not commit, or a media download
// failed for a transient reason); malformed messages are logged and
// skipped.
func (c *Channel) handleMessage(ctx context.Context, rt *runtime, v *webhook.Value, i int) error {
	m, err := v.Message(i)
	if err != nil {
		rt.log.Error("malformed message ignored", "error", err)
		return nil
	}
	if c.durable.has(m.ID) {
		rt.log.Debug("redelivered message already stored", "wamid", m.ID)
		return nil
	}
	r := m.Render()
	in, err := buildInbound(v, i, m, r, c.now())
	if err != nil {
		rt.log.Error("message ignored", "wamid", m.ID, "error", err)
		return nil
	}
	if r.Media != nil {
		fetched, err := c.fetchMedia(ctx, rt, m.ID, r.MediaKind, r.Media)
		if err != nil {
			return fmt.Errorf("message %s: %w", m.ID, err)
		}
		defer fetched.cleanup()
		if fetched.note != "" {
			in.Text += "\n" + fetched.note
		}
		if fetched.att != nil {
			in.Attachments = append(in.Attachments, *fetched.att)
		}
	}
	receipt, err := rt.host.Deliver(ctx, in)
	if err != nil {
		return fmt.Errorf("deliver %s: %w", m.ID, err)
	}
	for _, rej := range receipt.Rejected {
		rt.log.Info("attachment rejected by policy", "wamid", m.ID, "filename", rej.Filename, "reason", rej.Reason)
	}
	rt.log.Debug("message delivered", "wamid", m.ID, "ticket", receipt.TicketID, "duplicate", receipt.Duplicate)
	c.durable.add(m.ID)
	return nil
}

// buildInbound turns a webhook message into an sdk.InboundMessage (without
// media, which fetchMedia adds).
func buildInbound(v *webhook.Value, i int, m *webhook.Message, r webhook.Rendered, now time.Time) (*sdk.InboundMessage, error) {
	contact := v.Sender(m)
	userID := firstNonEmpty(m.FromUserID, contact.UserID)
	waID := firstNonEmpty(m.From, contact.WaID)
	key := firstNonEmpty(userID, waID)
	if key == "" {
		return nil, errors.New("no sender id (neither user_id nor wa_id)")
	}
	author := sdk.Party{
		ExternalID:   key,
		IdentityType: "whatsapp",
		Name:         firstNonEmpty(contact.Profile.Name, contact.Profile.Username),
	}
	if waID != "" {
		author.Phone = "+" + strings.TrimPrefix(waID, "+")
	}
	sentAt := m.Timestamp.Time
	if sentAt.IsZero() {
		sentAt = now.UTC()
	}
	meta := map[string]string{
		"phone_number_id": v.Metadata.PhoneNumberID,
		"message_type":    m.Type,
	}
	setIf(meta, "display_phone_number", v.Metadata.DisplayPhoneNumber)
	setIf(meta, "wa_id", waID)
	setIf(meta, "user_id", userID)
	setIf(meta, "username", contact.Profile.Username)
	setIf(meta, "group_id", m.GroupID)
	in := &sdk.InboundMessage{
		ExternalID:      m.ID,
		ConversationKey: key,
		Author:          author,
		Text:            r.Text,
		SentAt:          sentAt,
		Raw:             append([]byte(nil), v.Messages[i]...),
		RawContentType:  "application/json",
		// The provider signed the event that names the author.
		AuthorVerified: true,
		AutoSubmitted:  m.Type == "system",
		Metadata:       meta,
	}
	if r.ReplyTo != "" {
		in.ReplyTo = []string{r.ReplyTo}
	}
	return in, nil
}

func textResponse(status int, body string) *sdk.WebhookResponse {
	h := make(http.Header)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	return &sdk.WebhookResponse{Status: status, Header: h, Body: []byte(body)}
}

// headerValue reads a header whatever the case of the map's keys.
func headerValue(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, vs := range h {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

func setIf(m map[string]string, k, v string) {
	if v != "" {
		m[k] = v
	}
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
