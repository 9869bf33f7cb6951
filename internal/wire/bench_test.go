package wire_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/patchbayhq/patchbay/internal/wire"
	sdk "github.com/patchbayhq/patchbay/internal/wire/sdktypes"
)

// nopBackend answers every call at once, so that benchmarks measure the
// plugin boundary only.
type nopBackend struct{ *memBackend }

func (*nopBackend) Deliver(context.Context, *sdk.InboundMessage, []string) (*sdk.Receipt, error) {
	return &sdk.Receipt{TicketID: 1, CommentID: 1}, nil
}

func (*nopBackend) StageAttachment(_ context.Context, h wire.StagedHeader, r io.Reader) (wire.Staged, error) {
	n, err := io.Copy(io.Discard, r)
	return wire.Staged{ID: "s", Size: n}, err
}

var benchBody = bytes.Repeat([]byte(`{"type":"event_callback","event":{"text":"hello"}}`), 20) // ~1 KiB

// BenchmarkHandleWebhook is one webhook round trip host -> plugin -> host.
func BenchmarkHandleWebhook(b *testing.B) {
	ch := &probeChannel{webhook: func(context.Context, sdk.Host, *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
		return &sdk.WebhookResponse{Status: http.StatusOK}, nil
	}}
	cc := configured(b, ch, &nopBackend{newMemBackend()})
	req := &sdk.WebhookRequest{Method: "POST", Path: "/", Header: http.Header{"X-Slack-Signature": {"v0=abc"}, "Content-Type": {"application/json"}}, Body: benchBody}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := cc.HandleWebhook(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeliver is one Deliver round trip plugin -> host (broker) ->
// plugin, without attachments.
func BenchmarkDeliver(b *testing.B) {
	ch := &probeChannel{}
	configured(b, ch, &nopBackend{newMemBackend()})
	h := ch.Host()
	msg := &sdk.InboundMessage{ExternalID: "m1", ConversationKey: "D123", Author: sdk.Party{ExternalID: "T1:U1", Name: "Ada"}, Text: "my VPN is down", Raw: benchBody}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := h.Deliver(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWebhookWithDeliver is the whole inbound path of a webhook
// channel: host -> plugin HandleWebhook -> Host.Deliver -> answer.
func BenchmarkWebhookWithDeliver(b *testing.B) {
	ch := &probeChannel{webhook: deliverHook(func(r *sdk.WebhookRequest) *sdk.InboundMessage {
		return &sdk.InboundMessage{ExternalID: "m1", ConversationKey: "D123", Text: "hello", Raw: r.Body}
	}, nil)}
	cc := configured(b, ch, &nopBackend{newMemBackend()})
	req := &sdk.WebhookRequest{Method: "POST", Path: "/", Body: benchBody}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if resp, err := cc.HandleWebhook(ctx, req); err != nil || resp.Status != 200 {
			b.Fatal(resp, err)
		}
	}
}

// BenchmarkDeliverAttachment1MiB delivers a message with a 1 MiB file.
func BenchmarkDeliverAttachment1MiB(b *testing.B) {
	ch := &probeChannel{}
	configured(b, ch, &nopBackend{newMemBackend()})
	h := ch.Host()
	data := make([]byte, 1<<20)
	msg := &sdk.InboundMessage{ExternalID: "m1", ConversationKey: "c", Attachments: []sdk.Attachment{sdk.BytesAttachment("f.pdf", "application/pdf", data)}}
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := h.Deliver(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
}
