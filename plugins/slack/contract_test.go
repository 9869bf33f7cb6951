package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/plugins/slack/internal/fakeslack"
	"github.com/patchbayhq/patchbay/plugins/slack/internal/slackchan"
	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
)

func config(t testing.TB, fs *fakeslack.Server, mode string) json.RawMessage {
	t.Helper()
	c := map[string]any{"signing_secret": fakeslack.Secret, "bot_token": fakeslack.BotToken, "api_url": fs.APIURL(), "mode": mode}
	if mode == slackchan.ModeSocket {
		c["app_token"] = fakeslack.AppToken
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func signed(body []byte) *sdk.WebhookRequest {
	return &sdk.WebhookRequest{Method: http.MethodPost, Path: "/", Header: fakeslack.SignedHeaders(fakeslack.Secret, body, time.Now()), Body: body}
}

// common fills the parts of the target both modes share: config errors,
// replies and send failures.
func common(t *testing.T, fs *fakeslack.Server, mode string) channeltest.Target {
	return channeltest.Target{
		New: func() sdk.Channel {
			// Generous lookup bounds: a loaded test machine must not cut users.info short.
			return slackchan.New(slackchan.WithDeliverTimeout(30*time.Second), slackchan.WithProfileTimeout(20*time.Second))
		},
		Config: config(t, fs, mode),
		Start:  true,
		InvalidConfigs: []channeltest.InvalidConfig{
			{Name: "socket_without_app_token", Config: json.RawMessage(`{"bot_token":"xoxb-1","mode":"socket"}`), Field: "app_token"},
			{Name: "user_token", Config: json.RawMessage(`{"signing_secret":"s","bot_token":"xoxp-1"}`), Field: "bot_token"},
			{Name: "bad_mode", Config: json.RawMessage(`{"signing_secret":"s","bot_token":"xoxb-1","mode":"rtm"}`), Field: "mode"},
		},
		Reply: func(t testing.TB) *sdk.OutboundMessage {
			return &sdk.OutboundMessage{
				IdempotencyKey: "contract-" + t.Name(), TicketID: 1, CommentID: 2,
				ConversationKey: fakeslack.Team + ":" + fakeslack.IM,
				Recipient:       sdk.Party{ExternalID: fakeslack.Team + ":U0ALICE", IdentityType: "slack"},
				Text:            "We reset your VPN profile.",
			}
		},
		CheckSent: func(t testing.TB, msg *sdk.OutboundMessage, res *sdk.SendResult) {
			posts := fs.CallsTo("chat.postMessage")
			i := slices.IndexFunc(posts, func(c fakeslack.Call) bool { return c.Form["text"] == msg.Text })
			if i < 0 || posts[i].Form["channel"] != fakeslack.IM {
				t.Errorf("chat.postMessage with the reply into %s not seen: %+v", fakeslack.IM, posts)
			}
			if !strings.HasPrefix(res.ExternalID, "1700000100.") {
				t.Errorf("ExternalID %q, want the message ts", res.ExternalID)
			}
		},
		CheckSentAttachment: func(t testing.TB, res *sdk.SendResult, f channeltest.File) {
			gets := fs.CallsTo("files.getUploadURLExternal")
			for i := len(gets) - 1; i >= 0; i-- {
				if gets[i].Form["filename"] == f.Filename {
					// Upload ids are numbered in order of getUploadURLExternal calls.
					id := "F0UP" + strconv.Itoa(i+1)
					if !bytes.Equal(fs.Upload(id), f.Data) {
						t.Errorf("uploaded bytes of %s differ", f.Filename)
					}
					return
				}
			}
			t.Errorf("no upload of %s", f.Filename)
		},
		SendFailures: []channeltest.SendFailure{
			{Name: "rate_limited", Retryable: true, Code: "rate_limited", Arrange: func(testing.TB) {
				fs.Fail("chat.postMessage", fakeslack.Failure{Status: 429, RetryAfter: 3})
			}},
			{Name: "channel_not_found", Retryable: false, Code: "channel_not_found", Arrange: func(testing.TB) {
				fs.Fail("chat.postMessage", fakeslack.Failure{Code: "channel_not_found"})
			}},
			{Name: "not_in_channel", Retryable: false, Code: "not_in_channel", Arrange: func(testing.TB) {
				fs.Fail("chat.postMessage", fakeslack.Failure{Code: "not_in_channel"})
			}},
			{Name: "account_inactive", Retryable: false, Code: "account_inactive", Arrange: func(testing.TB) {
				fs.Fail("chat.postMessage", fakeslack.Failure{Code: "account_inactive"})
			}},
			{Name: "invalid_auth", Retryable: false, Code: "invalid_auth", Arrange: func(testing.TB) {
				fs.Fail("chat.postMessage", fakeslack.Failure{Code: "invalid_auth"})
			}},
			{Name: "server_error", Retryable: true, Arrange: func(testing.TB) {
				fs.Fail("chat.postMessage", fakeslack.Failure{Status: 500})
			}},
		},
	}
}

func checkDM(t testing.TB, d channeltest.Delivery) {
	m := d.Message
	if m.ConversationKey != fakeslack.Team+":"+fakeslack.IM || m.Author.ExternalID != fakeslack.Team+":U0ALICE" ||
		m.Author.IdentityType != "slack" || m.Author.Email != "alice@example.test" || m.Author.Name != "Alice Liddell" {
		t.Errorf("delivered %+v", m)
	}
}

func TestContractEventsAPI(t *testing.T) {
	fs := fakeslack.New(t)
	dm := fakeslack.Callback(fakeslack.DMEvent("1700000000.000100", nil))
	pdf := bytes.Repeat([]byte("%PDF-1.4 slack\n"), 9000) // > one 64 KiB chunk
	withFile := fakeslack.Callback(fakeslack.DMEvent("1700000000.000101", map[string]any{
		"subtype": "file_share", "text": "the report",
		"files": []any{fakeslack.File("F0PDF", "report.pdf", "application/pdf", len(pdf), fs.AddFile("F0PDF/report.pdf", pdf))},
	}))
	tg := common(t, fs, slackchan.ModeEvents)
	tg.Inbound = channeltest.WebhookReceiver(func(testing.TB) *sdk.WebhookRequest { return signed(dm) })
	tg.CheckDelivery = checkDM
	tg.InboundWithAttachments = channeltest.WebhookReceiver(func(testing.TB) *sdk.WebhookRequest { return signed(withFile) })
	tg.WantFiles = []channeltest.File{{Filename: "report.pdf", ContentType: "application/pdf", Data: pdf}}
	tg.BadSignature = func(testing.TB) *sdk.WebhookRequest {
		r := signed(dm)
		r.Header = fakeslack.SignedHeaders("wrong-secret", dm, time.Now())
		return r
	}
	channeltest.Run(t, tg)
}

// socketReceiver hands one envelope over Socket Mode and reports how Slack
// was answered: acknowledged after a stored delivery, or left without an
// ack when the core refused it (Slack then redelivers). The verdict follows
// the host's record, not a timeout; that a refused envelope is never acked
// is proven in slackchan's TestSocketModeNoAckOnDeliverFailure.
func socketReceiver(fs *fakeslack.Server, payload []byte) channeltest.Receiver {
	n := 0
	return func(t testing.TB, p *channeltest.Plugin) channeltest.Ack {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !connected(p.Host) {
			if time.Now().After(deadline) {
				t.Fatal("the plugin never reported connected")
			}
			time.Sleep(5 * time.Millisecond)
		}
		n++
		env := "env-" + strconv.Itoa(n)
		calls, stored := p.Host.DeliverCalls(), timesStored(p.Host)
		if fs.Broadcast(fakeslack.SocketEnvelope(env, payload, 0)) == 0 {
			t.Fatal("no open Socket Mode connection")
		}
		for time.Now().Before(deadline) {
			switch {
			case slices.Contains(fs.Acks(), env):
				return channeltest.Ack{OK: true, Detail: "ack"}
			case p.Host.DeliverCalls() > calls && timesStored(p.Host) == stored:
				return channeltest.Ack{Retry: true, Detail: "no ack"}
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("envelope %s: neither acknowledged nor refused by the core", env)
		return channeltest.Ack{}
	}
}

// connected reports whether the plugin's last status is connected.
func connected(h *channeltest.FakeHost) bool {
	st := h.Statuses()
	return len(st) > 0 && st[len(st)-1].State == sdk.StateConnected
}

// timesStored counts deliveries the host accepted, duplicates included.
func timesStored(h *channeltest.FakeHost) int {
	n := 0
	for _, d := range h.Deliveries() {
		n += d.Times
	}
	return n
}

func TestContractSocketMode(t *testing.T) {
	fs := fakeslack.New(t)
	dm := fakeslack.Callback(fakeslack.DMEvent("1700000000.000200", nil))
	tg := common(t, fs, slackchan.ModeSocket)
	tg.Inbound = socketReceiver(fs, dm)
	tg.CheckDelivery = checkDM
	channeltest.Run(t, tg)
}
