package slackchan

import (
	"context"
	"fmt"
	"testing"

	"github.com/patchbayhq/patchbay/plugins/slack/internal/fakeslack"
)

// BenchmarkHandleWebhookDM measures one signed DM through verification,
// parsing, the cached profile and Deliver into an in-process host (every
// iteration is a new message).
func BenchmarkHandleWebhookDM(b *testing.B) {
	h := newHarness(b, ModeEvents, nil)
	h.start(b)
	ctx := context.Background()
	bodies := make([][]byte, 0, 1024)
	for i := range 1024 {
		bodies = append(bodies, fakeslack.Callback(fakeslack.DMEvent(fmt.Sprintf("1700000000.%06d", i), nil)))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		resp, err := h.ch.HandleWebhook(ctx, signedRequest(bodies[i%len(bodies)], nil))
		if err != nil || resp.Status != 200 {
			b.Fatalf("status %v %v", resp, err)
		}
		i++
	}
}

// BenchmarkParseEnvelope measures classification of a DM payload.
func BenchmarkParseEnvelope(b *testing.B) {
	body := fakeslack.Callback(fakeslack.DMEvent("1700000000.000100", nil))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseEnvelope(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendText measures one text reply: state lookup, chat.postMessage
// to the loopback fake Slack, state write.
func BenchmarkSendText(b *testing.B) {
	h := newHarness(b, ModeEvents, nil)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		msg := reply("benchmark reply")
		msg.IdempotencyKey = fmt.Sprintf("bench-%d", i)
		if _, err := h.ch.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
