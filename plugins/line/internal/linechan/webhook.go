package linechan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/line/line-bot-sdk-go/v8/linebot/webhook"

	"github.com/patchbayhq/patchbay/sdk"
)

// maxWebhookBytes caps a webhook body. LINE batches a few events per
// request, each well under 10 KiB; media content is fetched separately.
const maxWebhookBytes = 1 << 20

// validUserID matches LINE user ids ("U" and 32 hex digits). They end up in
// API paths, so anything else is refused.
var validUserID = regexp.MustCompile(`^U[0-9a-f]{32}$`)

// validMessageID matches LINE message ids (decimal digits).
var validMessageID = regexp.MustCompile(`^[0-9]{1,32}$`)

// userMessage is one message event from a 1:1 chat, ready to deliver.
type userMessage struct {
	event  webhook.MessageEvent
	raw    json.RawMessage
	userID string
}

// errBadPayload marks a signed body that does not follow LINE's format.
var errBadPayload = errors.New("malformed webhook payload")

// HandleWebhook answers LINE's webhook requests on /hooks/<instance> and
// serves signed file links on /hooks/<instance>/files/….
func (c *Channel) HandleWebhook(ctx context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
	rt, err := c.runtime()
	if err != nil {
		return textResponse(http.StatusServiceUnavailable, "channel not configured"), nil
	}
	path := req.Path
	if path == "" {
		path = "/"
	}
	if strings.HasPrefix(path, filesPrefix) {
		return rt.serveFile(ctx, req, path), nil
	}
	if path != "/" {
		return textResponse(http.StatusNotFound, "not found"), nil
	}
	return rt.handleEvents(ctx, req), nil
}

// handleEvents checks, parses and delivers one webhook request. It answers
// 200 only after every user message of the request was delivered durably.
func (rt *runtime) handleEvents(ctx context.Context, req *sdk.WebhookRequest) *sdk.WebhookResponse {
	if req.Method != http.MethodPost {
		r := textResponse(http.StatusMethodNotAllowed, "method not allowed")
		r.Header.Set("Allow", http.MethodPost)
		return r
	}
	if len(req.Body) > maxWebhookBytes {
		return textResponse(http.StatusRequestEntityTooLarge, "request body too large")
	}
	sig := headerValue(req.Header, "X-Line-Signature")
	if sig == "" || !webhook.ValidateSignature(rt.cfg.ChannelSecret, sig, req.Body) {
		rt.log.Warn("line webhook rejected: bad or missing signature", "remote_addr", req.RemoteAddr)
		return textResponse(http.StatusUnauthorized, "invalid signature")
	}
	msgs, err := rt.parseEvents(req.Body)
	if err != nil {
		rt.log.Warn("line webhook rejected", "error", err)
		return textResponse(http.StatusBadRequest, err.Error())
	}
	for _, m := range msgs {
		if err := rt.deliver(ctx, m); err != nil {
			rt.log.Error("line event not stored; answering 503 so LINE redelivers",
				"webhook_event_id", m.event.WebhookEventId, "error", err)
			r := textResponse(http.StatusServiceUnavailable, "temporarily unable to store the event")
			r.Header.Set("Retry-After", "5")
			return r
		}
	}
	return &sdk.WebhookResponse{Status: http.StatusOK, Header: http.Header{}}
}

// parseEvents parses the whole request before anything is delivered, so a
// malformed request changes nothing. It returns the events that become
// ticket comments: message events from 1:1 chats in active mode.
func (rt *runtime) parseEvents(body []byte) ([]userMessage, error) {
	var env struct {
		Destination string            `json:"destination"`
		Events      []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadPayload, jsonProblem(err))
	}
	var out []userMessage
	for i, raw := range env.Events {
		ev, err := webhook.UnmarshalEvent(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: event %d: %v", errBadPayload, i, jsonProblem(err))
		}
		me, ok := ev.(webhook.MessageEvent)
		if !ok {
			rt.log.Debug("line event ignored", "type", ev.GetType())
			continue
		}
		if me.Mode == webhook.EventMode_STANDBY {
			// Another module channel is active for this chat: it answers,
			// we neither store nor reply.
			rt.log.Debug("line message ignored: standby mode", "webhook_event_id", me.WebhookEventId)
			continue
		}
		src, ok := me.Source.(webhook.UserSource)
		if !ok {
			// Group chats and multi-person rooms are acknowledged and
			// ignored: tickets are 1:1 conversations.
			rt.log.Debug("line message ignored: not a 1:1 chat", "source", sourceType(me.Source))
			continue
		}
		if !validUserID.MatchString(src.UserId) {
			return nil, fmt.Errorf("%w: event %d: source.userId is not a LINE user id", errBadPayload, i)
		}
		if me.Message == nil {
			return nil, fmt.Errorf("%w: event %d: message event without a message", errBadPayload, i)
		}
		if me.WebhookEventId == "" && messageID(me.Message) == "" {
			return nil, fmt.Errorf("%w: event %d: neither webhookEventId nor message.id", errBadPayload, i)
		}
		if id := messageID(me.Message); id != "" && !validMessageID.MatchString(id) {
			return nil, fmt.Errorf("%w: event %d: message.id is not a LINE message id", errBadPayload, i)
		}
		out = append(out, userMessage{event: me, raw: raw, userID: src.UserId})
	}
	return out, nil
}

// deliver builds the inbound message (downloading media) and hands it to
// the core; it returns after the core's durable commit.
func (rt *runtime) deliver(ctx context.Context, m userMessage) error {
	msg, cleanup, err := rt.inbound(ctx, m)
	if err != nil {
		return err
	}
	defer cleanup()
	receipt, err := rt.host.Deliver(ctx, msg)
	if err != nil {
		return fmt.Errorf("deliver: %w", err)
	}
	rt.log.Debug("line message stored", "webhook_event_id", m.event.WebhookEventId,
		"ticket_id", receipt.TicketID, "comment_id", receipt.CommentID, "duplicate", receipt.Duplicate)
	for _, rej := range receipt.Rejected {
		rt.log.Info("line attachment refused by policy", "filename", rej.Filename, "reason", rej.Reason)
	}
	return nil
}

func sourceType(s webhook.SourceInterface) string {
	if s == nil {
		return "none"
	}
	return s.GetType()
}

// jsonProblem shortens a JSON error without echoing the body.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at offset %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s must be a %s", te.Field, te.Type)
	}
	return "invalid JSON"
}

// headerValue looks a header up case-insensitively, whatever the map's
// key canonicalisation.
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

func textResponse(status int, body string) *sdk.WebhookResponse {
	h := http.Header{}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	return &sdk.WebhookResponse{Status: status, Header: h, Body: []byte(body + "\n")}
}
