package fakeslack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Payloads follow Slack's documented Events API formats
// (docs.slack.dev/reference/events/message.im, the message subtypes,
// app_mention, url_verification, Socket Mode envelopes).

// DMEvent is a message.im event from Alice (U0ALICE) in IM, as Slack sends
// it, with the given fields replaced (a nil value deletes the field).
func DMEvent(ts string, over map[string]any) map[string]any {
	ev := map[string]any{
		"client_msg_id": "5d4c8c5e-0000-4000-8000-" + last12(strings.ReplaceAll(ts, ".", "")),
		"type":          "message",
		"text":          "My VPN &amp; email are down &lt;again&gt;",
		"user":          "U0ALICE",
		"ts":            ts,
		"team":          Team,
		"blocks": []any{map[string]any{"type": "rich_text", "block_id": "b1", "elements": []any{
			map[string]any{"type": "rich_text_section", "elements": []any{map[string]any{"type": "text", "text": "My VPN & email are down <again>"}}},
		}}},
		"channel":      IM,
		"event_ts":     ts,
		"channel_type": "im",
	}
	for k, v := range over {
		if v == nil {
			delete(ev, k)
			continue
		}
		ev[k] = v
	}
	return ev
}

// Callback wraps an inner event in the event_callback envelope.
func Callback(ev map[string]any) []byte {
	inner, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(inner)
	b, err := json.Marshal(map[string]any{
		"token":                 "XXYYZZ",
		"team_id":               Team,
		"context_team_id":       Team,
		"api_app_id":            "A0APP",
		"event":                 ev,
		"type":                  "event_callback",
		"event_id":              "Ev" + strings.ToUpper(hex.EncodeToString(sum[:5])),
		"event_time":            1700000000,
		"authorizations":        []any{map[string]any{"team_id": Team, "user_id": BotUser, "is_bot": true}},
		"is_ext_shared_channel": false,
		"event_context":         "4-eyJldCI6Im1lc3NhZ2UifQ",
	})
	if err != nil {
		panic(err)
	}
	return b
}

// SignedHeaders signs body as Slack does (v0, HMAC-SHA256 over
// "v0:<timestamp>:<body>") at the given time.
func SignedHeaders(secret string, body []byte, at time.Time) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":"))
	m.Write(body)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
	return h
}

// SocketEnvelope wraps an Events API payload as Socket Mode sends it.
func SocketEnvelope(id string, payload []byte, retry int) map[string]any {
	reason := ""
	if retry > 0 {
		reason = "timeout"
	}
	return map[string]any{
		"envelope_id":              id,
		"payload":                  json.RawMessage(payload),
		"type":                     "events_api",
		"accepts_response_payload": false,
		"retry_attempt":            retry,
		"retry_reason":             reason,
	}
}

// File is a file object as Slack puts it in a file_share message.
func File(id, name, mime string, size int, downloadURL string) map[string]any {
	ext := ""
	if i := strings.LastIndex(name, "."); i >= 0 {
		ext = name[i+1:]
	}
	return map[string]any{
		"id": id, "created": 1700000000, "timestamp": 1700000000, "name": name, "title": name,
		"mimetype": mime, "filetype": ext, "pretty_type": "File", "user": "U0ALICE", "user_team": Team,
		"editable": false, "size": size, "mode": "hosted", "is_external": false, "external_type": "",
		"is_public": false, "public_url_shared": false, "display_as_bot": false, "username": "",
		"url_private": downloadURL, "url_private_download": downloadURL,
		"permalink": "https://acme.slack.test/files/U0ALICE/" + id + "/" + name,
	}
}

func last12(s string) string {
	s = "000000000000" + s
	return s[len(s)-12:]
}
