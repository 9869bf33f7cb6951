package whatsappchan

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/fakegraph"
	"github.com/patchbayhq/patchbay/sdk"
)

// Every path that logs or returns errors is exercised; no secret may appear
// in the log or in any answer.
func TestSecretsNeverLeak(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	var answers []string
	note := func(resp *sdk.WebhookResponse) { answers = append(answers, string(resp.Body)) }

	h.ch.Start(ctx)
	body := h.notification(customer(), fakegraph.TextMessage(customerWaID, "wamid.S1", "hello", testNow))
	note(h.postWith(body, "sha256=00"))
	note(h.post([]byte("{broken")))
	note(h.post(body))
	for _, q := range []string{"hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
		"hub.mode=subscribe&hub.verify_token=" + url.QueryEscape(testVerifyToken) + "&hub.challenge=1"} {
		resp, _ := h.ch.HandleWebhook(ctx, &sdk.WebhookRequest{Method: "GET", Path: "/", RawQuery: q})
		note(resp)
	}
	h.graph.FailNext("messages", fakegraph.Failure{HTTPStatus: 401, Code: 190, Message: "Invalid OAuth access token"})
	if _, err := h.ch.Send(ctx, reply("hello")); err != nil {
		answers = append(answers, err.Error())
	}
	h.graph.FailNext("messages", fakegraph.Failure{HTTPStatus: 500, Message: "oops"})
	if _, err := h.ch.Send(ctx, reply("hello again")); err != nil {
		answers = append(answers, err.Error())
	}
	for _, s := range h.host.Statuses() {
		answers = append(answers, s.Message)
	}

	logs := h.logs.String()
	if !strings.Contains(logs, "signature") {
		t.Fatalf("expected log lines were not captured: %s", logs)
	}
	for _, secret := range []string{testToken, testAppSecret, testVerifyToken} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains secret %q:\n%s", secret, logs)
		}
		for _, a := range answers {
			if strings.Contains(a, secret) {
				t.Errorf("answer %q contains secret %q", a, secret)
			}
		}
	}
}
