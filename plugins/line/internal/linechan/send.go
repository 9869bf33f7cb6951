package linechan

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"

	"github.com/patchbayhq/patchbay/sdk"
)

// retryKeyNamespace is the UUIDv5 namespace of X-Line-Retry-Key values.
// It must never change: a reply retried across an upgrade must keep its key.
var retryKeyNamespace = uuid.MustParse("5d0c7a4e-2f61-4b8e-9c3a-7e1b0d9f4a26")

// Send pushes one public reply to the customer's 1:1 chat. Replies come
// long after LINE's one-minute reply token expired, so it uses the push
// API, with an X-Line-Retry-Key derived from the reply's idempotency key:
// LINE accepts a retry key once, so a retried push is never shown twice.
func (c *Channel) Send(ctx context.Context, msg *sdk.OutboundMessage) (*sdk.SendResult, error) {
	rt, err := c.runtime()
	if err != nil {
		return nil, sdk.Retryable("not_configured", err, 0)
	}
	to := msg.ConversationKey
	if to == "" {
		to = msg.Recipient.ExternalID
	}
	if !validUserID.MatchString(to) {
		return nil, sdk.Permanent("invalid_recipient", fmt.Errorf("%q is not a LINE user id", to))
	}
	chunks, err := splitText(rt.outboundText(msg), maxTextUnits, maxPushMessages)
	if err != nil {
		return nil, sdk.Permanent("message_too_long", err)
	}
	if len(chunks) == 0 {
		return nil, sdk.Permanent("empty_message", fmt.Errorf("the reply has no text"))
	}
	messages := make([]messaging_api.MessageInterface, 0, len(chunks))
	for _, ch := range chunks {
		messages = append(messages, &messaging_api.TextMessage{Text: ch})
	}
	key := retryKey(msg)

	callCtx, cancel := context.WithTimeout(ctx, pushTimeout)
	defer cancel()
	api, err := rt.api(callCtx)
	if err != nil {
		return nil, sdk.Permanent("client", err)
	}
	res, body, err := api.PushMessageWithHttpInfo(&messaging_api.PushMessageRequest{To: to, Messages: messages}, key)
	if res != nil && res.Body != nil {
		defer res.Body.Close()
	}
	if err == nil {
		c.report(ctx, rt, sdk.StateConnected, "")
		id := ""
		if body != nil && len(body.SentMessages) > 0 {
			id = body.SentMessages[0].Id
		}
		if id == "" {
			id = res.Header.Get("X-Line-Request-Id")
		}
		rt.log.Debug("line push sent", "ticket_id", msg.TicketID, "comment_id", msg.CommentID, "external_id", id)
		return &sdk.SendResult{ExternalID: id}, nil
	}
	return c.sendFailure(ctx, rt, msg, key, res, err)
}

// sendFailure maps a failed push to a result or a SendError, following
// LINE's retry guide: 5xx and timeouts may be retried with the same key,
// 409 means the key was already accepted, other 4xx will not change.
func (c *Channel) sendFailure(ctx context.Context, rt *runtime, msg *sdk.OutboundMessage, key string, res *http.Response, err error) (*sdk.SendResult, error) {
	if res == nil {
		return nil, sdk.Retryable("network", fmt.Errorf("LINE push: %w", err), 0)
	}
	le := readLineError(res)
	detail := le.String()
	if detail == "" {
		detail = http.StatusText(res.StatusCode)
	}
	status := res.StatusCode
	switch {
	case status == http.StatusConflict:
		// A push with this retry key was accepted before (an earlier
		// attempt whose answer was lost): the reply is delivered.
		id := ""
		if len(le.SentMessages) > 0 {
			id = le.SentMessages[0].ID
		}
		for _, h := range []string{"X-Line-Accepted-Request-Id", "X-Line-Request-Id"} {
			if id == "" {
				id = res.Header.Get(h)
			}
		}
		if id == "" {
			id = key
		}
		rt.log.Info("line push already accepted for this retry key", "comment_id", msg.CommentID, "external_id", id)
		return &sdk.SendResult{ExternalID: id}, nil
	case status == http.StatusTooManyRequests:
		return nil, sdk.Retryable("rate_limited", fmt.Errorf("LINE push rate limited (429): %s", detail), sdk.ParseRetryAfter(res.Header.Get("Retry-After"), rt.now()))
	case status >= 500:
		return nil, sdk.Retryable("line_unavailable", fmt.Errorf("LINE push failed (%d): %s", status, detail), sdk.ParseRetryAfter(res.Header.Get("Retry-After"), rt.now()))
	case status == http.StatusUnauthorized:
		// A revoked or mistyped token: keep the reply queued so it goes
		// out once the operator fixes the configuration.
		c.report(ctx, rt, sdk.StateAuthFailed, "LINE rejected the channel access token (401)")
		return nil, sdk.Retryable("unauthorized", fmt.Errorf("LINE rejected the channel access token (401): %s", detail), 0)
	default:
		// 400 (e.g. the user blocked the account or never added it),
		// 403 (plan does not allow push), 404: retrying will not help.
		return nil, sdk.Permanent(fmt.Sprintf("line_%d", status), fmt.Errorf("LINE refused the message (%d): %s", status, detail))
	}
}

// retryKey derives the X-Line-Retry-Key (a UUID, as LINE requires) from
// the reply's idempotency key, so every attempt of one reply carries the
// same key.
func retryKey(msg *sdk.OutboundMessage) string {
	k := msg.IdempotencyKey
	if k == "" && msg.CommentID != 0 {
		k = fmt.Sprintf("ticket:%d/comment:%d", msg.TicketID, msg.CommentID)
	}
	if k == "" {
		// Nothing identifies the reply: a fresh key still satisfies LINE's
		// format, it just cannot dedupe across attempts.
		return uuid.NewString()
	}
	return uuid.NewSHA1(retryKeyNamespace, []byte(k)).String()
}

// outboundText is the reply text with its attachments: signed download
// links when the core has a public URL (LINE media messages need public
// HTTPS URLs), else their names.
func (rt *runtime) outboundText(msg *sdk.OutboundMessage) string {
	text := strings.TrimRight(msg.Text, " \t\r\n")
	if len(msg.Attachments) == 0 {
		return text
	}
	var links, names []string
	for _, a := range msg.Attachments {
		name := sanitizeFilename(a.Filename)
		if name == "" {
			name = "file"
		}
		if link := rt.fileLink(a.ID, name); link != "" {
			links = append(links, name+": "+link)
		} else {
			names = append(names, name)
		}
	}
	var b strings.Builder
	b.WriteString(text)
	if len(links) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString("Attachments:\n" + strings.Join(links, "\n"))
	}
	if len(names) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString("(Files attached to this reply, not available on LINE: " + strings.Join(names, ", ") + ")")
	}
	return b.String()
}
