package slackchan

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/sdk"
)

// Payloads below follow Slack's documented Events API formats
// (docs.slack.dev/reference/events/message.im, message subtypes,
// app_mention, url_verification).

const testIM = "D0ALICEIM"

// dmEvent is a message.im event from Alice, as Slack sends it, with the
// given fields replaced (a nil value deletes the field).
func dmEvent(ts string, over map[string]any) map[string]any {
	ev := map[string]any{
		"client_msg_id": "5d4c8c5e-0000-4000-8000-00000000000" + ts[len(ts)-1:],
		"type":          "message",
		"text":          "My VPN &amp; email are down &lt;again&gt;",
		"user":          "U0ALICE",
		"ts":            ts,
		"team":          testTeam,
		"blocks": []any{map[string]any{"type": "rich_text", "block_id": "b1", "elements": []any{
			map[string]any{"type": "rich_text_section", "elements": []any{map[string]any{"type": "text", "text": "My VPN & email are down <again>"}}},
		}}},
		"channel":      testIM,
		"event_ts":     ts,
		"channel_type": "im",
	}
	for k, v := range over {
		if v == nil {
			delete(ev, k)
			continue
		}
		ev[k] = v
	}
	return ev
}

var eventSeq atomic.Int64

// callback wraps an inner event in the event_callback envelope.
func callback(ev map[string]any) []byte {
	n := eventSeq.Add(1)
	b, err := json.Marshal(map[string]any{
		"token":                 "XXYYZZ",
		"team_id":               testTeam,
		"context_team_id":       testTeam,
		"api_app_id":            "A0APP",
		"event":                 ev,
		"type":                  "event_callback",
		"event_id":              fmt.Sprintf("Ev0%08d", n),
		"event_time":            1700000000,
		"authorizations":        []any{map[string]any{"team_id": testTeam, "user_id": testBotUser, "is_bot": true}},
		"is_ext_shared_channel": false,
		"event_context":         "4-eyJldCI6Im1lc3NhZ2UifQ",
	})
	if err != nil {
		panic(err)
	}
	return b
}

// slackHeaders signs body as Slack does, at the given time.
func slackHeaders(secret string, body []byte, at time.Time) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(sign([]byte(secret), ts, body)))
	return h
}

// signedRequest is a webhook request signed now with the test secret.
func signedRequest(body []byte, extra map[string]string) *sdk.WebhookRequest {
	h := slackHeaders(testSecret, body, time.Now())
	for k, v := range extra {
		h.Set(k, v)
	}
	return &sdk.WebhookRequest{Method: http.MethodPost, Path: "/", Header: h, Body: body, RemoteAddr: "127.0.0.1:5555"}
}

// harness is a configured channel wired to a fake Slack and a fake host.
type harness struct {
	ch    *Channel
	host  *fakeHost
	slack *fakeSlack
}

func newHarness(t testing.TB, mode string, cfgOver map[string]any, opts ...Option) *harness {
	t.Helper()
	fs := newFakeSlack(t)
	host := newFakeHost()
	cfg := map[string]any{"signing_secret": testSecret, "bot_token": testBotToken, "api_url": fs.apiURL(), "mode": mode}
	if mode == ModeSocket {
		cfg["app_token"] = testAppToken
	}
	maps.Copy(cfg, cfgOver)
	raw, _ := json.Marshal(cfg)
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
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
