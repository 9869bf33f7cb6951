package linechan

import (
	"errors"
	"github.com/patchbayhq/patchbay/plugins/line/internal/fakeline"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
)

func reply(key, text string) *sdk.OutboundMessage {
	return &sdk.OutboundMessage{
		IdempotencyKey:  key,
		TicketID:        7,
		CommentID:       42,
		ConversationKey: fakeline.User,
		Recipient:       sdk.Party{ExternalID: fakeline.User, IdentityType: "line"},
		Text:            text,
	}
}

func TestSendPushWithRetryKey(t *testing.T) {
	h := newHarness(t)
	// First attempt: LINE fails with 500 (the push may or may not have
	// been accepted); the retry must carry the same key.
	h.line.Script(fakeline.Response{Status: 500, Body: `{"message":"An error occurred in the server."}`})
	msg := reply("comment-42-reply", "Your parcel ships tomorrow.")
	_, err := h.ch.Send(t.Context(), msg)
	var se *sdk.SendError
	if !errors.As(err, &se) || !se.Retryable {
		t.Fatalf("500: err = %v, want retryable SendError", err)
	}
	res, err := h.ch.Send(t.Context(), msg)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	calls := h.line.PushCalls()
	if len(calls) != 2 {
		t.Fatalf("%d pushes, want 2", len(calls))
	}
	key, err := uuid.Parse(calls[0].RetryKey)
	if err != nil || key.Version() != 5 {
		t.Fatalf("X-Line-Retry-Key %q is not a UUIDv5 (%v)", calls[0].RetryKey, err)
	}
	if calls[1].RetryKey != calls[0].RetryKey {
		t.Fatalf("retry key changed across attempts: %q then %q", calls[0].RetryKey, calls[1].RetryKey)
	}
	if calls[0].To != fakeline.User || calls[0].Auth != "Bearer "+fakeline.Token || len(calls[0].Texts) != 1 || calls[0].Texts[0] != "Your parcel ships tomorrow." {
		t.Fatalf("unexpected push: %+v", calls[0])
	}
	if res.ExternalID != "sent-req-0002" {
		t.Fatalf("ExternalID = %q, want the sentMessages id", res.ExternalID)
	}
	// Deterministic: the same idempotency key always yields the same key;
	// another reply gets another one.
	if got := retryKey(reply("comment-42-reply", "")); got != calls[0].RetryKey {
		t.Fatalf("retryKey not deterministic: %q vs %q", got, calls[0].RetryKey)
	}
	if other := retryKey(reply("comment-43-reply", "")); other == calls[0].RetryKey {
		t.Fatal("different replies share a retry key")
	}

	// A third attempt (the answer to the second was lost): LINE answers 409
	// for an accepted key, which is success with the accepted request id.
	res, err = h.ch.Send(t.Context(), msg)
	if err != nil {
		t.Fatalf("409 must be success: %v", err)
	}
	if res.ExternalID != "sent-req-0002" {
		t.Fatalf("ExternalID after 409 = %q, want the accepted message id", res.ExternalID)
	}
	h.assertNoSecrets(t)
}

func TestSendFailures(t *testing.T) {
	tests := []struct {
		name          string
		script        *fakeline.Response
		blocked       bool
		msg           *sdk.OutboundMessage
		wantRetryable bool
		wantAfter     time.Duration
		wantCode      string
		wantInMessage string
		wantStatus    string
	}{
		{
			name: "blocked user is permanent with LINE's reason", blocked: true,
			msg: reply("k-blocked", "hello"), wantCode: "line_400",
			wantInMessage: "The user has blocked the LINE Official Account",
		},
		{
			name:   "429 is retryable and honours Retry-After",
			script: &fakeline.Response{Status: 429, Header: http.Header{"Retry-After": {"30"}}, Body: `{"message":"The API rate limit has been exceeded. Try again later."}`},
			msg:    reply("k-429", "hello"), wantRetryable: true, wantAfter: 30 * time.Second, wantCode: "rate_limited",
			wantInMessage: "rate limit",
		},
		{
			name:   "503 is retryable",
			script: &fakeline.Response{Status: 503, Body: `{"message":"Service unavailable"}`},
			msg:    reply("k-503", "hello"), wantRetryable: true, wantCode: "line_unavailable",
		},
		{
			name:   "401 stays queued and reports auth_failed",
			script: &fakeline.Response{Status: 401, Body: `{"message":"Authentication failed. Confirm that the access token in the authorization header is valid."}`},
			msg:    reply("k-401", "hello"), wantRetryable: true, wantCode: "unauthorized", wantStatus: sdk.StateAuthFailed,
		},
		{
			name:   "403 is permanent",
			script: &fakeline.Response{Status: 403, Body: `{"message":"Access to this API is not available for your account"}`},
			msg:    reply("k-403", "hello"), wantCode: "line_403", wantInMessage: "not available for your account",
		},
		{
			name: "recipient that is not a LINE user id",
			msg:  &sdk.OutboundMessage{IdempotencyKey: "k-bad", ConversationKey: "../v2/bot/info", Text: "x"}, wantCode: "invalid_recipient",
		},
		{
			name: "empty reply", msg: reply("k-empty", "  \n"), wantCode: "empty_message",
		},
		{
			name: "reply longer than five LINE messages", msg: reply("k-long", strings.Repeat("a", 5*5000+1)), wantCode: "message_too_long",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.script != nil {
				h.line.Script(*tc.script)
			}
			if tc.blocked {
				h.line.Block(fakeline.User, true)
			}
			res, err := h.ch.Send(t.Context(), tc.msg)
			var se *sdk.SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send = %+v, %v; want a SendError", res, err)
			}
			if se.Retryable != tc.wantRetryable || se.Code != tc.wantCode || se.RetryAfter != tc.wantAfter {
				t.Fatalf("SendError = %+v, want retryable=%t code=%s after=%v", se, tc.wantRetryable, tc.wantCode, tc.wantAfter)
			}
			if !strings.Contains(se.Message, tc.wantInMessage) {
				t.Fatalf("message %q does not contain %q", se.Message, tc.wantInMessage)
			}
			if tc.wantStatus != "" && h.host.lastStatus().State != tc.wantStatus {
				t.Fatalf("status %+v, want %s", h.host.lastStatus(), tc.wantStatus)
			}
			h.assertNoSecrets(t, se.Error())
		})
	}
}

func TestSendNetworkErrorIsRetryable(t *testing.T) {
	h := newHarness(t)
	h.line.CloseAPI()
	_, err := h.ch.Send(t.Context(), reply("k-net", "hello"))
	var se *sdk.SendError
	if !errors.As(err, &se) || !se.Retryable || se.Code != "network" {
		t.Fatalf("err = %v, want retryable network error", err)
	}
	h.assertNoSecrets(t, err.Error())
}

func TestSendSplitsLongText(t *testing.T) {
	h := newHarness(t)
	para := strings.Repeat("word ", 900) // 4,500 characters
	text := para + "\n" + para + "\n" + "end"
	if _, err := h.ch.Send(t.Context(), reply("k-split", text)); err != nil {
		t.Fatal(err)
	}
	calls := h.line.PushCalls()
	if len(calls) != 1 || len(calls[0].Texts) != 2 {
		t.Fatalf("want one push of 2 messages, got %+v", len(calls))
	}
	for _, s := range calls[0].Texts {
		if len(s) > 5000 {
			t.Fatalf("message of %d characters", len(s))
		}
	}
	if !strings.HasSuffix(calls[0].Texts[1], "end") {
		t.Fatalf("text lost: %q", calls[0].Texts[1][len(calls[0].Texts[1])-20:])
	}
}

func TestSendAttachments(t *testing.T) {
	report := []byte("%PDF-1.4 quarterly report")
	t.Run("without a public URL, files are listed by name", func(t *testing.T) {
		h := newHarness(t)
		msg := reply("k-att1", "Here is the report.")
		msg.Attachments = []sdk.Attachment{h.host.StoreAttachment(channeltest.File{Filename: "report.pdf", ContentType: "application/pdf", Data: report})}
		if _, err := h.ch.Send(t.Context(), msg); err != nil {
			t.Fatal(err)
		}
		text := h.line.PushCalls()[0].Texts[0]
		if !strings.HasPrefix(text, "Here is the report.\n\n") || !strings.Contains(text, "report.pdf") || strings.Contains(text, "http") {
			t.Fatalf("text = %q", text)
		}
	})
	t.Run("with a public URL, files are signed links served by the channel", func(t *testing.T) {
		h := newHarness(t, func(r *sdk.ConfigureRequest) { r.PublicURL = "https://support.example.com/hooks/line-support" })
		msg := reply("k-att2", "Here is the report.")
		msg.Attachments = []sdk.Attachment{h.host.StoreAttachment(channeltest.File{Filename: "Q3 report.pdf", ContentType: "application/pdf", Data: report})}
		if _, err := h.ch.Send(t.Context(), msg); err != nil {
			t.Fatal(err)
		}
		text := h.line.PushCalls()[0].Texts[0]
		i := strings.Index(text, "https://support.example.com/hooks/line-support/files/")
		if i < 0 {
			t.Fatalf("no link in %q", text)
		}
		link, err := url.Parse(strings.Fields(text[i:])[0])
		if err != nil {
			t.Fatal(err)
		}
		get := func(path, query string) *sdk.WebhookResponse {
			resp, err := h.ch.HandleWebhook(t.Context(), &sdk.WebhookRequest{Method: "GET", Path: path, RawQuery: query, Header: http.Header{}})
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		path := strings.TrimPrefix(link.Path, "/hooks/line-support")
		resp := get(path, link.RawQuery)
		if resp.Status != 200 || string(resp.Body) != string(report) {
			t.Fatalf("link answered %d %q", resp.Status, resp.Body)
		}
		if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); ct != "application/pdf" || !strings.Contains(cd, "Q3 report.pdf") {
			t.Fatalf("headers: %q %q", ct, cd)
		}
		q := link.Query()
		tampered := url.Values{"name": {q.Get("name")}, "exp": {q.Get("exp")}, "sig": {q.Get("sig") + "x"}}
		if resp := get(path, tampered.Encode()); resp.Status != http.StatusForbidden {
			t.Fatalf("tampered signature answered %d", resp.Status)
		}
		other := url.Values{"name": {"other.pdf"}, "exp": {q.Get("exp")}, "sig": {q.Get("sig")}}
		if resp := get(path, other.Encode()); resp.Status != http.StatusForbidden {
			t.Fatalf("renamed link answered %d", resp.Status)
		}
		if resp := get("/files/att999", link.RawQuery); resp.Status != http.StatusForbidden {
			t.Fatalf("link for another file answered %d", resp.Status)
		}
		// Past its expiry the link is refused.
		rt, _ := h.ch.runtime()
		rt.now = func() time.Time { return time.Now().Add(fileLinkTTL + time.Hour) }
		if resp := get(path, link.RawQuery); resp.Status != http.StatusGone {
			t.Fatalf("expired link answered %d", resp.Status)
		}
	})
}
