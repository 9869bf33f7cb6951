package refchannel_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
	"github.com/patchbayhq/patchbay/sdk/channeltest/internal/refchannel"
)

// FuzzHandleWebhook: any correctly signed body is answered 200 (stored) or
// 400 (malformed), never a panic; a 200 stores exactly the event's id.
func FuzzHandleWebhook(f *testing.F) {
	f.Add([]byte(`{"id":"e1","from":{"id":"u"},"text":"hi","ts":1}`))
	f.Add([]byte(`{"id":"","from":{}}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ctx := context.Background()
		host := channeltest.NewFakeHost()
		ch := refchannel.New()
		cfg, _ := json.Marshal(refchannel.Config{SigningSecret: "s3cret", APIURL: "http://127.0.0.1:1"})
		if err := ch.Configure(ctx, sdk.ConfigureRequest{Config: cfg, Host: host}); err != nil {
			t.Fatal(err)
		}
		resp, err := ch.HandleWebhook(ctx, &sdk.WebhookRequest{Method: http.MethodPost, Path: "/", Header: refchannel.Sign("s3cret", time.Now(), body), Body: body})
		if err != nil {
			t.Fatal(err)
		}
		switch resp.Status {
		case http.StatusOK:
			if len(host.Deliveries()) != 1 {
				t.Errorf("answered 200 with %d deliveries", len(host.Deliveries()))
			}
		case http.StatusBadRequest:
			if host.DeliverCalls() != 0 {
				t.Error("a malformed event reached Deliver")
			}
		case http.StatusServiceUnavailable:
			// A file download failed (the API URL is unreachable): fine.
		default:
			t.Errorf("status %d", resp.Status)
		}
	})
}
