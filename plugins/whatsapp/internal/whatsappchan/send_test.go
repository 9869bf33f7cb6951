package whatsappchan

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/fakegraph"
	"github.com/patchbayhq/patchbay/sdk"
)

func reply(text string, atts ...sdk.Attachment) *sdk.OutboundMessage {
	return &sdk.OutboundMessage{
		IdempotencyKey:  "reply-" + text[:min(len(text), 12)],
		TicketID:        7,
		CommentID:       21,
		ConversationKey: customerBSUID,
		Recipient:       sdk.Party{ExternalID: customerBSUID, IdentityType: "whatsapp", Phone: "+" + customerWaID},
		Text:            text,
		LastInboundAt:   testNow.Add(-time.Hour),
		Attachments:     atts,
	}
}

func sendErr(t *testing.T, err error) *sdk.SendError {
	t.Helper()
	var se *sdk.SendError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *sdk.SendError", err, err)
	}
	return se
}

func TestSendText(t *testing.T) {
	h := newHarness(t)
	res, err := h.ch.Send(context.Background(), reply("Yes, it comes in blue."))
	if err != nil {
		t.Fatal(err)
	}
	sent := h.graph.Sent()
	if len(sent) != 1 {
		t.Fatalf("fake received %d messages", len(sent))
	}
	s := sent[0]
	if res.ExternalID != s.ID || !strings.HasPrefix(res.ExternalID, "wamid.") {
		t.Errorf("ExternalID = %q, fake answered %q", res.ExternalID, s.ID)
	}
	if s.To() != customerWaID || s.Type() != "text" || s.Field("text", "body") != "Yes, it comes in blue." ||
		s.Field("messaging_product") != "whatsapp" || s.Field("recipient_type") != "individual" {
		t.Errorf("sent %s", s.Raw)
	}
}

func TestSendToBusinessScopedUserID(t *testing.T) {
	h := newHarness(t)
	msg := reply("hello")
	msg.Recipient.Phone = ""
	if _, err := h.ch.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	s := h.graph.Sent()[0]
	if s.Recipient() != customerBSUID || s.To() != "" {
		t.Errorf("sent to=%q recipient=%q, want recipient %q", s.To(), s.Recipient(), customerBSUID)
	}
}

func TestRecipientOf(t *testing.T) {
	tests := []struct {
		name          string
		msg           sdk.OutboundMessage
		to, recipient string
	}{
		{"formatted phone", sdk.OutboundMessage{ConversationKey: customerBSUID, Recipient: sdk.Party{Phone: "+1 (650) 555-1234"}}, customerWaID, ""},
		{"wa_id key", sdk.OutboundMessage{ConversationKey: customerWaID}, customerWaID, ""},
		{"bsuid only", sdk.OutboundMessage{ConversationKey: customerBSUID}, "", customerBSUID},
		{"recipient id only", sdk.OutboundMessage{Recipient: sdk.Party{ExternalID: customerBSUID}}, "", customerBSUID},
		{"garbage phone falls back", sdk.OutboundMessage{ConversationKey: customerBSUID, Recipient: sdk.Party{Phone: "call me"}}, "", customerBSUID},
	}
	for _, tt := range tests {
		to, rcpt := recipientOf(&tt.msg)
		if to != tt.to || rcpt != tt.recipient {
			t.Errorf("%s: to=%q recipient=%q, want %q %q", tt.name, to, rcpt, tt.to, tt.recipient)
		}
	}
}

func TestSendLongTextSplit(t *testing.T) {
	h := newHarness(t)
	long := strings.Repeat("word ", 1500) // 7500 characters
	res, err := h.ch.Send(context.Background(), reply(long))
	if err != nil {
		t.Fatal(err)
	}
	sent := h.graph.Sent()
	if len(sent) != 2 {
		t.Fatalf("sent %d messages, want 2", len(sent))
	}
	var joined []string
	for _, s := range sent {
		body := s.Field("text", "body")
		if n := len([]rune(body)); n > MaxTextRunes {
			t.Errorf("part of %d characters", n)
		}
		joined = append(joined, body)
	}
	if strings.Join(joined, " ") != strings.TrimSpace(long) {
		t.Errorf("parts do not add up to the reply")
	}
	if res.ExternalID != sent[0].ID {
		t.Errorf("ExternalID = %q, want the first part's %q", res.ExternalID, sent[0].ID)
	}
}

func TestSendAttachmentsUploadedThenSentByID(t *testing.T) {
	h := newHarness(t)
	png := []byte("\x89PNG\r\n\x1a\nfake")
	pdf := []byte("%PDF-1.7 manual")
	_, err := h.ch.Send(context.Background(), reply("See attached.",
		sdk.BytesAttachment("diagram.png", "image/png", png),
		sdk.BytesAttachment("manual.pdf", "application/pdf", pdf)))
	if err != nil {
		t.Fatal(err)
	}
	ups := h.graph.Uploads()
	if len(ups) != 2 {
		t.Fatalf("uploads = %d, want 2", len(ups))
	}
	if ups[0].Filename != "diagram.png" || ups[0].Type != "image/png" || ups[0].MessagingProduct != "whatsapp" || string(ups[0].Data) != string(png) {
		t.Errorf("upload 0 = %+v", ups[0])
	}
	if ups[1].Filename != "manual.pdf" || string(ups[1].Data) != string(pdf) {
		t.Errorf("upload 1 = %+v", ups[1])
	}
	sent := h.graph.Sent()
	if len(sent) != 3 {
		t.Fatalf("sent %d messages, want text + 2 media", len(sent))
	}
	if sent[1].Type() != "image" || sent[1].Field("image", "id") != ups[0].ID {
		t.Errorf("image message = %s", sent[1].Raw)
	}
	if sent[2].Type() != "document" || sent[2].Field("document", "id") != ups[1].ID || sent[2].Field("document", "filename") != "manual.pdf" {
		t.Errorf("document message = %s", sent[2].Raw)
	}
}

func TestSendWindow(t *testing.T) {
	tests := []struct {
		name           string
		template       bool
		bodyParam      bool
		lastInbound    time.Duration // before now; 0: unknown to the core
		apiFails131047 bool
		wantType       string // sent message type; "" when nothing is sent
		wantCode       string // SendError code
	}{
		{"inside the window", false, false, 23 * time.Hour, false, "text", ""},
		// The local clock alone never fails a reply (it may have stepped
		// forward): WhatsApp's answer does.
		{"closed by the local clock, no template: sent, the API decides", false, false, 25 * time.Hour, false, "text", ""},
		{"closed by the local clock and the API, no template", false, false, 25 * time.Hour, true, "", "window_closed"},
		{"closed, template", true, false, 25 * time.Hour, false, "template", ""},
		{"closed, template with the reply as parameter", true, true, 48 * time.Hour, false, "template", ""},
		{"unknown to the core: sent, the API decides", false, false, 0, false, "text", ""},
		{"131047 from the API, no template", false, false, 0, true, "", "window_closed"},
		{"131047 from the API, template", true, false, 0, true, "template", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []harnessOpt
			if tt.template {
				opts = append(opts, withTemplate("reopen_conversation", "en_US", tt.bodyParam))
			}
			h := newHarness(t, opts...)
			msg := reply("Your replacement ships tomorrow.\nThanks!")
			msg.LastInboundAt = time.Time{}
			if tt.lastInbound > 0 {
				msg.LastInboundAt = testNow.Add(-tt.lastInbound)
			}
			if tt.apiFails131047 {
				h.graph.FailNext("messages", fakegraph.Failure{HTTPStatus: 400, Code: 131047, Message: "Re-engagement message", Details: "Message failed to send because more than 24 hours have passed since the customer last replied to this number."})
			}
			res, err := h.ch.Send(context.Background(), msg)
			sent := h.graph.Sent()
			if tt.wantCode != "" {
				se := sendErr(t, err)
				if se.Code != tt.wantCode || se.Retryable {
					t.Fatalf("error = %+v, want permanent %s", se, tt.wantCode)
				}
				if !strings.Contains(se.Message, "24 hours") {
					t.Errorf("message %q does not explain the window", se.Message)
				}
				if len(sent) != 0 {
					t.Fatalf("sent %d messages although the window is closed", len(sent))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(sent) != 1 {
				t.Fatalf("sent %d messages, want 1", len(sent))
			}
			s := sent[0]
			if s.Type() != tt.wantType || res.ExternalID != s.ID {
				t.Fatalf("sent %s (result %q)", s.Raw, res.ExternalID)
			}
			if tt.wantType == "template" {
				if s.Field("template", "name") != "reopen_conversation" || s.Field("template", "language", "code") != "en_US" {
					t.Errorf("template = %s", s.Raw)
				}
				param := s.Field("template", "components", "0", "parameters", "0", "text")
				if tt.bodyParam && param != "Your replacement ships tomorrow. Thanks!" {
					t.Errorf("template parameter = %q", param)
				}
				if !tt.bodyParam && s.Field("template", "components") != "" {
					t.Errorf("template has components without body_parameter: %s", s.Raw)
				}
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name           string
		failure        fakegraph.Failure
		wantRetry      bool
		wantCode       string
		wantRetryAfter time.Duration
		wantMsg        string
	}{
		{"429 with Retry-After", fakegraph.Failure{HTTPStatus: 429, Code: 130429, Message: "Rate limit hit", RetryAfter: "30"}, true, "rate_limited", 30 * time.Second, "Rate limit hit"},
		{"pair rate limit", fakegraph.Failure{HTTPStatus: 400, Code: 131056, Message: "(Business Account, Consumer Account) pair rate limit hit"}, true, "rate_limited", 0, "pair rate limit"},
		{"500", fakegraph.Failure{HTTPStatus: 500, Code: 1, Message: "An unknown error occurred"}, true, "provider_unavailable", 0, "unknown error"},
		{"503 with date", fakegraph.Failure{HTTPStatus: 503, Code: 2, Message: "Service temporarily unavailable", RetryAfter: testNow.Add(2 * time.Minute).Format(time.RFC1123)}, true, "provider_unavailable", 0, "temporarily"},
		{"undeliverable", fakegraph.Failure{HTTPStatus: 400, Code: 131026, Message: "Message Undeliverable.", Details: "Recipient is not a WhatsApp user"}, false, "whatsapp_131026", 0, "Message Undeliverable. (Recipient is not a WhatsApp user)"},
		{"invalid parameter", fakegraph.Failure{HTTPStatus: 400, Code: 100, Message: "(#100) Invalid parameter"}, false, "whatsapp_100", 0, "Invalid parameter"},
		{"bad token", fakegraph.Failure{HTTPStatus: 401, Code: 190, Message: "Error validating access token: Session has expired"}, false, "auth_failed", 0, "Session has expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.graph.FailNext("messages", tt.failure)
			_, err := h.ch.Send(context.Background(), reply("hello"))
			se := sendErr(t, err)
			if se.Retryable != tt.wantRetry || se.Code != tt.wantCode {
				t.Fatalf("error = %+v, want retryable=%v code=%s", se, tt.wantRetry, tt.wantCode)
			}
			if tt.wantRetryAfter > 0 && se.RetryAfter != tt.wantRetryAfter {
				t.Errorf("RetryAfter = %v, want %v", se.RetryAfter, tt.wantRetryAfter)
			}
			if !strings.Contains(se.Message, tt.wantMsg) {
				t.Errorf("message %q lacks %q", se.Message, tt.wantMsg)
			}
			if strings.Contains(se.Error(), testToken) {
				t.Errorf("error leaks the access token")
			}
			if tt.wantCode == "auth_failed" {
				if st := h.host.Statuses(); len(st) == 0 || st[len(st)-1].State != sdk.StateAuthFailed {
					t.Errorf("statuses = %+v, want auth_failed reported", st)
				}
			}
		})
	}
}

func TestSendNetworkErrorRetryable(t *testing.T) {
	h := newHarness(t)
	h.graph.Close()
	_, err := h.ch.Send(context.Background(), reply("hello"))
	if se := sendErr(t, err); !se.Retryable || se.Code != "network" {
		t.Fatalf("error = %+v, want retryable network", se)
	}
}

func TestSendRetryDoesNotRepeatParts(t *testing.T) {
	h := newHarness(t)
	msg := reply("Here is the form.", sdk.BytesAttachment("form.pdf", "application/pdf", []byte("%PDF form")))
	h.graph.FailNext("media", fakegraph.Failure{HTTPStatus: 503, Code: 2, Message: "Service temporarily unavailable"})
	_, err := h.ch.Send(context.Background(), msg)
	if se := sendErr(t, err); !se.Retryable {
		t.Fatalf("upload outage: %+v, want retryable", se)
	}
	if n := len(h.graph.Sent()); n != 1 {
		t.Fatalf("after the failed attempt %d messages are at Meta, want the text only", n)
	}
	res, err := h.ch.Send(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	sent := h.graph.Sent()
	if len(sent) != 2 || sent[0].Type() != "text" || sent[1].Type() != "document" {
		t.Fatalf("sent %d messages after retry, want text then document", len(sent))
	}
	if res.ExternalID != sent[0].ID {
		t.Errorf("ExternalID = %q, want %q", res.ExternalID, sent[0].ID)
	}
	// A further attempt (the core lost the answer) sends nothing.
	res2, err := h.ch.Send(context.Background(), msg)
	if err != nil || res2.ExternalID != res.ExternalID || len(h.graph.Sent()) != 2 {
		t.Fatalf("repeat after success: %v, %v, %d sent", res2, err, len(h.graph.Sent()))
	}
}

func TestSendRefusesEmptyAndAddressless(t *testing.T) {
	h := newHarness(t)
	empty := reply("x")
	empty.Text = "  "
	none := reply("hello")
	none.ConversationKey, none.Recipient = "", sdk.Party{}
	for name, msg := range map[string]*sdk.OutboundMessage{"empty_message": empty, "no_recipient": none} {
		_, err := h.ch.Send(context.Background(), msg)
		if se := sendErr(t, err); se.Retryable || se.Code != name {
			t.Errorf("%s: %+v", name, se)
		}
	}
	if n := len(h.graph.Sent()); n != 0 {
		t.Fatalf("sent %d", n)
	}
}

// A reply that is one WhatsApp message costs no Host state round trip (no
// progress record to read or write); a reply of several messages records
// its progress (read once, written after each part), which is what keeps
// a retry from sending an accepted part twice (TestSendRetryDoesNotRepeatParts).
func TestSendStateRoundTrips(t *testing.T) {
	long := strings.Repeat("word ", MaxTextRunes/5+10) // two text parts
	pdf := sdk.BytesAttachment("form.pdf", "application/pdf", []byte("%PDF form"))
	cases := []struct {
		name       string
		msg        *sdk.OutboundMessage
		messages   int
		stateCalls int
		// metaRefuses: Meta answers 131047 (the window is closed).
		metaRefuses bool
	}{
		{"one text message", reply("Yes, it comes in blue."), 1, 0, false},
		{"text split in two", reply(long), 2, 1 + 2, false},
		{"text and a file", reply("Here is the form.", pdf), 2, 1 + 2, false},
		{"outside the window without template", func() *sdk.OutboundMessage {
			m := reply("Late answer")
			m.LastInboundAt = testNow.Add(-25 * time.Hour)
			return m
		}(), 0, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			if c.metaRefuses {
				h.graph.FailNext("messages", fakegraph.Failure{HTTPStatus: 400, Code: 131047, Message: "Re-engagement message"})
			}
			_, _ = h.ch.Send(context.Background(), c.msg)
			if n := len(h.graph.Sent()); n != c.messages {
				t.Fatalf("%d messages at Meta, want %d", n, c.messages)
			}
			if n := h.host.stateCalls(); n != c.stateCalls {
				t.Fatalf("%d Host state calls, want %d", n, c.stateCalls)
			}
		})
	}
}
