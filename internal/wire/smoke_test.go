package wire_test

import (
	"context"
	"net/http"
	"testing"

	sdk "github.com/patchbayhq/patchbay/internal/wire/sdktypes"
)

func TestSmokeDeliverThroughWebhook(t *testing.T) {
	b := newMemBackend()
	ch := &probeChannel{webhook: func(ctx context.Context, h sdk.Host, r *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
		rc, err := h.Deliver(ctx, &sdk.InboundMessage{ExternalID: "m1", Text: string(r.Body), Attachments: []sdk.Attachment{sdk.BytesAttachment("a.pdf", "application/pdf", []byte("pdf"))}})
		if err != nil {
			return &sdk.WebhookResponse{Status: 503}, nil
		}
		_ = rc
		return &sdk.WebhookResponse{Status: 200}, nil
	}}
	cc := configured(t, ch, b)
	resp, err := cc.HandleWebhook(context.Background(), &sdk.WebhookRequest{Method: "POST", Path: "/", Body: []byte("hi"), Header: http.Header{"X-A": {"1"}}})
	if err != nil || resp.Status != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	if len(b.delivered) != 1 || b.delivered[0].Text != "hi" || string(b.staged[b.ids[0][0]]) != "pdf" {
		t.Fatalf("delivered %+v", b.delivered)
	}
}
