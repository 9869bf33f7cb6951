package slackchan

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/plugins/slack/internal/fakeslack"
	"github.com/patchbayhq/patchbay/sdk"
)

// FuzzHandleWebhook feeds arbitrary bodies, signed and unsigned, through
// verification and event parsing: the handler never panics, never returns
// an error, never answers outside the documented statuses, and only a body
// with a valid signature can reach Deliver.
func FuzzHandleWebhook(f *testing.F) {
	f.Add(fakeslack.Callback(fakeslack.DMEvent("1700000000.000100", nil)), true)
	f.Add(fakeslack.Callback(fakeslack.DMEvent("1700000000.000101", map[string]any{"subtype": "file_share", "files": []any{map[string]any{"id": "F1", "mode": "tombstone"}}})), true)
	f.Add(fakeslack.Callback(map[string]any{"type": "app_mention", "user": "U1", "text": "hi", "ts": "1.2", "channel": "C1"}), true)
	f.Add([]byte(`{"type":"url_verification","challenge":"abc"}`), true)
	f.Add([]byte(`{"type":"event_callback","event":null}`), true)
	f.Add([]byte(`{"type":"event_callback","event":{"type":"message","files":[1]}}`), true)
	f.Add([]byte(`{"type":"event_callback","event":{"type":"message","channel_type":"im","user":"U1","ts":"x","channel":"D1","text":"t"}}`), true)
	f.Add([]byte(`[]`), false)
	f.Add([]byte{}, true)

	host := newFakeHost()
	ch := New()
	cfg := []byte(`{"signing_secret":"` + fakeslack.Secret + `","bot_token":"` + fakeslack.BotToken + `","api_url":"http://127.0.0.1:1/api/"}`)
	if err := ch.Configure(context.Background(), sdk.ConfigureRequest{Instance: "fuzz", Config: cfg, Host: host}); err != nil {
		f.Fatal(err)
	}
	// Pretend auth.test ran, so the fuzzer does not dial the closed port
	// for it; users.info and downloads fail fast on that port.
	ch.self = selfInfo{Known: true, UserID: fakeslack.BotUser, BotID: fakeslack.BotID, TeamID: fakeslack.Team}
	f.Fuzz(func(t *testing.T, body []byte, signed bool) {
		req := &sdk.WebhookRequest{Method: http.MethodPost, Header: http.Header{}, Body: body}
		if signed {
			req.Header = fakeslack.SignedHeaders(fakeslack.Secret, body, time.Now())
		}
		before := host.deliverCalls()
		resp, err := ch.HandleWebhook(context.Background(), req)
		if err != nil {
			t.Fatalf("error: %v", err)
		}
		switch resp.Status {
		case http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusServiceUnavailable:
		default:
			t.Fatalf("status %d", resp.Status)
		}
		if !signed && (resp.Status != http.StatusUnauthorized || host.deliverCalls() != before) {
			t.Fatalf("unsigned body answered %d", resp.Status)
		}
	})
}

// FuzzParseEnvelope checks the parser alone: no panics, and every
// classified message satisfies the channel's rules.
func FuzzParseEnvelope(f *testing.F) {
	f.Add(fakeslack.Callback(fakeslack.DMEvent("1700000000.000100", nil)))
	f.Add(fakeslack.Callback(fakeslack.DMEvent("1700000000.000101", map[string]any{"thread_ts": "1700000000.000001"})))
	f.Add([]byte(`{"type":"event_callback","event":{"type":"message","channel_type":"mpim"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		pe, err := parseEnvelope(body)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error not errMalformed: %v", err)
			}
			return
		}
		if pe.Kind != kindMessage {
			return
		}
		m := pe.Msg
		if m.ChannelType != "im" || m.User == "" || m.BotID != "" || m.Channel == "" || m.TimeStamp == "" ||
			(m.ThreadTimeStamp != "" && m.ThreadTimeStamp != m.TimeStamp) || !deliveredSubtype(m.SubType) {
			t.Fatalf("classified as a deliverable DM: %+v", m)
		}
	})
}
