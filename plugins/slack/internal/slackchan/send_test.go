package slackchan

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/plugins/slack/internal/fakeslack"
	"github.com/patchbayhq/patchbay/sdk"
)

func reply(text string) *sdk.OutboundMessage {
	return &sdk.OutboundMessage{
		IdempotencyKey:  "reply-" + text,
		TicketID:        7,
		CommentID:       12,
		ConversationKey: fakeslack.Team + ":" + fakeslack.IM,
		Recipient:       sdk.Party{ExternalID: fakeslack.Team + ":U0ALICE", IdentityType: "slack"},
		Text:            text,
	}
}

func TestSendPostsIntoTheDM(t *testing.T) {
	h := newHarness(t, ModeEvents, nil)
	res, err := h.ch.Send(context.Background(), reply("Try reconnecting <now> & tell me"))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	posts := h.slack.CallsTo("chat.postMessage")
	if len(posts) != 1 {
		t.Fatalf("chat.postMessage called %d times", len(posts))
	}
	p := posts[0]
	if p.Form["channel"] != fakeslack.IM || p.Token != fakeslack.BotToken {
		t.Errorf("posted to %q with token ok=%v", p.Form["channel"], p.Token == fakeslack.BotToken)
	}
	if p.Form["text"] != "Try reconnecting &lt;now&gt; &amp; tell me" {
		t.Errorf("text %q, want Slack-escaped", p.Form["text"])
	}
	if res.ExternalID != "1700000100.000001" {
		t.Errorf("ExternalID %q, want the message ts", res.ExternalID)
	}
	if n := len(h.slack.CallsTo("conversations.open")); n != 0 {
		t.Errorf("conversations.open called %d times with a known DM", n)
	}
}

func TestSendOpensTheDMWhenNeeded(t *testing.T) {
	h := newHarness(t, ModeEvents, nil)
	msg := reply("hello")
	msg.ConversationKey = "" // e.g. a ticket created through the API
	if _, err := h.ch.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	opens := h.slack.CallsTo("conversations.open")
	if len(opens) != 1 || opens[0].Form["users"] != "U0ALICE" {
		t.Fatalf("conversations.open calls %+v, want one for U0ALICE", opens)
	}
	posts := h.slack.CallsTo("chat.postMessage")
	if len(posts) != 1 || posts[0].Form["channel"] != "D0OPENEDU0ALICE" {
		t.Fatalf("posts %+v, want one into the opened DM", posts)
	}
}

func TestSendFilesWithV2Upload(t *testing.T) {
	h := newHarness(t, ModeEvents, nil)
	pdf := bytes.Repeat([]byte("pdf!"), 10000)
	msg := reply("Here is the guide")
	msg.Attachments = []sdk.Attachment{
		sdk.BytesAttachment("guide.pdf", "application/pdf", pdf),
		{Filename: "notes.txt", ContentType: "text/plain", Size: -1, Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader([]byte("size unknown"))), nil
		}},
	}
	res, err := h.ch.Send(context.Background(), msg)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res.ExternalID != "1700000100.000001" {
		t.Errorf("ExternalID %q", res.ExternalID)
	}
	gets := h.slack.CallsTo("files.getUploadURLExternal")
	completes := h.slack.CallsTo("files.completeUploadExternal")
	if len(gets) != 2 || len(completes) != 2 {
		t.Fatalf("getUploadURLExternal %d, completeUploadExternal %d; want 2 each", len(gets), len(completes))
	}
	if gets[0].Form["filename"] != "guide.pdf" || gets[0].Form["length"] != "40000" || gets[1].Form["length"] != "12" {
		t.Errorf("upload URL requests %+v", gets)
	}
	for _, c := range completes {
		if c.Form["channel_id"] != fakeslack.IM {
			t.Errorf("file shared into %q, want the DM", c.Form["channel_id"])
		}
	}
	if !bytes.Equal(h.slack.Upload("F0UP1"), pdf) || string(h.slack.Upload("F0UP2")) != "size unknown" {
		t.Errorf("uploaded contents differ")
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		fail       fakeslack.Failure
		code       string
		retryable  bool
		retryAfter time.Duration
		status     string
	}{
		{"rate limited", "chat.postMessage", fakeslack.Failure{Status: http.StatusTooManyRequests, RetryAfter: 30}, "rate_limited", true, 30 * time.Second, ""},
		{"server error", "chat.postMessage", fakeslack.Failure{Status: http.StatusServiceUnavailable}, "http_503", true, 0, ""},
		{"channel_not_found", "chat.postMessage", fakeslack.Failure{Code: "channel_not_found"}, "channel_not_found", false, 0, ""},
		{"not_in_channel", "chat.postMessage", fakeslack.Failure{Code: "not_in_channel"}, "not_in_channel", false, 0, ""},
		{"account_inactive", "chat.postMessage", fakeslack.Failure{Code: "account_inactive"}, "account_inactive", false, 0, sdk.StateAuthFailed},
		{"invalid_auth", "chat.postMessage", fakeslack.Failure{Code: "invalid_auth"}, "invalid_auth", false, 0, sdk.StateAuthFailed},
		{"Slack internal_error", "chat.postMessage", fakeslack.Failure{Code: "internal_error"}, "internal_error", true, 0, ""},
		{"upload rate limited", "files.getUploadURLExternal", fakeslack.Failure{Status: http.StatusTooManyRequests, RetryAfter: 5}, "rate_limited", true, 5 * time.Second, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, ModeEvents, nil)
			h.slack.Fail(tt.method, tt.fail)
			msg := reply("hi")
			msg.Attachments = []sdk.Attachment{sdk.BytesAttachment("a.txt", "text/plain", []byte("x"))}
			_, err := h.ch.Send(context.Background(), msg)
			var se *sdk.SendError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *sdk.SendError", err)
			}
			if se.Code != tt.code || se.Retryable != tt.retryable || se.RetryAfter != tt.retryAfter {
				t.Errorf("got code=%q retryable=%v retry_after=%v, want %q %v %v", se.Code, se.Retryable, se.RetryAfter, tt.code, tt.retryable, tt.retryAfter)
			}
			if tt.status != "" && h.host.lastStatus().State != tt.status {
				t.Errorf("status %q, want %q", h.host.lastStatus().State, tt.status)
			}
			if bytes.Contains([]byte(se.Error()), []byte(fakeslack.BotToken)) {
				t.Errorf("error message contains the token")
			}
		})
	}
}

func TestSendRetryDoesNotRepostText(t *testing.T) {
	h := newHarness(t, ModeEvents, nil)
	msg := reply("with a file")
	msg.Attachments = []sdk.Attachment{sdk.BytesAttachment("a.txt", "text/plain", []byte("attached"))}
	h.slack.Fail("files.completeUploadExternal", fakeslack.Failure{Status: http.StatusInternalServerError})
	_, err := h.ch.Send(context.Background(), msg)
	var se *sdk.SendError
	if !errors.As(err, &se) || !se.Retryable {
		t.Fatalf("first attempt: %v, want a retryable error", err)
	}
	res, err := h.ch.Send(context.Background(), msg)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := len(h.slack.CallsTo("chat.postMessage")); n != 1 {
		t.Errorf("text posted %d times across attempts, want 1", n)
	}
	if res.ExternalID != "1700000100.000001" {
		t.Errorf("retry ExternalID %q, want the first post's ts", res.ExternalID)
	}
	// A third call (the core lost the answer) returns the same id, posting nothing.
	again, err := h.ch.Send(context.Background(), msg)
	if err != nil || again.ExternalID != res.ExternalID {
		t.Fatalf("replay: %v %v", again, err)
	}
	if n := len(h.slack.CallsTo("chat.postMessage")) + len(h.slack.CallsTo("files.completeUploadExternal")); n != 3 {
		t.Errorf("calls after replay %d, want 3 (1 post + 2 completes)", n)
	}
}

func TestSendFilesOnly(t *testing.T) {
	h := newHarness(t, ModeEvents, nil)
	msg := reply("")
	msg.Attachments = []sdk.Attachment{sdk.BytesAttachment("a.png", "image/png", []byte("png"))}
	res, err := h.ch.Send(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExternalID != "F0UP1" || len(h.slack.CallsTo("chat.postMessage")) != 0 {
		t.Errorf("ExternalID %q, posts %d; want the file id and no text post", res.ExternalID, len(h.slack.CallsTo("chat.postMessage")))
	}
}
