package linechan

import (
	"context"
	"github.com/patchbayhq/patchbay/plugins/line/internal/fakeline"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
)

// FuzzHandleWebhook feeds arbitrary bodies, signed and unsigned, through
// the webhook handler: it must never panic, must answer one of the
// documented statuses, and must deliver nothing for an unsigned body.
func FuzzHandleWebhook(f *testing.F) {
	seeds := [][]byte{
		[]byte(`{"destination":"Ub9952f8a6bd1d0a1a3e2b8e3b5c6d7e8","events":[]}`),
		fakeline.Payload(fakeline.MessageEvent("01HEVT0000000000000000FZ01", fakeline.UserSource(fakeline.User), false, fakeline.TextMessage("1", "hi"))),
		fakeline.Payload(fakeline.MessageEvent("01HEVT0000000000000000FZ02", fakeline.GroupSource, true, fakeline.TextMessage("2", "group"))),
		fakeline.Payload(fakeline.MessageEvent("01HEVT0000000000000000FZ03", fakeline.UserSource(fakeline.User), false, `{"id":"3","type":"file","fileName":"a.pdf","fileSize":3}`)),
		fakeline.Payload(fakeline.MessageEvent("01HEVT0000000000000000FZ04", fakeline.UserSource(fakeline.User), false, `{"id":"4","type":"image","contentProvider":{"type":"external","originalContentUrl":"https://x"}}`)),
		fakeline.Payload(fakeline.MessageEvent("01HEVT0000000000000000FZ05", fakeline.UserSource(fakeline.User), false, `{"type":"sticker","id":"5","stickerId":"1","packageId":"1","keywords":["a"]}`)),
		fakeline.Payload(fakeline.MessageEvent("01HEVT0000000000000000FZ06", fakeline.UserSource(fakeline.User), false, `{"id":"6","type":"location","latitude":1,"longitude":2}`)),
		fakeline.Payload(`{"type":"follow","source":{"type":"user","userId":"` + fakeline.User + `"}}`),
		[]byte(`{"events":[{"type":"message","source":{"type":"user","userId":"` + fakeline.User + `"},"message":null}]}`),
		[]byte(`null`), []byte(`[]`), []byte(`{"events":[{}]}`), []byte(``),
	}
	for _, s := range seeds {
		f.Add(s, true)
		f.Add(s, false)
	}
	h := newHarness(f)
	h.line.SetContent("3", fakeline.Content{ContentType: "application/pdf", Body: []byte("pdf")})
	allowed := map[int]bool{200: true, 400: true, 401: true, 413: true, 503: true}
	f.Fuzz(func(t *testing.T, body []byte, signed bool) {
		hdr := http.Header{}
		if signed {
			hdr.Set("X-Line-Signature", fakeline.Sign(fakeline.Secret, body))
		} else {
			hdr.Set("X-Line-Signature", fakeline.Sign("not-the-secret", body))
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
	body := fakeline.Payload(fakeline.MessageEvent("01HEVT0000000000000000BN01", fakeline.UserSource(fakeline.User), false, fakeline.TextMessage("1", "Hello, my order has not arrived yet.")))
	req := &sdk.WebhookRequest{Method: "POST", Path: "/", Header: http.Header{"X-Line-Signature": {fakeline.Sign(fakeline.Secret, body)}}, Body: body}
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

// FuzzFileLink feeds arbitrary paths, queries and methods to the signed
// file links the channel serves on /hooks/<instance>/files/…, which anyone
// on the internet can request: no panic, only documented statuses, and a
// file is served only for the exact link the channel issued (the same id,
// name, expiry and signature).
func FuzzFileLink(f *testing.F) {
	h := newHarness(f, func(r *sdk.ConfigureRequest) { r.PublicURL = "https://support.example.com/hooks/line-support" })
	att := h.host.StoreAttachment(channeltest.File{Filename: "report.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4 fuzz")})
	rt, err := h.ch.runtime()
	if err != nil {
		f.Fatal(err)
	}
	link, err := url.Parse(rt.fileLink(att.ID, "report.pdf"))
	if err != nil || link.Path == "" {
		f.Fatalf("no link for %q: %v", att.ID, err)
	}
	issued := link.Query()
	path := strings.TrimPrefix(link.Path, "/hooks/line-support")
	f.Add("GET", path, link.RawQuery)
	f.Add("HEAD", path, link.RawQuery)
	f.Add("POST", path, link.RawQuery)
	f.Add("GET", path, "name=report.pdf&exp=1&sig=AAAA")
	f.Add("GET", "/files/../files/"+att.ID, link.RawQuery)
	f.Add("GET", "/files/", "")
	f.Add("GET", path, "%zz")
	f.Add("GET", path, link.RawQuery+"&name=evil.html")
	allowed := map[int]bool{200: true, 403: true, 404: true, 405: true, 410: true}
	f.Fuzz(func(t *testing.T, method, p, rawQuery string) {
		if !strings.HasPrefix(p, filesPrefix) {
			p = filesPrefix + p
		}
		resp, err := h.ch.HandleWebhook(context.Background(), &sdk.WebhookRequest{Method: method, Path: p, RawQuery: rawQuery, Header: http.Header{}})
		if err != nil {
			t.Fatalf("HandleWebhook error: %v", err)
		}
		if !allowed[resp.Status] {
			t.Fatalf("status %d for %s %q ?%q", resp.Status, method, p, rawQuery)
		}
		if resp.Status != http.StatusOK {
			return
		}
		q, err := url.ParseQuery(rawQuery)
		if err != nil || p != path || q.Get("name") != issued.Get("name") || q.Get("exp") != issued.Get("exp") || q.Get("sig") != issued.Get("sig") {
			t.Fatalf("served a file for a link the channel did not issue: %s %q ?%q", method, p, rawQuery)
		}
		if method == http.MethodGet && string(resp.Body) != "%PDF-1.4 fuzz" {
			t.Fatalf("served %q", resp.Body)
		}
	})
}
