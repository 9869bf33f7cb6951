package whatsappchan

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/fakegraph"
	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/webhook"
	"github.com/patchbayhq/patchbay/sdk"
)

// BenchmarkWebhookBatch measures one signed POST of 20 text messages through
// verification, parsing, rendering and Deliver (an in-memory host).
func BenchmarkWebhookBatch(b *testing.B) {
	h := newHarness(b)
	var msgs []map[string]any
	for i := 0; i < 20; i++ {
		msgs = append(msgs, fakegraph.TextMessage(customerWaID, fmt.Sprintf("wamid.B%02d", i), "Does it come in another color? I would like it in blue.", testNow))
	}
	body := h.notification(customer(), msgs...)
	hdr := http.Header{"X-Hub-Signature-256": {webhook.Sign(testAppSecret, body)}}
	req := &sdk.WebhookRequest{Method: http.MethodPost, Path: "/", Header: hdr, Body: body}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		resp, err := h.ch.HandleWebhook(context.Background(), req)
		if err != nil || resp.Status != 200 {
			b.Fatalf("%v %v", resp, err)
		}
	}
}

// BenchmarkSendText measures one text reply against the loopback fake.
func BenchmarkSendText(b *testing.B) {
	h := newHarness(b)
	msg := reply("Yes, it comes in blue.")
	msg.IdempotencyKey = ""
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.ch.Send(context.Background(), msg); err != nil {
			b.Fatal(err)
		}
	}
}
