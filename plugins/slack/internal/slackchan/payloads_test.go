package slackchan

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/internal/testutil"
	"github.com/patchbayhq/patchbay/plugins/slack/internal/fakeslack"
	"github.com/patchbayhq/patchbay/sdk"
)

// signedRequest is a webhook request signed now with the test secret.
func signedRequest(body []byte, extra map[string]string) *sdk.WebhookRequest {
	h := fakeslack.SignedHeaders(fakeslack.Secret, body, time.Now())
	for k, v := range extra {
		h.Set(k, v)
	}
	return &sdk.WebhookRequest{Method: http.MethodPost, Path: "/", Header: h, Body: body, RemoteAddr: "127.0.0.1:5555"}
}

// harness is a configured channel wired to a fake Slack and a fake host.
type harness struct {
	ch    *Channel
	host  *fakeHost
	slack *fakeslack.Server
}

func newHarness(t testing.TB, mode string, cfgOver map[string]any, opts ...Option) *harness {
	t.Helper()
	fs := fakeslack.New(t)
	host := newFakeHost()
	cfg := map[string]any{"signing_secret": fakeslack.Secret, "bot_token": fakeslack.BotToken, "api_url": fs.APIURL(), "mode": mode}
	if mode == ModeSocket {
		cfg["app_token"] = fakeslack.AppToken
	}
	maps.Copy(cfg, cfgOver)
	raw, _ := json.Marshal(cfg)
	// Generous bounds so a loaded machine does not cut a lookup short;
	// tests of the bounds pass their own.
	opts = append([]Option{WithDeliverTimeout(30 * time.Second), WithProfileTimeout(20 * time.Second)}, opts...)
	ch := New(opts...)
	err := ch.Configure(context.Background(), sdk.ConfigureRequest{
		Instance: "it-help", Config: raw, Host: host,
		Attachments: sdk.AttachmentPolicy{Allow: []string{".pdf", ".png", ".txt"}, MaxBytes: 1 << 20},
		Logger:      hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}}),
	})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ch.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return &harness{ch: ch, host: host, slack: fs}
}

func (h *harness) start(t testing.TB) {
	t.Helper()
	if err := h.ch.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
}

// testWriter sends plugin logs to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, what, cond)
}
