package sdk_test

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/patchbayhq/patchbay/sdk"
)

// EchoChannel is a tiny webhook channel: a provider POSTs
// {"id": "...", "from": "...", "text": "..."} and replies are kept in memory.
type EchoChannel struct {
	mu   sync.Mutex
	host sdk.Host
	cfg  struct {
		Token string `json:"token"`
	}
	sent []string
}

func (c *EchoChannel) Describe(context.Context) (sdk.Manifest, error) {
	return sdk.Manifest{
		Kind:         "echo",
		Version:      "1.0.0",
		Capabilities: sdk.Capabilities{Webhooks: true},
		ConfigFields: []sdk.ConfigField{{Name: "token", Type: "string", Required: true, Secret: true}},
	}, nil
}

func (c *EchoChannel) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := req.Decode(&c.cfg); err != nil {
		return err
	}
	if c.cfg.Token == "" {
		return sdk.FieldErrors{{Field: "token", Message: "is required"}}
	}
	c.host = req.Host
	return nil
}

func (c *EchoChannel) Start(context.Context) error { return nil }
func (c *EchoChannel) Stop(context.Context) error  { return nil }

func (c *EchoChannel) HandleWebhook(ctx context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
	got := []byte(req.Header.Get("Authorization"))
	if subtle.ConstantTimeCompare(got, []byte("Bearer "+c.cfg.Token)) != 1 {
		return &sdk.WebhookResponse{Status: http.StatusUnauthorized}, nil
	}
	var in struct{ ID, From, Text string }
	if err := json.Unmarshal(req.Body, &in); err != nil || in.ID == "" {
		return &sdk.WebhookResponse{Status: http.StatusBadRequest}, nil
	}
	_, err := c.host.Deliver(ctx, &sdk.InboundMessage{
		ExternalID:      in.ID,
		ConversationKey: in.From,
		Author:          sdk.Party{ExternalID: in.From},
		Text:            in.Text,
		Raw:             req.Body,
	})
	if err != nil {
		// Not stored: make the provider retry.
		return &sdk.WebhookResponse{Status: http.StatusServiceUnavailable}, nil
	}
	return &sdk.WebhookResponse{Status: http.StatusOK}, nil
}

func (c *EchoChannel) Send(_ context.Context, msg *sdk.OutboundMessage) (*sdk.SendResult, error) {
	if msg.Recipient.ExternalID == "" {
		return nil, sdk.Permanent("no_recipient", errors.New("the conversation has no recipient"))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, msg.Text)
	return &sdk.SendResult{ExternalID: fmt.Sprintf("echo-%d", len(c.sent))}, nil
}

// Example shows a complete channel. A real plugin's main is one line,
//
//	func main() { sdk.Serve(&EchoChannel{}) }
//
// Here the channel is driven directly, with a Host that stores nothing.
func Example() {
	ctx := context.Background()
	ch := &EchoChannel{}
	err := ch.Configure(ctx, sdk.ConfigureRequest{Instance: "echo", Config: json.RawMessage(`{}`)})
	fmt.Println(err)

	err = ch.Configure(ctx, sdk.ConfigureRequest{Instance: "echo", Config: json.RawMessage(`{"token":"t0k"}`), Host: printHost{}})
	fmt.Println(err)

	resp, _ := ch.HandleWebhook(ctx, &sdk.WebhookRequest{
		Method: "POST", Path: "/",
		Header: http.Header{"Authorization": {"Bearer t0k"}},
		Body:   []byte(`{"id":"m1","from":"u1","text":"hello"}`),
	})
	fmt.Println(resp.Status)

	res, _ := ch.Send(ctx, &sdk.OutboundMessage{Recipient: sdk.Party{ExternalID: "u1"}, Text: "hi!"})
	fmt.Println(res.ExternalID)

	_, err = ch.Send(ctx, &sdk.OutboundMessage{Text: "to nobody"})
	var se *sdk.SendError
	fmt.Println(errors.As(err, &se), se.Retryable, se.Code)
	// Output:
	// invalid configuration: token: is required
	// <nil>
	// delivered m1 from u1: hello
	// 200
	// echo-1
	// true false no_recipient
}

// printHost is a Host that prints deliveries (sdk/channeltest.FakeHost is
// the real test double).
type printHost struct{ sdk.Host }

func (printHost) Deliver(_ context.Context, m *sdk.InboundMessage) (*sdk.Receipt, error) {
	fmt.Printf("delivered %s from %s: %s\n", m.ExternalID, m.Author.ExternalID, m.Text)
	return &sdk.Receipt{TicketID: 1, CommentID: 1}, nil
}
