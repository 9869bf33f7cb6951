package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/internal/e2etest"

	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/fakegraph"
	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/webhook"
	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/whatsappchan"
	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
)

const (
	phoneNumberID = "106540352242922"
	accessToken   = "EAAG-conformance-token"
	appSecret     = "conformance-app-secret"
	verifyToken   = "conformance-verify-token"
	customerWaID  = "16505551234"
)

// target describes the plugin to channeltest's conformance suite, against a
// loopback fake Graph API and payloads signed as Meta signs them.
func target(t *testing.T) channeltest.Target {
	g := fakegraph.New(phoneNumberID, accessToken)
	t.Cleanup(g.Close)
	config, _ := json.Marshal(map[string]any{
		"phone_number_id": phoneNumberID,
		"access_token":    accessToken,
		"app_secret":      appSecret,
		"verify_token":    verifyToken,
		"api_url":         g.URL,
	})
	pdf := bytes.Repeat([]byte("%PDF-1.7 conformance\n"), 300)
	pdfSHA := g.AddMedia("7001", "application/pdf", pdf)
	contacts := []map[string]any{fakegraph.Contact("Sheena Nelson", customerWaID, "")}
	signed := func(body []byte) func(testing.TB) *sdk.WebhookRequest {
		return func(testing.TB) *sdk.WebhookRequest {
			return &sdk.WebhookRequest{Method: http.MethodPost, Path: "/", Body: body, Header: http.Header{
				"Content-Type":        {"application/json"},
				"X-Hub-Signature-256": {webhook.Sign(appSecret, body)},
			}}
		}
	}
	sentAt := time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)
	text := fakegraph.Notification{PhoneNumberID: phoneNumberID, Contacts: contacts,
		Messages: []map[string]any{fakegraph.TextMessage(customerWaID, "wamid.CONFORMANCE1", "My order has not arrived.", sentAt)}}.Body()
	media := fakegraph.Notification{PhoneNumberID: phoneNumberID, Contacts: contacts, Messages: []map[string]any{
		fakegraph.MediaMessage(customerWaID, "wamid.CONFORMANCE2", "document", map[string]any{"id": "7001", "mime_type": "application/pdf", "sha256": pdfSHA, "filename": "receipt.pdf"}, sentAt),
	}}.Body()
	fail := func(f fakegraph.Failure) func(testing.TB) {
		return func(t testing.TB) {
			g.FailNext("messages", f)
			t.Cleanup(g.ClearFailures)
		}
	}
	return channeltest.Target{
		Config: config,
		InvalidConfigs: []channeltest.InvalidConfig{
			{Name: "bad_api_url", Config: withKey(config, "api_url", "graph.facebook.com"), Field: "api_url"},
			{Name: "template_without_language", Config: withKey(config, "template", map[string]any{"name": "reopen"}), Field: "template.language"},
			{Name: "blank_token", Config: withKey(config, "access_token", ""), Field: "access_token"},
		},
		Inbound: channeltest.WebhookReceiver(signed(text)),
		CheckDelivery: func(t testing.TB, d channeltest.Delivery) {
			m := d.Message
			if m.ExternalID != "wamid.CONFORMANCE1" || m.ConversationKey != customerWaID || m.Author.IdentityType != "whatsapp" ||
				m.Author.Name != "Sheena Nelson" || m.Author.Phone != "+"+customerWaID || m.Text != "My order has not arrived." || !m.SentAt.Equal(sentAt) {
				t.Errorf("stored message = %+v", m)
			}
		},
		InboundWithAttachments: channeltest.WebhookReceiver(signed(media)),
		WantFiles:              []channeltest.File{{Filename: "receipt.pdf", ContentType: "application/pdf", Data: pdf}},
		BadSignature: func(testing.TB) *sdk.WebhookRequest {
			return &sdk.WebhookRequest{Method: http.MethodPost, Path: "/", Body: text, Header: http.Header{
				"X-Hub-Signature-256": {webhook.Sign("not-the-app-secret", text)},
			}}
		},
		Reply: func(testing.TB) *sdk.OutboundMessage {
			return &sdk.OutboundMessage{
				IdempotencyKey:  "conformance-" + time.Now().Format(time.RFC3339Nano),
				ConversationKey: customerWaID,
				Recipient:       sdk.Party{ExternalID: customerWaID, IdentityType: "whatsapp"},
				Text:            "Your parcel is on its way.",
				LastInboundAt:   time.Now().Add(-time.Hour),
			}
		},
		CheckSent: func(t testing.TB, msg *sdk.OutboundMessage, res *sdk.SendResult) {
			for _, s := range g.Sent() {
				if s.ID == res.ExternalID {
					if s.To() != customerWaID || s.Field("text", "body") != msg.Text {
						t.Errorf("sent %s", s.Raw)
					}
					return
				}
			}
			t.Errorf("the fake Graph API never answered %q", res.ExternalID)
		},
		CheckSentAttachment: func(t testing.TB, res *sdk.SendResult, f channeltest.File) {
			var mediaID string
			for _, u := range g.Uploads() {
				if u.Filename == f.Filename && bytes.Equal(u.Data, f.Data) {
					mediaID = u.ID
				}
			}
			if mediaID == "" {
				t.Fatalf("%s never reached the fake's media upload", f.Filename)
			}
			for _, s := range g.Sent() {
				if s.Type() == "document" && s.Field("document", "id") == mediaID && s.Field("document", "filename") == f.Filename {
					return
				}
			}
			t.Errorf("no document message carried media %s", mediaID)
		},
		SendFailures: []channeltest.SendFailure{
			{Name: "rate_limited", Arrange: fail(fakegraph.Failure{HTTPStatus: 429, Code: 130429, Message: "Rate limit hit", RetryAfter: "2"}), Retryable: true, Code: "rate_limited"},
			{Name: "server_error", Arrange: fail(fakegraph.Failure{HTTPStatus: 500, Code: 131000, Message: "Something went wrong"}), Retryable: true, Code: "provider_unavailable"},
			{Name: "window_closed", Arrange: fail(fakegraph.Failure{HTTPStatus: 400, Code: 131047, Message: "Re-engagement message"}), Retryable: false, Code: "window_closed"},
			{Name: "undeliverable", Arrange: fail(fakegraph.Failure{HTTPStatus: 400, Code: 131026, Message: "Message Undeliverable."}), Retryable: false, Code: "whatsapp_131026"},
			{Name: "invalid_parameter", Arrange: fail(fakegraph.Failure{HTTPStatus: 400, Code: 100, Message: "(#100) Invalid parameter"}), Retryable: false, Code: "whatsapp_100"},
		},
	}
}

func withKey(config json.RawMessage, key string, value any) json.RawMessage {
	var m map[string]any
	_ = json.Unmarshal(config, &m)
	m[key] = value
	b, _ := json.Marshal(m)
	return b
}

// TestConformance runs the SDK's contract suite in process, through the
// real gRPC plugin boundary.
func TestConformance(t *testing.T) {
	tg := target(t)
	tg.New = func() sdk.Channel { return whatsappchan.New() }
	channeltest.Run(t, tg)
}

// TestConformanceBinary runs the suite against the built plugin binary,
// launched as the core launches it (no inherited environment).
func TestConformanceBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	bin, err := e2etest.PluginBinary(t.TempDir(), "whatsapp")
	if err != nil {
		t.Fatal(err)
	}
	tg := target(t)
	tg.Binary = bin
	channeltest.Run(t, tg)
}

// TestOnlySDKImported proves the plugin depends on the SDK and the standard
// library only: never on the core.
func TestOnlySDKImported(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/patchbayhq/patchbay/core") || strings.Contains(dep, "badger") {
			t.Errorf("the plugin depends on %s", dep)
		}
	}
}
