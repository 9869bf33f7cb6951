package slackchan

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/plugins/slack/internal/fakeslack"
	"github.com/patchbayhq/patchbay/sdk"
)

func hook(t *testing.T, ch *Channel, req *sdk.WebhookRequest) *sdk.WebhookResponse {
	t.Helper()
	resp, err := ch.HandleWebhook(context.Background(), req)
	if err != nil {
		t.Fatalf("HandleWebhook returned an error (must answer with a status): %v", err)
	}
	return resp
}

func TestWebhookDirectMessageDelivered(t *testing.T) {
	h := newHarness(t, ModeEvents, nil)
	h.start(t)
	body := fakeslack.Callback(fakeslack.DMEvent("1700000000.000100", nil))
	resp := hook(t, h.ch, signedRequest(body, nil))
	if resp.Status != http.StatusOK {
		t.Fatalf("status %d %s, want 200", resp.Status, resp.Body)
	}
	got := h.host.delivered()
	if len(got) != 1 {
		t.Fatalf("delivered %d messages, want 1", len(got))
	}
	m := got[0]
	checks := []struct{ name, got, want string }{
		{"ExternalID", m.ExternalID, fakeslack.Team + ":" + fakeslack.IM + ":1700000000.000100"},
		{"ConversationKey", m.ConversationKey, fakeslack.Team + ":" + fakeslack.IM},
		{"Author.IdentityType", m.Author.IdentityType, "slack"},
		{"Author.ExternalID", m.Author.ExternalID, fakeslack.Team + ":U0ALICE"},
		{"Author.Name", m.Author.Name, "Alice Liddell"},
		{"Author.Email", m.Author.Email, "alice@example.test"},
		{"Text", m.Text, "My VPN & email are down <again>"},
		{"SentAt", m.SentAt.Format(time.RFC3339Nano), "2023-11-14T22:13:20.0001Z"},
		{"RawContentType", m.RawContentType, "application/json"},
		{"Raw", string(m.Raw), string(body)},
		{"Metadata.slack_event_id", m.Metadata["slack_event_id"], mustEventID(t, body)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

func mustEventID(t *testing.T, body []byte) string {
	t.Helper()
	var env struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	return env.EventID
}

func TestWebhookProfileCachedAndOptional(t *testing.T) {
	h := newHarness(t, ModeEvents, nil)
	h.start(t)
	for _, ts := range []string{"1700000000.000101", "1700000000.000102"} {
		if r := hook(t, h.ch, signedRequest(fakeslack.Callback(fakeslack.DMEvent(ts, nil)), nil)); r.Status != 200 {
			t.Fatalf("status %d", r.Status)
		}
	}
	if n := len(h.slack.CallsTo("users.info")); n != 1 {
		t.Errorf("users.info called %d times for one user, want 1 (cached)", n)
	}
	// A Slack Connect user from another team, without a real name; and
	// users.info failing for a third user: the message still goes through.
	bob := fakeslack.DMEvent("1700000000.000103", map[string]any{"user": "U0BOB", "team": "T0OTHER", "user_team": "T0OTHER"})
	ghost := fakeslack.DMEvent("1700000000.000104", map[string]any{"user": "U0GHOST"})
	for _, ev := range []map[string]any{bob, ghost} {
		if r := hook(t, h.ch, signedRequest(fakeslack.Callback(ev), nil)); r.Status != 200 {
			t.Fatalf("status %d", r.Status)
		}
	}
	got := h.host.delivered()
	if len(got) != 4 {
		t.Fatalf("delivered %d, want 4", len(got))
	}
	if a := got[2].Author; a.ExternalID != "T0OTHER:U0BOB" || a.Name != "Bob" || a.Email != "" {
		t.Errorf("Slack Connect author = %+v, want T0OTHER:U0BOB named Bob without email", a)
	}
	if a := got[3].Author; a.ExternalID != fakeslack.Team+":U0GHOST" || a.Name != "" {
		t.Errorf("author without profile = %+v", a)
	}
}

func TestWebhookRetriesDeliveredWithSameID(t *testing.T) {
	h := newHarness(t, ModeEvents, nil)
	h.start(t)
	body := fakeslack.Callback(fakeslack.DMEvent("1700000000.000200", nil))
	first := hook(t, h.ch, signedRequest(body, nil))
	// Slack's retry: same body, new signature time, retry headers.
	retry := hook(t, h.ch, signedRequest(body, map[string]string{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}))
	if first.Status != 200 || retry.Status != 200 {
		t.Fatalf("statuses %d, %d; want 200, 200", first.Status, retry.Status)
	}
	if calls := h.host.deliverCalls(); calls != 2 {
		t.Errorf("Deliver called %d times, want 2 (the retry is delivered; the core dedupes)", calls)
	}
	if n := len(h.host.delivered()); n != 1 {
		t.Errorf("%d unique messages, want 1", n)
	}
}

func TestWebhookIgnoredEvents(t *testing.T) {
	ts := "1700000000.000300"
	tests := []struct {
		name string
		ev   map[string]any
	}{
		{"group DM (mpim)", fakeslack.DMEvent(ts, map[string]any{"channel": "G0MPIM", "channel_type": "mpim"})},
		{"public channel", fakeslack.DMEvent(ts, map[string]any{"channel": "C0GENERAL", "channel_type": "channel"})},
		{"private channel", fakeslack.DMEvent(ts, map[string]any{"channel": "G0PRIVATE", "channel_type": "group"})},
		{"app_mention in a channel", map[string]any{"type": "app_mention", "user": "U0ALICE", "text": "<@U0HANDLE> help please",
			"ts": ts, "channel": "C0GENERAL", "event_ts": ts, "team": fakeslack.Team}},
		{"thread reply in the DM", fakeslack.DMEvent("1700000000.000301", map[string]any{"thread_ts": ts, "parent_user_id": "U0ALICE"})},
		{"our own reply (bot_id)", fakeslack.DMEvent(ts, map[string]any{"user": fakeslack.BotUser, "bot_id": fakeslack.BotID, "app_id": "A0APP",
			"bot_profile": map[string]any{"id": fakeslack.BotID, "name": "helpdesk"}})},
		{"signed in as the handle", fakeslack.DMEvent(ts, map[string]any{"user": fakeslack.BotUser})},
		{"another bot", fakeslack.DMEvent(ts, map[string]any{"subtype": "bot_message", "bot_id": "B0OTHER", "user": nil, "username": "jira"})},
		{"bot_id without subtype", fakeslack.DMEvent(ts, map[string]any{"bot_id": "B0OTHER", "user": "U0OTHERBOT"})},
		{"edit", map[string]any{"type": "message", "subtype": "message_changed", "hidden": true, "channel": fakeslack.IM, "channel_type": "im",
			"ts": "1700000000.000399", "event_ts": "1700000000.000399",
			"message":          map[string]any{"type": "message", "user": "U0ALICE", "text": "edited", "ts": ts, "edited": map[string]any{"user": "U0ALICE", "ts": "1700000000.000399"}},
			"previous_message": map[string]any{"type": "message", "user": "U0ALICE", "text": "original", "ts": ts}}},
		{"deletion", map[string]any{"type": "message", "subtype": "message_deleted", "hidden": true, "channel": fakeslack.IM, "channel_type": "im",
			"ts": "1700000000.000398", "deleted_ts": ts, "event_ts": "1700000000.000398",
			"previous_message": map[string]any{"type": "message", "user": "U0ALICE", "text": "original", "ts": ts}}},
		{"join", fakeslack.DMEvent(ts, map[string]any{"subtype": "channel_join", "text": "<@U0ALICE> has joined the channel"})},
		{"thread broadcast", fakeslack.DMEvent("1700000000.000302", map[string]any{"subtype": "thread_broadcast", "thread_ts": ts})},
		{"reaction (event type not handled)", map[string]any{"type": "reaction_added", "user": "U0ALICE", "reaction": "thumbsup",
			"item": map[string]any{"type": "message", "channel": fakeslack.IM, "ts": ts}, "event_ts": ts}},
		{"event type unknown to everyone", map[string]any{"type": "hologram_projected", "user": "U0ALICE", "event_ts": ts}},
		{"message without text or files", fakeslack.DMEvent(ts, map[string]any{"text": ""})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, ModeEvents, nil)
			h.start(t)
			resp := hook(t, h.ch, signedRequest(fakeslack.Callback(tt.ev), nil))
			if resp.Status != http.StatusOK {
				t.Errorf("status %d %s, want 200", resp.Status, resp.Body)
			}
			if n := h.host.deliverCalls(); n != 0 {
				t.Errorf("Deliver called %d times, want 0", n)
			}
		})
	}
}

func TestWebhookThreadParentDelivered(t *testing.T) {
	// A message that starts a thread has thread_ts == ts: it is a DM message.
	h := newHarness(t, ModeEvents, nil)
	h.start(t)
	ts := "1700000000.000310"
	hook(t, h.ch, signedRequest(fakeslack.Callback(fakeslack.DMEvent(ts, map[string]any{"thread_ts": ts, "reply_count": 1})), nil))
	if n := len(h.host.delivered()); n != 1 {
		t.Fatalf("delivered %d, want 1", n)
	}
}

func TestWebhookOuterEvents(t *testing.T) {
	h := newHarness(t, ModeEvents, nil)
	h.start(t)
	challenge := []byte(`{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)
	resp := hook(t, h.ch, signedRequest(challenge, nil))
	var got struct{ Challenge string }
	if resp.Status != 200 || json.Unmarshal(resp.Body, &got) != nil || got.Challenge != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Errorf("url_verification answered %d %s", resp.Status, resp.Body)
	}
	limited := []byte(`{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","type":"app_rate_limited","team_id":"T0TEAM","minute_rate_limited":1518467820,"api_app_id":"A0APP"}`)
	if resp := hook(t, h.ch, signedRequest(limited, nil)); resp.Status != 200 {
		t.Errorf("app_rate_limited answered %d", resp.Status)
	}
	if n := h.host.deliverCalls(); n != 0 {
		t.Errorf("Deliver called %d times", n)
	}
}

func TestWebhookRejectsBadRequests(t *testing.T) {
	body := fakeslack.Callback(fakeslack.DMEvent("1700000000.000400", nil))
	now := time.Now()
	tests := []struct {
		name   string
		req    func() *sdk.WebhookRequest
		status int
	}{
		{"wrong secret", func() *sdk.WebhookRequest {
			return &sdk.WebhookRequest{Method: "POST", Header: fakeslack.SignedHeaders("not-the-secret", body, now), Body: body}
		}, 401},
		{"timestamp 6 minutes old", func() *sdk.WebhookRequest {
			return &sdk.WebhookRequest{Method: "POST", Header: fakeslack.SignedHeaders(fakeslack.Secret, body, now.Add(-6*time.Minute)), Body: body}
		}, 401},
		{"timestamp 6 minutes ahead", func() *sdk.WebhookRequest {
			return &sdk.WebhookRequest{Method: "POST", Header: fakeslack.SignedHeaders(fakeslack.Secret, body, now.Add(6*time.Minute)), Body: body}
		}, 401},
		{"no signature headers", func() *sdk.WebhookRequest {
			return &sdk.WebhookRequest{Method: "POST", Header: http.Header{}, Body: body}
		}, 401},
		{"body changed after signing", func() *sdk.WebhookRequest {
			r := signedRequest(body, nil)
			r.Body = []byte(strings.Replace(string(body), "U0ALICE", "U0MALLORY", 1))
			return r
		}, 401},
		{"signature without v0 prefix", func() *sdk.WebhookRequest {
			r := signedRequest(body, nil)
			r.Header.Set("X-Slack-Signature", strings.TrimPrefix(r.Header.Get("X-Slack-Signature"), "v0="))
			return r
		}, 401},
		{"unsigned garbage is 401, not 400 (verified before parsing)", func() *sdk.WebhookRequest {
			return &sdk.WebhookRequest{Method: "POST", Header: http.Header{}, Body: []byte("{not json")}
		}, 401},
		{"signed garbage", func() *sdk.WebhookRequest { return signedRequest([]byte("{not json"), nil) }, 400},
		{"signed event_callback without event", func() *sdk.WebhookRequest {
			return signedRequest([]byte(`{"type":"event_callback","team_id":"T0TEAM"}`), nil)
		}, 400},
		{"GET", func() *sdk.WebhookRequest {
			r := signedRequest(body, nil)
			r.Method = "GET"
			return r
		}, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, ModeEvents, nil)
			h.start(t)
			resp := hook(t, h.ch, tt.req())
			if resp.Status != tt.status {
				t.Errorf("status %d %s, want %d", resp.Status, resp.Body, tt.status)
			}
			if n := h.host.deliverCalls(); n != 0 {
				t.Errorf("Deliver called %d times, want 0", n)
			}
		})
	}
}

func TestWebhookDeliverFailureIs5xx(t *testing.T) {
	h := newHarness(t, ModeEvents, nil)
	h.start(t)
	body := fakeslack.Callback(fakeslack.DMEvent("1700000000.000500", nil))
	h.host.failNext = 1
	resp := hook(t, h.ch, signedRequest(body, nil))
	if resp.Status < 500 {
		t.Fatalf("status %d after a failed Deliver, want 5xx so Slack retries", resp.Status)
	}
	// Slack's retry then succeeds.
	resp = hook(t, h.ch, signedRequest(body, map[string]string{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_error"}))
	if resp.Status != 200 || len(h.host.delivered()) != 1 {
		t.Fatalf("retry: status %d, %d delivered; want 200 and 1", resp.Status, len(h.host.delivered()))
	}
}

func TestWebhookDeliverIsBounded(t *testing.T) {
	h := newHarness(t, ModeEvents, nil, WithDeliverTimeout(200*time.Millisecond))
	h.start(t)
	h.host.stall = true
	resp := hook(t, h.ch, signedRequest(fakeslack.Callback(fakeslack.DMEvent("1700000000.000600", nil)), nil))
	if resp.Status < 500 {
		t.Fatalf("status %d for a Deliver that never returned, want 5xx", resp.Status)
	}
	h.host.mu.Lock()
	defer h.host.mu.Unlock()
	if len(h.host.deadlines) != 1 || h.host.deadlines[0] > 200*time.Millisecond {
		t.Errorf("Deliver context deadlines %v, want one within the deliver timeout", h.host.deadlines)
	}
}

func TestDefaultDeliverDeadlineUnderSlacksThreeSeconds(t *testing.T) {
	h := newHarness(t, ModeEvents, nil, WithDeliverTimeout(DefaultDeliverTimeout), WithProfileTimeout(DefaultProfileTimeout))
	h.start(t)
	hook(t, h.ch, signedRequest(fakeslack.Callback(fakeslack.DMEvent("1700000000.000601", nil)), nil))
	h.host.mu.Lock()
	defer h.host.mu.Unlock()
	if len(h.host.deadlines) != 1 || h.host.deadlines[0] > DefaultDeliverTimeout || DefaultDeliverTimeout >= 3*time.Second {
		t.Errorf("Deliver deadlines %v with default %v; want bounded under 3s", h.host.deadlines, DefaultDeliverTimeout)
	}
}

func TestWebhookSocketModeInstanceRefusesHTTP(t *testing.T) {
	h := newHarness(t, ModeSocket, nil)
	resp := hook(t, h.ch, signedRequest(fakeslack.Callback(fakeslack.DMEvent("1700000000.000700", nil)), nil))
	if resp.Status != http.StatusNotFound || h.host.deliverCalls() != 0 {
		t.Errorf("socket-mode instance answered %d and delivered %d", resp.Status, h.host.deliverCalls())
	}
}
