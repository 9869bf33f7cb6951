package channeltest_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
	"github.com/patchbayhq/patchbay/sdk/channeltest/internal/refchannel"
)

const (
	secret = "whsec-0123456789"
	token  = "api-token-abcdef"
)

// provider is a loopback fake of the reference channel's provider API.
type provider struct {
	srv *httptest.Server

	mu      sync.Mutex
	files   map[string][]byte
	sent    []refchannel.OutgoingMessage
	byKey   map[string]string
	failing string // "", "rate_limited", "down", "window_closed"
}

func newProvider(t testing.TB) *provider {
	p := &provider{files: map[string][]byte{}, byKey: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /files/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		p.mu.Lock()
		data, ok := p.files[r.PathValue("id")]
		p.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	})
	mux.HandleFunc("POST /messages", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		switch p.failing {
		case "rate_limited":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		case "down":
			w.WriteHeader(http.StatusBadGateway)
			return
		case "window_closed":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"window_closed"}`))
			return
		}
		var m refchannel.OutgoingMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		key := r.Header.Get("Idempotency-Key")
		id, ok := p.byKey[key]
		if !ok || key == "" {
			p.sent = append(p.sent, m)
			id = fmt.Sprintf("out-%d", len(p.sent))
			p.byKey[key] = id
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"id": id})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) fail(t testing.TB, mode string) {
	p.mu.Lock()
	p.failing = mode
	p.mu.Unlock()
	t.Cleanup(func() {
		p.mu.Lock()
		p.failing = ""
		p.mu.Unlock()
	})
}

func (p *provider) sentMessages() []refchannel.OutgoingMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]refchannel.OutgoingMessage(nil), p.sent...)
}

func (p *provider) addFile(id string, data []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.files[id] = data
}

func (p *provider) config() json.RawMessage {
	b, _ := json.Marshal(refchannel.Config{SigningSecret: secret, APIURL: p.srv.URL, APIToken: token})
	return b
}

// event builds a signed webhook for one message, re-signed at every call.
func event(body string, signWith string) func(t testing.TB) *sdk.WebhookRequest {
	return func(t testing.TB) *sdk.WebhookRequest {
		return &sdk.WebhookRequest{Method: http.MethodPost, Path: "/", Header: refchannel.Sign(signWith, time.Now(), []byte(body)), Body: []byte(body)}
	}
}

const messageBody = `{"id":"evt-1","conversation":"c-42","from":{"id":"u-7","name":"Ada"},"text":"my VPN is down","ts":1767225600}`

// target is the reference channel's conformance target against p.
func target(p *provider, pdf []byte) channeltest.Target {
	p.addFile("f-1", pdf)
	withFile := fmt.Sprintf(`{"id":"evt-2","conversation":"c-42","from":{"id":"u-7"},"text":"see attached","ts":1767225601,"files":[{"id":"f-1","name":"scan.pdf","type":"application/pdf","size":%d}]}`, len(pdf))
	return channeltest.Target{
		New:    func() sdk.Channel { return refchannel.New() },
		Config: p.config(),
		InvalidConfigs: []channeltest.InvalidConfig{
			{Name: "bad_api_url", Config: json.RawMessage(`{"signing_secret":"` + secret + `","api_url":"ftp://x"}`), Field: "api_url"},
		},
		Inbound: channeltest.WebhookReceiver(event(messageBody, secret)),
		CheckDelivery: func(t testing.TB, d channeltest.Delivery) {
			if d.Message.ExternalID != "evt-1" || d.Message.ConversationKey != "c-42" || d.Message.Text != "my VPN is down" {
				t.Errorf("stored %+v", d.Message)
			}
		},
		InboundWithAttachments: channeltest.WebhookReceiver(event(withFile, secret)),
		WantFiles:              []channeltest.File{{Filename: "scan.pdf", ContentType: "application/pdf", Data: pdf}},
		BadSignature:           event(messageBody, "not-the-secret"),
		Reply: func(t testing.TB) *sdk.OutboundMessage {
			return &sdk.OutboundMessage{IdempotencyKey: "reply-" + t.Name(), ConversationKey: "c-42", Recipient: sdk.Party{ExternalID: "u-7"}, Text: "have you tried turning it off and on?"}
		},
		CheckSent: func(t testing.TB, msg *sdk.OutboundMessage, res *sdk.SendResult) {
			for _, m := range p.sentMessages() {
				if m.To == "u-7" && m.Text == msg.Text {
					return
				}
			}
			t.Errorf("the provider did not receive %q", msg.Text)
		},
		CheckSentAttachment: func(t testing.TB, res *sdk.SendResult, f channeltest.File) {
			for _, m := range p.sentMessages() {
				if enc, ok := m.Attachments[f.Filename]; ok {
					got, err := base64.StdEncoding.DecodeString(enc)
					if err != nil || string(got) != string(f.Data) {
						t.Errorf("the provider received different bytes for %s", f.Filename)
					}
					return
				}
			}
			t.Errorf("the provider did not receive %s", f.Filename)
		},
		SendFailures: []channeltest.SendFailure{
			{Name: "rate_limited", Arrange: func(t testing.TB) { p.fail(t, "rate_limited") }, Retryable: true, Code: "rate_limited"},
			{Name: "provider_down", Arrange: func(t testing.TB) { p.fail(t, "down") }, Retryable: true},
			{Name: "window_closed", Arrange: func(t testing.TB) { p.fail(t, "window_closed") }, Retryable: false, Code: "window_closed"},
		},
	}
}

func pdfBytes(n int) []byte {
	b := []byte("%PDF-1.7\n" + strings.Repeat("0123456789abcdef", n/16+1))
	return b[:n]
}
