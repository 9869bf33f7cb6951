package linechan

import (
	"context"
	"encoding/json"
	"github.com/patchbayhq/patchbay/plugins/line/internal/fakeline"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/internal/testutil"
	"github.com/patchbayhq/patchbay/sdk"
)

// harness is a configured Channel wired to a fake host and a fake LINE.
type harness struct {
	ch   *Channel
	host *testHost
	line *fakeline.Server
	logs *testutil.LockedBuffer
}

func testConfig(line *fakeline.Server) json.RawMessage {
	b, _ := json.Marshal(map[string]string{
		"channel_secret":       fakeline.Secret,
		"channel_access_token": fakeline.Token,
		"api_url":              line.APIURL(),
		"data_api_url":         line.DataURL(),
	})
	return b
}

func newHarness(t testing.TB, edit ...func(*sdk.ConfigureRequest)) *harness {
	t.Helper()
	h := &harness{ch: &Channel{}, host: newTestHost(), line: fakeline.New(t), logs: &testutil.LockedBuffer{}}
	req := sdk.ConfigureRequest{
		Instance:    "line-support",
		Config:      testConfig(h.line),
		Host:        h.host,
		Attachments: sdk.AttachmentPolicy{Allow: []string{".pdf", ".png", ".jpeg", ".jpg", ".gif", ".txt", ".mp4", ".m4a"}, MaxBytes: 20 << 20},
		Logger:      hclog.New(&hclog.LoggerOptions{Output: h.logs, Level: hclog.Trace, JSONFormat: true}),
	}
	for _, e := range edit {
		e(&req)
	}
	h.host.SetPolicy(req.Attachments)
	if err := h.ch.Configure(context.Background(), req); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return h
}

// post sends a webhook signed with the channel secret.
func (h *harness) post(t testing.TB, body []byte) *sdk.WebhookResponse {
	t.Helper()
	return h.postSigned(t, body, fakeline.Sign(fakeline.Secret, body))
}

func (h *harness) postSigned(t testing.TB, body []byte, sig string) *sdk.WebhookResponse {
	t.Helper()
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	if sig != "" {
		hdr.Set("X-Line-Signature", sig)
	}
	resp, err := h.ch.HandleWebhook(context.Background(), &sdk.WebhookRequest{
		Method: http.MethodPost, Path: "/", Header: hdr, Body: body, RemoteAddr: "203.0.113.7:443",
	})
	if err != nil {
		t.Fatalf("HandleWebhook: %v", err)
	}
	return resp
}

// assertNoSecrets fails when the channel secret or token leaked into logs.
func (h *harness) assertNoSecrets(t testing.TB, extra ...string) {
	t.Helper()
	for _, s := range append([]string{h.logs.String()}, extra...) {
		if strings.Contains(s, fakeline.Secret) || strings.Contains(s, fakeline.Token) {
			t.Fatalf("secret leaked: %s", s)
		}
	}
}
