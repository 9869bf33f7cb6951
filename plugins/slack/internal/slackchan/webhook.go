package slackchan

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/patchbayhq/patchbay/sdk"
)

// HandleWebhook answers one Events API request forwarded from
// /hooks/<instance>. The v0 signature and timestamp are checked before the
// body is parsed (401 when wrong or stale); url_verification is answered with
// its challenge; a direct message is delivered before the 200, and a failed
// delivery is answered 503 so that Slack retries (retries carry the same
// message id, so the core stores one comment). Every other well-formed event
// gets 200.
func (c *Channel) HandleWebhook(ctx context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
	cfg, host, _, log := c.state()
	if host == nil {
		return textResponse(http.StatusServiceUnavailable, "channel not configured"), nil
	}
	if req.Method != http.MethodPost {
		r := textResponse(http.StatusMethodNotAllowed, "POST only")
		r.Header.Set("Allow", http.MethodPost)
		return r, nil
	}
	if cfg.Mode != ModeEvents || cfg.SigningSecret == "" {
		// A socket-mode instance has no Request URL; nothing is accepted here.
		return textResponse(http.StatusNotFound, "this channel receives events over Socket Mode"), nil
	}
	if err := verifySignature([]byte(cfg.SigningSecret), req.Header, req.Body, c.now()); err != nil {
		log.Warn("rejected Slack request", "reason", err.Error(), "remote", req.RemoteAddr)
		return textResponse(http.StatusUnauthorized, "invalid signature"), nil
	}
	out, err := c.process(ctx, req.Body)
	switch {
	case errors.Is(err, errMalformed):
		log.Warn("malformed Slack event", "error", err.Error())
		return textResponse(http.StatusBadRequest, "malformed event"), nil
	case err != nil:
		return textResponse(http.StatusServiceUnavailable, "delivery failed, retry"), nil
	}
	switch out.Kind {
	case kindChallenge:
		b, _ := json.Marshal(map[string]string{"challenge": out.Challenge})
		return &sdk.WebhookResponse{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: b}, nil
	case kindIgnore:
		log.Debug("Slack event acknowledged and ignored", "reason", out.Reason,
			"retry_num", req.Header.Get("X-Slack-Retry-Num"))
	}
	return textResponse(http.StatusOK, "ok"), nil
}

func textResponse(status int, body string) *sdk.WebhookResponse {
	return &sdk.WebhookResponse{
		Status: status,
		Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
		Body:   []byte(body),
	}
}
