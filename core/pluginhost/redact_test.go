package pluginhost

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/config"
	"github.com/patchbayhq/patchbay/sdk"
)

// A plugin that echoes its secret (a field its manifest marks secret, here
// written literally in the config) in a Configure error, a status message
// or a send error does not leak it through LastError, Channels() or the
// error the outbox stores on the comment.
func TestPluginSecretsRedacted(t *testing.T) {
	leaky := testChannel("leaky", map[string]any{"echo_secret": "configure"})
	chatty := testChannel("chatty", map[string]any{"echo_secret": "send", "status": sdk.StateConnected})
	h := startHarness(t, Supervision{MinBackoff: time.Minute}, nil, leaky, chatty)

	eventually(t, "leaky refused", func() bool { return h.info(t, "leaky").LastError != "" })
	info := h.info(t, "leaky")
	if strings.Contains(info.LastError, "tok-leaky") || !strings.Contains(info.LastError, config.RedactedValue) {
		t.Errorf("LastError = %q", info.LastError)
	}

	eventually(t, "chatty status", func() bool { return h.info(t, "chatty").Status.State == sdk.StateConnected })
	if msg := h.info(t, "chatty").Status.Message; strings.Contains(msg, "tok-chatty") || !strings.Contains(msg, config.RedactedValue) {
		t.Errorf("status message = %q", msg)
	}

	_, err := h.m.Send(context.Background(), "chatty", &sdk.OutboundMessage{IdempotencyKey: "k", Text: "fail-echo"})
	var se *sdk.SendError
	if !errors.As(err, &se) || se.Retryable || se.Code != "auth" {
		t.Fatalf("send error %v (%T), want a permanent *sdk.SendError", err, err)
	}
	if strings.Contains(err.Error(), "tok-chatty") || !strings.Contains(err.Error(), config.RedactedValue) {
		t.Errorf("send error = %q", err)
	}
}
