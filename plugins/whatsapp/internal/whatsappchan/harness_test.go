package whatsappchan

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/internal/testutil"
	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/fakegraph"
	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/webhook"
	"github.com/patchbayhq/patchbay/sdk"
)

const (
	testPhoneID     = "106540352242922"
	testToken       = "EAAG-test-access-token"
	testAppSecret   = "app-secret-for-tests"
	testVerifyToken = "verify-me-please"
	customerWaID    = "16505551234"
	customerBSUID   = "US.13491208655302741918"
)

// testNow is the fixed clock of every test.
var testNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

type harness struct {
	t     testing.TB
	logs  *testutil.LockedBuffer
	ch    *Channel
	host  *testHost
	graph *fakegraph.Server
	now   time.Time
}

type harnessOpt func(cfg map[string]any, req *sdk.ConfigureRequest)

func withTemplate(name, lang string, bodyParam bool) harnessOpt {
	return func(cfg map[string]any, _ *sdk.ConfigureRequest) {
		cfg["template"] = map[string]any{"name": name, "language": lang, "body_parameter": bodyParam}
	}
}

func withPolicy(p sdk.AttachmentPolicy) harnessOpt {
	return func(_ map[string]any, req *sdk.ConfigureRequest) { req.Attachments = p }
}

func newHarness(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	g := fakegraph.New(testPhoneID, testToken)
	t.Cleanup(g.Close)
	h := &harness{t: t, host: newTestHost(), graph: g, now: testNow, logs: &testutil.LockedBuffer{}}
	h.ch = New()
	h.ch.now = func() time.Time { return h.now }
	cfg := map[string]any{
		"phone_number_id": testPhoneID,
		"access_token":    testToken,
		"app_secret":      testAppSecret,
		"verify_token":    testVerifyToken,
		"api_url":         g.URL,
	}
	req := sdk.ConfigureRequest{
		Instance: "wa",
		Host:     h.host,
		Logger:   hclog.New(&hclog.LoggerOptions{Output: h.logs, Level: hclog.Trace, JSONFormat: true}),
	}
	req.Attachments = sdk.AttachmentPolicy{Allow: []string{".pdf", ".png", ".jpeg", ".jpg", ".gif", ".txt", ".ogg"}, MaxBytes: 20 << 20}
	for _, o := range opts {
		o(cfg, &req)
	}
	h.host.SetPolicy(req.Attachments)
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req.Config = raw
	if err := h.ch.Configure(context.Background(), req); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return h
}

// post sends a body signed as Meta signs it.
func (h *harness) post(body []byte) *sdk.WebhookResponse {
	h.t.Helper()
	return h.postWith(body, webhook.Sign(testAppSecret, body))
}

func (h *harness) postWith(body []byte, signature string) *sdk.WebhookResponse {
	h.t.Helper()
	hdr := make(http.Header)
	hdr.Set("Content-Type", "application/json")
	if signature != "" {
		hdr.Set("X-Hub-Signature-256", signature)
	}
	resp, err := h.ch.HandleWebhook(context.Background(), &sdk.WebhookRequest{
		Method: http.MethodPost, Path: "/", Header: hdr, Body: body, RemoteAddr: "127.0.0.1:5555",
	})
	if err != nil {
		h.t.Fatalf("HandleWebhook: %v", err)
	}
	return resp
}

func (h *harness) notification(contacts []map[string]any, messages ...map[string]any) []byte {
	return fakegraph.Notification{PhoneNumberID: testPhoneID, Contacts: contacts, Messages: messages}.Body()
}

func (h *harness) statuses(statuses ...map[string]any) []byte {
	return fakegraph.Notification{PhoneNumberID: testPhoneID, Statuses: statuses}.Body()
}

func customer() []map[string]any {
	return []map[string]any{fakegraph.Contact("Sheena Nelson", customerWaID, customerBSUID)}
}

func wantStatus(t *testing.T, resp *sdk.WebhookResponse, want int) {
	t.Helper()
	if resp.Status != want {
		t.Fatalf("status = %d (%s), want %d", resp.Status, resp.Body, want)
	}
}
