package whatsappchan

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/fakegraph"
	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/webhook"
	"github.com/patchbayhq/patchbay/sdk"
)

func TestHandshake(t *testing.T) {
	h := newHarness(t)
	q := func(mode, token, challenge string) string {
		v := url.Values{}
		if mode != "" {
			v.Set("hub.mode", mode)
		}
		if token != "" {
			v.Set("hub.verify_token", token)
		}
		if challenge != "" {
			v.Set("hub.challenge", challenge)
		}
		return v.Encode()
	}
	tests := []struct {
		name   string
		method string
		query  string
		status int
		body   string
	}{
		{"valid", http.MethodGet, q("subscribe", testVerifyToken, "1158201444"), 200, "1158201444"},
		{"challenge echoed raw", http.MethodGet, q("subscribe", testVerifyToken, "abc<def>&x"), 200, "abc<def>&x"},
		{"wrong token", http.MethodGet, q("subscribe", "nope", "1158201444"), 403, ""},
		{"token prefix", http.MethodGet, q("subscribe", testVerifyToken[:5], "1"), 403, ""},
		{"missing token", http.MethodGet, q("subscribe", "", "1158201444"), 403, ""},
		{"wrong mode", http.MethodGet, q("unsubscribe", testVerifyToken, "1158201444"), 403, ""},
		{"no challenge", http.MethodGet, q("subscribe", testVerifyToken, ""), 403, ""},
		{"garbage query", http.MethodGet, "%zz", 403, ""},
		{"put", http.MethodPut, q("subscribe", testVerifyToken, "1"), 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.ch.HandleWebhook(context.Background(), &sdk.WebhookRequest{Method: tt.method, Path: "/", RawQuery: tt.query})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, resp, tt.status)
			if tt.status == 200 {
				if string(resp.Body) != tt.body {
					t.Errorf("body = %q, want %q", resp.Body, tt.body)
				}
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
					t.Errorf("Content-Type = %q, want text/plain", ct)
				}
			} else if bytes.Contains(resp.Body, []byte(testVerifyToken)) {
				t.Errorf("refusal leaks the verify token: %q", resp.Body)
			}
		})
	}
	if n := len(h.host.messages()); n != 0 {
		t.Errorf("handshake delivered %d messages", n)
	}
}

func TestSignatureCheckedFirst(t *testing.T) {
	h := newHarness(t)
	body := h.notification(customer(), fakegraph.TextMessage(customerWaID, "wamid.SIG1", "hello", testNow))
	tampered := bytes.Replace(body, []byte("hello"), []byte("HELLO"), 1)
	big := bytes.Repeat([]byte(" "), MaxWebhookBytes+1)
	tests := []struct {
		name   string
		body   []byte
		sig    string
		status int
	}{
		{"missing", body, "", 401},
		{"wrong secret", body, webhook.Sign("other-secret", body), 401},
		{"tampered body", tampered, webhook.Sign(testAppSecret, body), 401},
		{"sha1 style", body, "sha1=" + strings.TrimPrefix(webhook.Sign(testAppSecret, body), "sha256="), 401},
		{"not hex", body, "sha256=zz", 401},
		{"empty", body, "sha256=", 401},
		{"oversized unsigned", big, "sha256=00", 401},
		{"oversized signed", big, webhook.Sign(testAppSecret, big), 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantStatus(t, h.postWith(tt.body, tt.sig), tt.status)
		})
	}
	if n := len(h.host.messages()); n != 0 {
		t.Fatalf("rejected requests delivered %d messages", n)
	}
	// The header name is matched whatever its case.
	hdr := http.Header{"x-hub-signature-256": {webhook.Sign(testAppSecret, body)}}
	resp, err := h.ch.HandleWebhook(context.Background(), &sdk.WebhookRequest{Method: http.MethodPost, Path: "/", Header: hdr, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, resp, 200)
}

func TestTextMessageBecomesInbound(t *testing.T) {
	h := newHarness(t)
	sent := time.Date(2026, 11, 21, 11, 58, 3, 0, time.UTC)
	msg := fakegraph.TextMessage(customerWaID, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", "Does it come in another color?", sent)
	msg["from_user_id"] = customerBSUID
	msg["context"] = map[string]any{"from": "15550783881", "id": "wamid.QUOTED"}
	wantStatus(t, h.post(h.notification(customer(), msg)), 200)

	got := h.host.messages()
	if len(got) != 1 {
		t.Fatalf("delivered %d messages, want 1", len(got))
	}
	m := got[0]
	checks := []struct{ field, got, want string }{
		{"ExternalID", m.ExternalID, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="},
		{"ConversationKey", m.ConversationKey, customerBSUID},
		{"Author.ExternalID", m.Author.ExternalID, customerBSUID},
		{"Author.IdentityType", m.Author.IdentityType, "whatsapp"},
		{"Author.Name", m.Author.Name, "Sheena Nelson"},
		{"Author.Phone", m.Author.Phone, "+" + customerWaID},
		{"Text", m.Text, "Does it come in another color?"},
		{"RawContentType", m.RawContentType, "application/json"},
		{"ReplyTo", strings.Join(m.ReplyTo, ","), "wamid.QUOTED"},
		{"Metadata.wa_id", m.Metadata["wa_id"], customerWaID},
		{"Metadata.phone_number_id", m.Metadata["phone_number_id"], testPhoneID},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if !m.SentAt.Equal(sent) {
		t.Errorf("SentAt = %v, want %v", m.SentAt, sent)
	}
	if !bytes.Contains(m.Raw, []byte(`"Does it come in another color?"`)) || !bytes.HasPrefix(m.Raw, []byte("{")) {
		t.Errorf("Raw is not the message JSON: %s", m.Raw)
	}
}

func TestIdentityWithoutBSUIDOrPhone(t *testing.T) {
	tests := []struct {
		name               string
		contact            map[string]any
		from, fromUserID   string
		wantKey, wantPhone string
	}{
		{"wa_id only", fakegraph.Contact("Ana", customerWaID, ""), customerWaID, "", customerWaID, "+" + customerWaID},
		{"username user without phone", map[string]any{"profile": map[string]any{"username": "@ana"}, "user_id": customerBSUID}, "", customerBSUID, customerBSUID, ""},
		{"bsuid only in contacts", fakegraph.Contact("Ana", customerWaID, customerBSUID), customerWaID, "", customerBSUID, "+" + customerWaID},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			msg := fakegraph.TextMessage(tt.from, fmt.Sprintf("wamid.ID%d", i), "hi", testNow)
			if tt.from == "" {
				delete(msg, "from")
			}
			if tt.fromUserID != "" {
				msg["from_user_id"] = tt.fromUserID
			}
			wantStatus(t, h.post(h.notification([]map[string]any{tt.contact}, msg)), 200)
			got := h.host.messages()
			if len(got) != 1 {
				t.Fatalf("delivered %d", len(got))
			}
			if got[0].ConversationKey != tt.wantKey || got[0].Author.ExternalID != tt.wantKey {
				t.Errorf("key = %q / %q, want %q", got[0].ConversationKey, got[0].Author.ExternalID, tt.wantKey)
			}
			if got[0].Author.Phone != tt.wantPhone {
				t.Errorf("phone = %q, want %q", got[0].Author.Phone, tt.wantPhone)
			}
			if got[0].Author.Name == "" {
				t.Errorf("no author name")
			}
		})
	}
}

func TestBatchDeliveredAndAcknowledgedOnlyWhenDurable(t *testing.T) {
	h := newHarness(t)
	var msgs []map[string]any
	for i := 0; i < 25; i++ {
		msgs = append(msgs, fakegraph.TextMessage(customerWaID, fmt.Sprintf("wamid.BATCH%02d", i), fmt.Sprintf("message %d", i), testNow.Add(time.Duration(i)*time.Second)))
	}
	body := h.notification(customer(), msgs...)

	// The core fails to commit message 7 once: the batch must not be
	// acknowledged, so that Meta redelivers it.
	h.host.failTimes("wamid.BATCH07", 1)
	wantStatus(t, h.post(body), 500)
	if n := len(h.host.messages()); n != 24 {
		t.Fatalf("after the failed attempt %d messages are stored, want the 24 others", n)
	}

	// Meta's redelivery: everything durable, duplicates collapsed.
	wantStatus(t, h.post(body), 200)
	got := h.host.messages()
	if len(got) != 25 {
		t.Fatalf("stored %d messages, want 25", len(got))
	}
	seen := map[string]bool{}
	for _, m := range got {
		if seen[m.ExternalID] {
			t.Fatalf("%s stored twice", m.ExternalID)
		}
		seen[m.ExternalID] = true
	}
	// A third delivery of the same batch stores nothing new.
	wantStatus(t, h.post(body), 200)
	if n := len(h.host.messages()); n != 25 {
		t.Fatalf("duplicate delivery stored %d messages, want 25", n)
	}
}

func TestIgnoredNotifications(t *testing.T) {
	h := newHarness(t)
	other := fakegraph.Notification{PhoneNumberID: "999999999", Contacts: customer(),
		Messages: []map[string]any{fakegraph.TextMessage(customerWaID, "wamid.OTHER", "for someone else", testNow)}}.Body()
	tests := []struct {
		name string
		body []byte
	}{
		{"another phone number id", other},
		{"malformed json", []byte(`{"object":"whatsapp_business_account","entry":[{`)},
		{"not an object", []byte(`[1,2,3]`)},
		{"wrong types", []byte(`{"object":"whatsapp_business_account","entry":"nope"}`)},
		{"another object", []byte(`{"object":"page","entry":[]}`)},
		{"other field", []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"message_template_status_update","value":{"event":"APPROVED"}}]}]}`)},
		{"message without id", h.notification(customer(), map[string]any{"from": customerWaID, "type": "text", "text": map[string]any{"body": "x"}})},
		{"message of wrong shape", h.notification(customer(), map[string]any{"from": customerWaID, "id": "wamid.BAD", "type": "text", "text": "not an object"})},
		{"message without sender", h.notification(nil, map[string]any{"id": "wamid.NOSENDER", "type": "text", "text": map[string]any{"body": "x"}})},
		{"empty body", []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantStatus(t, h.post(tt.body), 200)
		})
	}
	if n := len(h.host.messages()); n != 0 {
		t.Fatalf("ignored notifications delivered %d messages", n)
	}
}

func TestMessageTypesRenderedAsText(t *testing.T) {
	tests := []struct {
		name    string
		msg     map[string]any
		want    []string
		replyTo string
	}{
		{"location", map[string]any{"type": "location", "location": map[string]any{"latitude": 37.483307, "longitude": 122.148981, "name": "Philz Coffee", "address": "101 Forest Ave, Palo Alto, CA 94301"}},
			[]string{"Shared a location: Philz Coffee, 101 Forest Ave", "37.483307, 122.148981", "https://www.google.com/maps/search/?api=1&query=37.483307%2C122.148981"}, ""},
		{"contacts", map[string]any{"type": "contacts", "contacts": []any{map[string]any{
			"name":   map[string]any{"formatted_name": "Barbara J. Johnson", "first_name": "Barbara"},
			"phones": []any{map[string]any{"phone": "+1 (940) 555-1234", "wa_id": "19405551234", "type": "HOME"}},
			"emails": []any{map[string]any{"email": "bjohnson@example.com", "type": "WORK"}},
			"org":    map[string]any{"company": "Lucky Shrub", "title": "Manager"}}}},
			[]string{"Shared a contact: Barbara J. Johnson", "Phone: +1 (940) 555-1234 (HOME)", "Email: bjohnson@example.com", "Organisation: Lucky Shrub, Manager"}, ""},
		{"reaction", map[string]any{"type": "reaction", "reaction": map[string]any{"message_id": "wamid.OURS", "emoji": "\U0001F44D"}},
			[]string{"Reacted \U0001F44D to a message"}, "wamid.OURS"},
		{"reaction removed", map[string]any{"type": "reaction", "reaction": map[string]any{"message_id": "wamid.OURS"}},
			[]string{"Removed a reaction"}, "wamid.OURS"},
		{"button reply", map[string]any{"type": "interactive", "context": map[string]any{"from": "15550783881", "id": "wamid.ASKED"},
			"interactive": map[string]any{"type": "button_reply", "button_reply": map[string]any{"id": "yes-1", "title": "Yes, please"}}},
			[]string{"Chose: Yes, please"}, "wamid.ASKED"},
		{"list reply", map[string]any{"type": "interactive", "interactive": map[string]any{"type": "list_reply", "list_reply": map[string]any{"id": "row-2", "title": "Billing", "description": "Invoices and refunds"}}},
			[]string{"Chose: Billing — Invoices and refunds"}, ""},
		{"template quick reply", map[string]any{"type": "button", "button": map[string]any{"payload": "STOP_PROMOS", "text": "Stop promotions"}},
			[]string{"Tapped the button: Stop promotions"}, ""},
		{"unsupported", map[string]any{"type": "unsupported", "unsupported": map[string]any{"type": "poll_creation"},
			"errors": []any{map[string]any{"code": 131051, "title": "Message type unknown", "message": "Message type unknown", "error_data": map[string]any{"details": "Message type is currently not supported."}}}},
			[]string{"[Unsupported WhatsApp message (poll_creation)", "Message type unknown (code 131051): Message type is currently not supported."}, ""},
		{"unknown type", map[string]any{"type": "hologram"}, []string{"[Unsupported WhatsApp message (hologram)"}, ""},
		{"system", map[string]any{"type": "system", "system": map[string]any{"body": "User A changed from +1 555 to +1 556", "type": "user_changed_number"}},
			[]string{"User A changed from"}, ""},
		{"forwarded text", map[string]any{"type": "text", "text": map[string]any{"body": "look"}, "context": map[string]any{"forwarded": true}},
			[]string{"[Forwarded] look"}, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			msg := tt.msg
			msg["from"] = customerWaID
			msg["id"] = fmt.Sprintf("wamid.TYPE%d", i)
			msg["timestamp"] = fakegraph.Timestamp(testNow)
			wantStatus(t, h.post(h.notification(customer(), msg)), 200)
			got := h.host.messages()
			if len(got) != 1 {
				t.Fatalf("delivered %d messages, want 1", len(got))
			}
			for _, w := range tt.want {
				if !strings.Contains(got[0].Text, w) {
					t.Errorf("text %q lacks %q", got[0].Text, w)
				}
			}
			if r := strings.Join(got[0].ReplyTo, ","); r != tt.replyTo {
				t.Errorf("ReplyTo = %q, want %q", r, tt.replyTo)
			}
		})
	}
}

func TestInboundMakesNoStateRoundTrips(t *testing.T) {
	// The 24-hour window is the core's business (OutboundMessage.LastInboundAt
	// is the conversation's latest inbound time): the inbound path makes no
	// Host state calls, only the synced Deliver.
	h := newHarness(t)
	at := testNow.Add(-2 * time.Hour)
	wantStatus(t, h.post(h.notification([]map[string]any{fakegraph.Contact("A", customerWaID, "")}, fakegraph.TextMessage(customerWaID, "wamid.W1", "hi", at))), 200)
	if got := len(h.host.messages()); got != 1 {
		t.Fatalf("delivered %d messages, want 1", got)
	}
	if n := h.host.stateCalls(); n != 0 {
		t.Fatalf("%d Host state calls on the inbound path, want 0", n)
	}
}
