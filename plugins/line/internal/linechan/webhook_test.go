package linechan

import (
	"bytes"
	"encoding/json"
	"github.com/patchbayhq/patchbay/plugins/line/internal/fakeline"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/sdk"
)

func TestWebhookVerifyRequest(t *testing.T) {
	// The console's Verify button sends a signed request with no events.
	h := newHarness(t)
	resp := h.post(t, []byte(`{"destination":"Ub9952f8a6bd1d0a1a3e2b8e3b5c6d7e8","events":[]}`))
	if resp.Status != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.Status)
	}
	if n := len(h.host.Deliveries()); n != 0 {
		t.Fatalf("%d messages delivered, want 0", n)
	}
}

func TestWebhookRejectsBadInput(t *testing.T) {
	valid := fakeline.Payload(fakeline.MessageEvent("01HEVT0000000000000000BAD1", fakeline.UserSource(fakeline.User), false, fakeline.TextMessage("468789577898262530", "hi")))
	tests := []struct {
		name   string
		method string
		path   string
		body   []byte
		sig    string
		want   int
	}{
		{"missing signature", "POST", "/", valid, "", http.StatusUnauthorized},
		{"signed with another secret", "POST", "/", valid, fakeline.Sign("another-secret", valid), http.StatusUnauthorized},
		{"signature not base64", "POST", "/", valid, "!!not-base64!!", http.StatusUnauthorized},
		{"body changed after signing", "POST", "/", append(bytes.Clone(valid), ' '), fakeline.Sign(fakeline.Secret, valid), http.StatusUnauthorized},
		{"oversized body", "POST", "/", bytes.Repeat([]byte("a"), maxWebhookBytes+1), fakeline.Sign(fakeline.Secret, bytes.Repeat([]byte("a"), maxWebhookBytes+1)), http.StatusRequestEntityTooLarge},
		{"malformed JSON, signed", "POST", "/", []byte(`{"events":[`), fakeline.Sign(fakeline.Secret, []byte(`{"events":[`)), http.StatusBadRequest},
		{"event without type, signed", "POST", "/", []byte(`{"events":[{}]}`), fakeline.Sign(fakeline.Secret, []byte(`{"events":[{}]}`)), http.StatusBadRequest},
		{"bad user id, signed", "POST", "/", fakeline.Payload(fakeline.MessageEvent("01HEVT0000000000000000BAD2", fakeline.UserSource("../../v2/bot/info"), false, fakeline.TextMessage("1", "x"))),
			fakeline.Sign(fakeline.Secret, fakeline.Payload(fakeline.MessageEvent("01HEVT0000000000000000BAD2", fakeline.UserSource("../../v2/bot/info"), false, fakeline.TextMessage("1", "x")))), http.StatusBadRequest},
		{"GET", "GET", "/", nil, "", http.StatusMethodNotAllowed},
		{"unknown path", "POST", "/other", valid, fakeline.Sign(fakeline.Secret, valid), http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			hdr := http.Header{}
			if tc.sig != "" {
				hdr.Set("X-Line-Signature", tc.sig)
			}
			resp, err := h.ch.HandleWebhook(t.Context(), &sdk.WebhookRequest{Method: tc.method, Path: tc.path, Header: hdr, Body: tc.body})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != tc.want {
				t.Fatalf("status %d (%s), want %d", resp.Status, resp.Body, tc.want)
			}
			if n := len(h.host.Deliveries()); n != 0 {
				t.Fatalf("%d messages delivered on bad input", n)
			}
			if p, c := h.line.Counts(); p+c != 0 {
				t.Fatalf("LINE API called on bad input (profile %d, content %d)", p, c)
			}
			h.assertNoSecrets(t, string(resp.Body))
		})
	}
}

func TestWebhookTextMessage(t *testing.T) {
	h := newHarness(t)
	msg := fakeline.TextMessage("468789577898262530", "My order #1234 has not arrived")
	event := fakeline.MessageEvent("01HEVT00000000000000000001", fakeline.UserSource(fakeline.User), false, msg)
	resp := h.post(t, fakeline.Payload(event))
	if resp.Status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.Status, resp.Body)
	}
	got := h.host.Deliveries()
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	m := got[0].Message
	checks := []struct{ name, got, want string }{
		{"ExternalID", m.ExternalID, "01HEVT00000000000000000001"},
		{"ConversationKey", m.ConversationKey, fakeline.User},
		{"Author.ExternalID", m.Author.ExternalID, fakeline.User},
		{"Author.IdentityType", m.Author.IdentityType, "line"},
		{"Author.Name", m.Author.Name, "Sakura Tanaka"},
		{"Text", m.Text, "My order #1234 has not arrived"},
		{"RawContentType", m.RawContentType, "application/json"},
		{"line_message_id", m.Metadata["line_message_id"], "468789577898262530"},
		{"line_message_type", m.Metadata["line_message_type"], "text"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if want := time.UnixMilli(1700000000123).UTC(); !m.SentAt.Equal(want) {
		t.Errorf("SentAt = %v, want %v", m.SentAt, want)
	}
	var gotRaw, wantRaw any
	if err := json.Unmarshal(m.Raw, &gotRaw); err != nil {
		t.Fatalf("Raw is not JSON: %v", err)
	}
	_ = json.Unmarshal([]byte(event), &wantRaw)
	if a, b := mustJSON(gotRaw), mustJSON(wantRaw); a != b {
		t.Errorf("Raw = %s, want the event %s", a, b)
	}
	if len(got[0].Files) != 0 {
		t.Errorf("unexpected files: %+v", got[0].Files)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestWebhookProfileCachedAndOptional(t *testing.T) {
	h := newHarness(t)
	for i, id := range []string{"01HEVT0000000000000000PC01", "01HEVT0000000000000000PC02"} {
		resp := h.post(t, fakeline.Payload(fakeline.MessageEvent(id, fakeline.UserSource(fakeline.User), false, fakeline.TextMessage("10"+string(rune('0'+i)), "hello"))))
		if resp.Status != 200 {
			t.Fatalf("status %d", resp.Status)
		}
	}
	if p, _ := h.line.Counts(); p != 1 {
		t.Fatalf("profile API called %d times for one user, want 1 (cached)", p)
	}
	// A user without a profile (not a friend) is still delivered, nameless.
	resp := h.post(t, fakeline.Payload(fakeline.MessageEvent("01HEVT0000000000000000PC03", fakeline.UserSource(fakeline.User2), false, fakeline.TextMessage("200", "hi"))))
	if resp.Status != 200 {
		t.Fatalf("status %d", resp.Status)
	}
	got := h.host.Deliveries()
	if len(got) != 3 || got[2].Message.Author.Name != "" || got[2].Message.Author.ExternalID != fakeline.User2 {
		t.Fatalf("unexpected messages: %+v", got)
	}
}

func TestWebhookMessageTypes(t *testing.T) {
	pdf := []byte("%PDF-1.4 invoice 1234")
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0}, []byte("jpeg body")...)
	mp4 := []byte("....ftypmp42 video")
	m4a := []byte("....ftypM4A audio")
	tests := []struct {
		name      string
		message   string
		content   map[string]fakeline.Content
		wantText  string // substring; "" means empty text
		wantFile  string
		wantType  string
		wantBytes []byte
		wantMeta  map[string]string
	}{
		{
			name:      "file",
			message:   `{"id":"325708","type":"file","fileName":"invoice 1234.pdf","fileSize":21}`,
			content:   map[string]fakeline.Content{"325708": {ContentType: "application/octet-stream", Body: pdf}},
			wantFile:  "invoice 1234.pdf",
			wantType:  "application/pdf",
			wantBytes: pdf,
		},
		{
			name:      "image from LINE",
			message:   `{"id":"354718705033693859","type":"image","quoteToken":"q3Plxr4AgKd...","contentProvider":{"type":"line"},"imageSet":{"id":"E005D41A7288F41B65593ED38FF6E9834B046AB36A37921A56BC236F13A91855","index":1,"total":2}}`,
			content:   map[string]fakeline.Content{"354718705033693859": {ContentType: "image/jpeg", Body: jpeg}},
			wantFile:  "354718705033693859.jpg",
			wantType:  "image/jpeg",
			wantBytes: jpeg,
			wantMeta:  map[string]string{"line_image_set": "E005D41A7288F41B65593ED38FF6E9834B046AB36A37921A56BC236F13A91855 (1 of 2)"},
		},
		{
			name:      "video",
			message:   `{"id":"325708001","type":"video","quoteToken":"q","duration":60000,"contentProvider":{"type":"line"}}`,
			content:   map[string]fakeline.Content{"325708001": {ContentType: "video/mp4", Body: mp4}},
			wantFile:  "325708001.mp4",
			wantType:  "video/mp4",
			wantBytes: mp4,
		},
		{
			name:      "audio",
			message:   `{"id":"325708002","type":"audio","duration":60000,"contentProvider":{"type":"line"}}`,
			content:   map[string]fakeline.Content{"325708002": {ContentType: "audio/x-m4a", Body: m4a}},
			wantFile:  "325708002.m4a",
			wantType:  "audio/x-m4a",
			wantBytes: m4a,
		},
		{
			name:     "image from an external provider is recorded, not fetched",
			message:  `{"id":"354718705033693860","type":"image","quoteToken":"q","contentProvider":{"type":"external","originalContentUrl":"https://example.com/original.jpg","previewImageUrl":"https://example.com/preview.jpg"}}`,
			wantText: "[Image hosted outside LINE: https://example.com/original.jpg]",
			wantMeta: map[string]string{"line_original_content_url": "https://example.com/original.jpg"},
		},
		{
			name:     "sticker with keywords",
			message:  `{"type":"sticker","id":"1501597916","quoteToken":"q","stickerId":"52002738","packageId":"11537","stickerResourceType":"ANIMATION","keywords":["cony","sally","Staring","hi","whatsup","line","howdy","HEY"]}`,
			wantText: "[Sticker: cony, sally, Staring, hi, whatsup]",
			wantMeta: map[string]string{"line_sticker_package_id": "11537", "line_sticker_id": "52002738"},
		},
		{
			name:     "message sticker with text",
			message:  `{"type":"sticker","id":"1501597917","quoteToken":"q","stickerId":"738839","packageId":"12287","stickerResourceType":"MESSAGE","keywords":["Anticipation"],"text":"Let's hang out this weekend!"}`,
			wantText: "[Sticker] Let's hang out this weekend!",
		},
		{
			name:     "location",
			message:  `{"id":"325708003","type":"location","title":"my location","address":"1-3 Kioicho, Chiyoda-ku, Tokyo, 102-8282, Japan","latitude":35.67966,"longitude":139.73669}`,
			wantText: "[Location: my location]\n1-3 Kioicho, Chiyoda-ku, Tokyo, 102-8282, Japan\n35.679660, 139.736690\nhttps://www.openstreetmap.org/?mlat=35.679660&mlon=139.736690",
			wantMeta: map[string]string{"line_latitude": "35.67966", "line_longitude": "139.73669"},
		},
		{
			name:     "content no longer on LINE",
			message:  `{"id":"325708004","type":"image","quoteToken":"q","contentProvider":{"type":"line"}}`,
			wantText: "[Image not stored: content is no longer available on LINE]",
		},
		{
			name:     "unknown message type",
			message:  `{"id":"325708005","type":"hologram"}`,
			wantText: "[LINE hologram message: not supported by this channel]",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			for id, c := range tc.content {
				h.line.SetContent(id, c)
			}
			resp := h.post(t, fakeline.Payload(fakeline.MessageEvent("01HEVT0000000000000000TY01", fakeline.UserSource(fakeline.User), false, tc.message)))
			if resp.Status != http.StatusOK {
				t.Fatalf("status %d: %s", resp.Status, resp.Body)
			}
			got := h.host.Deliveries()
			if len(got) != 1 {
				t.Fatalf("%d messages, want 1", len(got))
			}
			m := got[0].Message
			if tc.wantText == "" && m.Text != "" {
				t.Errorf("Text = %q, want empty", m.Text)
			}
			if !strings.Contains(m.Text, tc.wantText) {
				t.Errorf("Text = %q, want it to contain %q", m.Text, tc.wantText)
			}
			for k, v := range tc.wantMeta {
				if m.Metadata[k] != v {
					t.Errorf("Metadata[%s] = %q, want %q", k, m.Metadata[k], v)
				}
			}
			if tc.wantFile == "" {
				if len(got[0].Files) != 0 {
					t.Fatalf("unexpected files %+v", got[0].Files)
				}
				return
			}
			d := got[0]
			if len(d.Files) != 1 || len(d.Rejected) != 0 {
				t.Fatalf("files %d, rejected %v; want 1 file", len(d.Files), d.Rejected)
			}
			f := d.Files[0]
			if f.Filename != tc.wantFile || f.ContentType != tc.wantType || !bytes.Equal(f.Data, tc.wantBytes) {
				t.Errorf("file = %q %q %q, want %q %q %q", f.Filename, f.ContentType, f.Data, tc.wantFile, tc.wantType, tc.wantBytes)
			}
		})
	}
}

func TestWebhookAttachmentPolicy(t *testing.T) {
	h := newHarness(t)
	h.line.SetContent("325709", fakeline.Content{ContentType: "application/octet-stream", Body: []byte("MZ")})
	big := bytes.Repeat([]byte("x"), 2048)
	h.line.SetContent("325710", fakeline.Content{ContentType: "image/png", Body: big})
	// .exe is not allowed: LINE's fileName tells before any download.
	resp := h.post(t, fakeline.Payload(fakeline.MessageEvent("01HEVT0000000000000000PO01", fakeline.UserSource(fakeline.User), false,
		`{"id":"325709","type":"file","fileName":"setup.exe","fileSize":2}`)))
	if resp.Status != 200 {
		t.Fatalf("status %d", resp.Status)
	}
	if _, c := h.line.Counts(); c != 0 {
		t.Fatalf("refused file was downloaded (%d content calls)", c)
	}
	d := h.host.Deliveries()[0]
	if m := d.Message; !strings.Contains(m.Text, `"setup.exe"`) || !strings.Contains(m.Text, "not allowed") || len(d.Files)+len(d.Rejected) != 0 {
		t.Fatalf("unexpected message: %q %+v %+v", m.Text, d.Files, d.Rejected)
	}

	// Over the size limit: the download stops at the limit.
	small := newHarness(t, func(r *sdk.ConfigureRequest) { r.Attachments.MaxBytes = 1024 })
	small.line.SetContent("325710", fakeline.Content{ContentType: "image/png", Body: big})
	resp = small.post(t, fakeline.Payload(fakeline.MessageEvent("01HEVT0000000000000000PO02", fakeline.UserSource(fakeline.User), false,
		`{"id":"325710","type":"image","quoteToken":"q","contentProvider":{"type":"line"}}`)))
	if resp.Status != 200 {
		t.Fatalf("status %d", resp.Status)
	}
	d = small.host.Deliveries()[0]
	if m := d.Message; !strings.Contains(m.Text, "larger than the channel's limit") || len(d.Files)+len(d.Rejected) != 0 {
		t.Fatalf("unexpected message: %q %+v %+v", m.Text, d.Files, d.Rejected)
	}
}

func TestWebhookIgnoredEvents(t *testing.T) {
	tests := []struct {
		name  string
		event string
	}{
		{"group message", fakeline.MessageEvent("01HEVT0000000000000000IG01", fakeline.GroupSource, false, fakeline.TextMessage("1", "hello group"))},
		{"room message", fakeline.MessageEvent("01HEVT0000000000000000IG02", fakeline.RoomSource, false, fakeline.TextMessage("2", "hello room"))},
		{"standby mode", strings.Replace(fakeline.MessageEvent("01HEVT0000000000000000IG03", fakeline.UserSource(fakeline.User), false, fakeline.TextMessage("3", "hi")), `"mode": "active"`, `"mode": "standby"`, 1)},
		{"follow", `{"replyToken":"85cbe770fa8b4f45bbe077b1d4be4a36","type":"follow","mode":"active","timestamp":1705891467176,"source":{"type":"user","userId":"` + fakeline.User + `"},"webhookEventId":"01HEVT0000000000000000IG04","deliveryContext":{"isRedelivery":false},"follow":{"isUnblocked":false}}`},
		{"unfollow", `{"type":"unfollow","mode":"active","timestamp":1462629479859,"source":{"type":"user","userId":"` + fakeline.User + `"},"webhookEventId":"01HEVT0000000000000000IG05","deliveryContext":{"isRedelivery":false}}`},
		{"postback", `{"replyToken":"b60d432864f44d079f6d8efe86cf404b","type":"postback","mode":"active","source":{"userId":"` + fakeline.User + `","type":"user"},"timestamp":1513669370317,"webhookEventId":"01HEVT0000000000000000IG06","deliveryContext":{"isRedelivery":false},"postback":{"data":"storeId=12345"}}`},
		{"unknown event type", `{"type":"somethingNew","mode":"active","timestamp":1,"source":{"type":"user","userId":"` + fakeline.User + `"},"webhookEventId":"01HEVT0000000000000000IG07","deliveryContext":{"isRedelivery":false}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			resp := h.post(t, fakeline.Payload(tc.event))
			if resp.Status != http.StatusOK {
				t.Fatalf("status %d: %s", resp.Status, resp.Body)
			}
			if n := len(h.host.Deliveries()); n != 0 {
				t.Fatalf("%d messages delivered, want 0", n)
			}
			if calls := h.line.PushCalls(); len(calls) != 0 {
				t.Fatalf("ignored event was answered: %+v", calls)
			}
		})
	}
}

func TestWebhookMixedRequestDeliversUserMessagesInOrder(t *testing.T) {
	h := newHarness(t)
	resp := h.post(t, fakeline.Payload(
		fakeline.MessageEvent("01HEVT0000000000000000MX01", fakeline.UserSource(fakeline.User), false, fakeline.TextMessage("11", "first")),
		fakeline.MessageEvent("01HEVT0000000000000000MX02", fakeline.GroupSource, false, fakeline.TextMessage("12", "group chatter")),
		fakeline.MessageEvent("01HEVT0000000000000000MX03", fakeline.UserSource(fakeline.User2), false, fakeline.TextMessage("13", "second")),
	))
	if resp.Status != 200 {
		t.Fatalf("status %d", resp.Status)
	}
	got := h.host.Deliveries()
	if len(got) != 2 || got[0].Message.Text != "first" || got[1].Message.Text != "second" || got[1].Message.ConversationKey != fakeline.User2 {
		t.Fatalf("unexpected deliveries: %+v", got)
	}
}

func TestWebhookRedeliveryDeduped(t *testing.T) {
	h := newHarness(t)
	msg := fakeline.TextMessage("468789577898262531", "Is anyone there?")
	first := h.post(t, fakeline.Payload(fakeline.MessageEvent("01HEVT0000000000000000RD01", fakeline.UserSource(fakeline.User), false, msg)))
	again := h.post(t, fakeline.Payload(fakeline.MessageEvent("01HEVT0000000000000000RD01", fakeline.UserSource(fakeline.User), true, msg)))
	if first.Status != 200 || again.Status != 200 {
		t.Fatalf("statuses %d, %d", first.Status, again.Status)
	}
	got := h.host.Deliveries()
	if len(got) != 1 {
		t.Fatalf("%d comments stored, want 1", len(got))
	}
	if d, ok := h.host.Delivery("01HEVT0000000000000000RD01"); !ok || d.Times != 2 || d.Message.Metadata["line_redelivery"] != "" {
		t.Fatalf("delivery %+v: want one comment delivered twice, kept as first delivered", d)
	}
	if h.host.DeliverCalls() != 2 {
		t.Fatalf("Deliver called %d times, want 2 (the core dedupes on ExternalID)", h.host.DeliverCalls())
	}
}

func TestWebhookDurability(t *testing.T) {
	// 200 only after every event was delivered; a failed Deliver answers
	// 5xx so that LINE redelivers, and the redelivery is stored once.
	h := newHarness(t)
	body := fakeline.Payload(
		fakeline.MessageEvent("01HEVT0000000000000000DU01", fakeline.UserSource(fakeline.User), false, fakeline.TextMessage("21", "one")),
		fakeline.MessageEvent("01HEVT0000000000000000DU02", fakeline.UserSource(fakeline.User), false, fakeline.TextMessage("22", "two")),
	)
	// The second event fails after the first was stored: still 5xx, and
	// the redelivery stores the second once without duplicating the first.
	h.host.failDeliveries("01HEVT0000000000000000DU02", 1)
	if resp := h.post(t, body); resp.Status < 500 {
		t.Fatalf("status %d when Deliver failed, want 5xx", resp.Status)
	}
	if n := len(h.host.Deliveries()); n != 1 {
		t.Fatalf("%d stored, want the first event only", n)
	}
	if resp := h.post(t, body); resp.Status != 200 {
		t.Fatalf("redelivery status %d", resp.Status)
	}
	got := h.host.Deliveries()
	if len(got) != 2 || got[0].Message.Text != "one" || got[1].Message.Text != "two" {
		t.Fatalf("unexpected stored messages after redelivery: %+v", got)
	}
}

func TestWebhookTransientContentFailure(t *testing.T) {
	h := newHarness(t)
	h.line.SetContent("325711", fakeline.Content{Status: 500})
	body := fakeline.Payload(fakeline.MessageEvent("01HEVT0000000000000000CF01", fakeline.UserSource(fakeline.User), false,
		`{"id":"325711","type":"image","quoteToken":"q","contentProvider":{"type":"line"}}`))
	if resp := h.post(t, body); resp.Status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503 so LINE redelivers", resp.Status)
	}
	if n := len(h.host.Deliveries()); n != 0 {
		t.Fatalf("%d stored without their content", n)
	}
	h.line.SetContent("325711", fakeline.Content{ContentType: "image/png", Body: []byte("\x89PNG")})
	if resp := h.post(t, body); resp.Status != 200 {
		t.Fatalf("redelivery status %d", resp.Status)
	}
	if got := h.host.Deliveries(); len(got) != 1 || len(got[0].Files) != 1 || got[0].Files[0].Filename != "325711.png" {
		t.Fatalf("unexpected: %+v", got)
	}
}

func TestWebhookBeforeConfigure(t *testing.T) {
	resp, err := (&Channel{}).HandleWebhook(t.Context(), &sdk.WebhookRequest{Method: "POST", Path: "/", Body: []byte(`{}`)})
	if err != nil || resp.Status != http.StatusServiceUnavailable {
		t.Fatalf("got %+v, %v; want 503", resp, err)
	}
}

func TestWebhookHeaderCaseInsensitive(t *testing.T) {
	// Headers forwarded by the core may arrive with lower-case keys.
	h := newHarness(t)
	body := fakeline.Payload(fakeline.MessageEvent("01HEVT0000000000000000HC01", fakeline.UserSource(fakeline.User), false, fakeline.TextMessage("31", "hi")))
	resp, err := h.ch.HandleWebhook(t.Context(), &sdk.WebhookRequest{
		Method: "POST", Path: "/", Body: body,
		Header: http.Header{"x-line-signature": {fakeline.Sign(fakeline.Secret, body)}},
	})
	if err != nil || resp.Status != http.StatusOK || len(h.host.Deliveries()) != 1 {
		t.Fatalf("got %+v, %v", resp, err)
	}
}
