package whatsappchan

import (
	"context"
	"net/http"
	"testing"

	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/webhook"
	"github.com/patchbayhq/patchbay/sdk"

	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/fakegraph"
)

// FuzzWebhook posts arbitrary signed bodies through the whole handler
// (parse, render, media fetch against the loopback fake, Deliver, statuses):
// it must never panic and must answer 200 or, when something could not be
// stored, 5xx.
func FuzzWebhook(f *testing.F) {
	h := newHarness(f)
	h.host.MarkSent("wamid.OUT")
	h.graph.AddMedia("42", "image/png", []byte("\x89PNG fake"))
	seeds := [][]byte{
		h.notification(customer(), fakegraph.TextMessage(customerWaID, "wamid.F1", "hi", testNow)),
		h.notification(customer(), fakegraph.MediaMessage(customerWaID, "wamid.F2", "image", map[string]any{"id": "42", "mime_type": "image/png"}, testNow)),
		h.notification(customer(), fakegraph.MediaMessage(customerWaID, "wamid.F3", "document", map[string]any{"id": "404", "filename": "x.pdf"}, testNow)),
		h.statuses(fakegraph.StatusUpdate("wamid.OUT", "read", customerWaID, testNow)),
		[]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"` + testPhoneID + `"},"messages":[{"id":"x","from":"1","type":"sticker","sticker":{"id":""}}]}}]}]}`),
		[]byte(`not json`),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		hdr := http.Header{"X-Hub-Signature-256": {webhook.Sign(testAppSecret, body)}}
		resp, err := h.ch.HandleWebhook(context.Background(), &sdk.WebhookRequest{Method: http.MethodPost, Path: "/", Header: hdr, Body: body})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 200 && resp.Status != 500 && resp.Status != 413 {
			t.Fatalf("status %d for a signed body", resp.Status)
		}
	})
}
