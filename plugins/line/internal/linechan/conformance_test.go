package linechan

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/patchbayhq/patchbay/internal/e2etest"
	"github.com/patchbayhq/patchbay/plugins/line/internal/fakeline"

	"github.com/google/uuid"

	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
)

// conformanceTarget describes the LINE plugin to the SDK's contract suite,
// with the fake LINE API as the provider.
func conformanceTarget(t *testing.T, line *fakeline.Server) channeltest.Target {
	pdf := []byte("%PDF-1.4 conformance invoice\n")
	line.SetContent("7100001", fakeline.Content{ContentType: "application/octet-stream", Body: pdf})
	signed := func(body []byte) *sdk.WebhookRequest {
		return &sdk.WebhookRequest{Method: "POST", Path: "/", Body: body, Header: http.Header{
			"Content-Type":     {"application/json; charset=utf-8"},
			"X-Line-Signature": {fakeline.Sign(fakeline.Secret, body)},
		}}
	}
	textBody := fakeline.Payload(fakeline.MessageEvent("01HCONF0000000000000000001", fakeline.UserSource(fakeline.User), false, fakeline.TextMessage("7100000", "Where is my order?")))
	fileBody := fakeline.Payload(fakeline.MessageEvent("01HCONF0000000000000000002", fakeline.UserSource(fakeline.User), false, `{"id":"7100001","type":"file","fileName":"invoice.pdf","fileSize":29}`))
	var replies atomic.Int64
	withConfig := func(key, value string) json.RawMessage {
		var m map[string]any
		_ = json.Unmarshal(testConfig(line), &m)
		if value == "" {
			delete(m, key)
		} else {
			m[key] = value
		}
		b, _ := json.Marshal(m)
		return b
	}
	return channeltest.Target{
		Config: testConfig(line),
		InvalidConfigs: []channeltest.InvalidConfig{
			{Name: "no_channel_secret", Config: withConfig("channel_secret", ""), Field: "channel_secret"},
			{Name: "no_access_token", Config: withConfig("channel_access_token", ""), Field: "channel_access_token"},
			{Name: "plain_http_api", Config: withConfig("api_url", "http://api.line.me"), Field: "api_url"},
		},
		Start:   true,
		Inbound: channeltest.WebhookReceiver(func(t testing.TB) *sdk.WebhookRequest { return signed(textBody) }),
		CheckDelivery: func(t testing.TB, d channeltest.Delivery) {
			m := d.Message
			if m.ExternalID != "01HCONF0000000000000000001" || m.ConversationKey != fakeline.User ||
				m.Author.IdentityType != "line" || m.Author.Name != "Sakura Tanaka" || m.Text != "Where is my order?" {
				t.Errorf("delivered %+v", m)
			}
		},
		InboundWithAttachments: channeltest.WebhookReceiver(func(t testing.TB) *sdk.WebhookRequest { return signed(fileBody) }),
		WantFiles:              []channeltest.File{{Filename: "invoice.pdf", ContentType: "application/pdf", Data: pdf}},
		BadSignature: func(t testing.TB) *sdk.WebhookRequest {
			r := signed(textBody)
			r.Header.Set("X-Line-Signature", fakeline.Sign("not-the-channel-secret", textBody))
			return r
		},
		Reply: func(t testing.TB) *sdk.OutboundMessage {
			return reply(fmt.Sprintf("conformance-reply-%d", replies.Add(1)), "Your order ships today.")
		},
		CheckSent: func(t testing.TB, msg *sdk.OutboundMessage, res *sdk.SendResult) {
			calls := line.PushCalls()
			last := calls[len(calls)-1]
			if last.To != fakeline.User || last.Texts[0] != msg.Text || last.RetryKey != retryKey(msg) {
				t.Errorf("push %+v for %+v", last, msg)
			}
			if _, err := uuid.Parse(last.RetryKey); err != nil {
				t.Errorf("retry key %q: %v", last.RetryKey, err)
			}
		},
		CheckSentAttachment: func(t testing.TB, res *sdk.SendResult, f channeltest.File) {
			// Without a public URL the file is named in the text (LINE
			// cannot carry arbitrary files; see docs/channels/line.md).
			calls := line.PushCalls()
			if text := calls[len(calls)-1].Texts[0]; !strings.Contains(text, f.Filename) {
				t.Errorf("push text %q does not name %s", text, f.Filename)
			}
		},
		SendFailures: []channeltest.SendFailure{
			{Name: "blocked_user", Code: "line_400", Arrange: func(t testing.TB) {
				line.Block(fakeline.User, true)
				t.Cleanup(func() {
					line.Block(fakeline.User, false)
				})
			}},
			{Name: "rate_limited", Retryable: true, Code: "rate_limited", Arrange: func(t testing.TB) {
				line.Script(fakeline.Response{Status: 429, Header: http.Header{"Retry-After": {"1"}}, Body: `{"message":"The API rate limit has been exceeded. Try again later."}`})
			}},
			{Name: "server_error", Retryable: true, Code: "line_unavailable", Arrange: func(t testing.TB) {
				line.Script(fakeline.Response{Status: 500, Body: `{"message":"An error occurred in the server."}`})
			}},
		},
	}
}

func TestConformance(t *testing.T) {
	tg := conformanceTarget(t, fakeline.New(t))
	tg.New = func() sdk.Channel { return &Channel{} }
	channeltest.Run(t, tg)
}

// TestConformanceBinary runs the suite against the built plugin binary,
// launched as the core launches it.
func TestConformanceBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	bin, err := e2etest.PluginBinary(t.TempDir(), "line")
	if err != nil {
		t.Fatal(err)
	}
	tg := conformanceTarget(t, fakeline.New(t))
	tg.Binary = bin
	channeltest.Run(t, tg)
}

// TestFileLinkThroughPlugin sends a reply with a file through the real gRPC
// boundary with a public URL configured, then downloads the file from the
// link the customer received, as the core forwards /hooks/<instance>/….
func TestFileLinkThroughPlugin(t *testing.T) {
	line := fakeline.New(t)
	p := channeltest.New(t, &Channel{})
	p.PublicURL = "https://support.example.com/hooks/test"
	p.MustConfigure(t, testConfig(line))
	data := []byte(strings.Repeat("%PDF-1.4 signed link\n", 4000))
	msg := reply("link-reply-1", "The contract is attached.")
	msg.Attachments = []sdk.Attachment{p.Host.StoreAttachment(channeltest.File{Filename: "contract.pdf", ContentType: "application/pdf", Data: data})}
	if _, se := p.Send(t, msg); se != nil {
		t.Fatalf("Send: %v", se)
	}
	text := line.PushCalls()[0].Texts[0]
	i := strings.Index(text, p.PublicURL+"/files/")
	if i < 0 {
		t.Fatalf("no link in %q", text)
	}
	link := strings.Fields(text[i:])[0]
	resp := p.Webhook(t, "GET", strings.TrimPrefix(link, p.PublicURL), http.Header{}, nil)
	if resp.Status != 200 || string(resp.Body) != string(data) || resp.Header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("link answered %d, %d bytes, %q", resp.Status, len(resp.Body), resp.Header.Get("Content-Type"))
	}
	head := p.Webhook(t, "HEAD", strings.TrimPrefix(link, p.PublicURL), http.Header{}, nil)
	if head.Status != 200 || len(head.Body) != 0 || head.Header.Get("Content-Length") != fmt.Sprint(len(data)) {
		t.Fatalf("HEAD answered %d, %d bytes, length %q", head.Status, len(head.Body), head.Header.Get("Content-Length"))
	}
}
