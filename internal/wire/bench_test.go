package wire_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

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

// cpuTime is the CPU time (user + system) the process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureCPU reports the process's CPU time per operation (both sides of
// the boundary run in this process) as cpu-µs/op: on a shared machine it
// is steadier than ns/op, which counts time spent waiting for a core.
func measureCPU(b *testing.B) {
	start := cpuTime(b)
	b.Cleanup(func() {
		if b.N > 0 {
			b.ReportMetric(float64((cpuTime(b)-start).Microseconds())/float64(b.N), "cpu-µs/op")
		}
	})
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
	measureCPU(b)
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
	measureCPU(b)
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
	measureCPU(b)
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
	measureCPU(b)
	for b.Loop() {
		if _, err := h.Deliver(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWebhookWithDeliverParallel is the inbound path under the load
// generator's concurrency (64 webhooks in flight on 2 cores): it measures
// throughput and CPU per call rather than one call's latency.
func BenchmarkWebhookWithDeliverParallel(b *testing.B) {
	ch := &probeChannel{webhook: deliverHook(func(r *sdk.WebhookRequest) *sdk.InboundMessage {
		return &sdk.InboundMessage{ExternalID: "m1", ConversationKey: "D123", Text: "hello", Raw: r.Body}
	}, nil)}
	cc := configured(b, ch, &nopBackend{newMemBackend()})
	req := &sdk.WebhookRequest{Method: "POST", Path: "/", Header: http.Header{"X-Hub-Signature-256": {"sha256=abc"}, "Content-Type": {"application/json"}}, Body: benchBody}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	measureCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if resp, err := cc.HandleWebhook(ctx, req); err != nil || resp.Status != 200 {
				b.Fatal(resp, err)
			}
		}
	})
}

// webhookHeaders is what a provider's webhook request carries once net/http
// parsed it (a WhatsApp Cloud API notification).
var webhookHeaders = http.Header{
	"Accept":              {"*/*"},
	"Accept-Encoding":     {"deflate, gzip"},
	"Content-Length":      {"1024"},
	"Content-Type":        {"application/json"},
	"User-Agent":          {"facebookexternalua"},
	"X-Forwarded-For":     {"203.0.113.7"},
	"X-Forwarded-Proto":   {"https"},
	"X-Hub-Signature":     {"sha1=0123456789abcdef0123456789abcdef01234567"},
	"X-Hub-Signature-256": {"sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
	"X-Request-Id":        {"4f1c2a9e-8d7b-4e6f-9a3b-2c1d0e9f8a7b"},
}

// BenchmarkHeaderConversion converts a webhook's headers to proto and back.
func BenchmarkHeaderConversion(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if h := wire.HeaderFromProto(wire.HeaderToProto(webhookHeaders)); len(h) != len(webhookHeaders) {
			b.Fatal(h)
		}
	}
}
