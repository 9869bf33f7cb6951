package main

import (
	"context"
	"net/http"
	"testing"

	"github.com/patchbayhq/patchbay/sdk"
)

// FuzzHandleWebhook feeds arbitrary bodies, signed and unsigned, through
// the webhook handler: it must never panic, must answer one of the
// documented statuses, and must deliver nothing for an unsigned body.
func FuzzHandleWebhook(f *testing.F) {
	seeds := [][]byte{
		[]byte(`{"destination":"Ub9952f8a6bd1d0a1a3e2b8e3b5c6d7e8","events":[]}`),
		payload(messageEvent("01HEVT0000000000000000FZ01", userSource(testUser), false, textMessage("1", "hi"))),
		payload(messageEvent("01HEVT0000000000000000FZ02", groupSource, true, textMessage("2", "group"))),
		payload(messageEvent("01HEVT0000000000000000FZ03", userSource(testUser), false, `{"id":"3","type":"file","fileName":"a.pdf","fileSize":3}`)),
		payload(messageEvent("01HEVT0000000000000000FZ04", userSource(testUser), false, `{"id":"4","type":"image","contentProvider":{"type":"external","originalContentUrl":"https://x"}}`)),
		payload(messageEvent("01HEVT0000000000000000FZ05", userSource(testUser), false, `{"type":"sticker","id":"5","stickerId":"1","packageId":"1","keywords":["a"]}`)),
		payload(messageEvent("01HEVT0000000000000000FZ06", userSource(testUser), false, `{"id":"6","type":"location","latitude":1,"longitude":2}`)),
		payload(`{"type":"follow","source":{"type":"user","userId":"` + testUser + `"}}`),
		[]byte(`{"events":[{"type":"message","source":{"type":"user","userId":"` + testUser + `"},"message":null}]}`),
		[]byte(`null`), []byte(`[]`), []byte(`{"events":[{}]}`), []byte(``),
	}
	for _, s := range seeds {
		f.Add(s, true)
		f.Add(s, false)
	}
	h := newHarness(f)
	h.line.setContent("3", fakeContent{contentType: "application/pdf", body: []byte("pdf")})
	allowed := map[int]bool{200: true, 400: true, 401: true, 413: true, 503: true}
	f.Fuzz(func(t *testing.T, body []byte, signed bool) {
		hdr := http.Header{}
		if signed {
			hdr.Set("X-Line-Signature", sign(testSecret, body))
		} else {
			hdr.Set("X-Line-Signature", sign("not-the-secret", body))
		}
		before := h.host.DeliverCalls()
		resp, err := h.ch.HandleWebhook(context.Background(), &sdk.WebhookRequest{Method: "POST", Path: "/", Header: hdr, Body: body})
		if err != nil {
			t.Fatalf("HandleWebhook error: %v", err)
		}
		if !allowed[resp.Status] {
			t.Fatalf("status %d for %q", resp.Status, body)
		}
		if !signed && (resp.Status != 401 && resp.Status != 413) {
			t.Fatalf("unsigned body answered %d", resp.Status)
		}
		if !signed && h.host.DeliverCalls() != before {
			t.Fatal("unsigned body was delivered")
		}
		if resp.Status == 400 && h.host.DeliverCalls() != before {
			t.Fatal("rejected body was partly delivered")
		}
	})
}

// BenchmarkHandleWebhookText measures one signed text-message webhook:
// signature check, parsing and delivery to an in-process host (the
// profile comes from the cache after the first call).
func BenchmarkHandleWebhookText(b *testing.B) {
	h := newHarness(b)
	body := payload(messageEvent("01HEVT0000000000000000BN01", userSource(testUser), false, textMessage("1", "Hello, my order has not arrived yet.")))
	req := &sdk.WebhookRequest{Method: "POST", Path: "/", Header: http.Header{"X-Line-Signature": {sign(testSecret, body)}}, Body: body}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		resp, err := h.ch.HandleWebhook(context.Background(), req)
		if err != nil || resp.Status != 200 {
			b.Fatalf("%v %v", resp, err)
		}
	}
}

// BenchmarkRetryKey measures deriving X-Line-Retry-Key.
func BenchmarkRetryKey(b *testing.B) {
	msg := reply("outbox:ticket-7:comment-42", "")
	for b.Loop() {
		_ = retryKey(msg)
	}
}
