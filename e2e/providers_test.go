package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Minimal loopback fakes of the Slack Web API and the LINE Messaging API:
// enough for the plugins to start, look up profiles and try to send. Sends
// fail (Slack: invalid_auth, LINE: 500), so that error paths run too.

func newFakeSlackAPI(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch strings.TrimPrefix(r.URL.Path, "/api/") {
		case "auth.test":
			fmt.Fprint(w, `{"ok":true,"url":"https://sec.slack.test/","team":"Sec","user":"bot","team_id":"T0SEC","user_id":"U0BOT","bot_id":"B0BOT"}`)
		case "users.info":
			fmt.Fprint(w, `{"ok":true,"user":{"id":"U0ALICE","team_id":"T0SEC","name":"alice","real_name":"Alice","profile":{"real_name":"Alice","display_name":"alice","email":"alice@sec.test"}}}`)
		case "conversations.open":
			fmt.Fprint(w, `{"ok":true,"channel":{"id":"D0ALICE"}}`)
		case "chat.postMessage":
			fmt.Fprint(w, `{"ok":false,"error":"channel_not_found"}`)
		default:
			fmt.Fprint(w, `{"ok":false,"error":"unknown_method"}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newFakeLineAPI(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v2/bot/info":
			fmt.Fprint(w, `{"userId":"U0bot0000000000000000000000000000","basicId":"@sec","displayName":"Sec","chatMode":"chat","markAsReadMode":"manual"}`)
		case strings.HasPrefix(r.URL.Path, "/v2/bot/profile/"):
			fmt.Fprint(w, `{"displayName":"Taro","userId":"`+strings.TrimPrefix(r.URL.Path, "/v2/bot/profile/")+`","language":"ja"}`)
		default:
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"message":"An error occurred in the server"}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// slackDM is an Events API event_callback with a message.im from U0ALICE.
func slackDM(eventID, ts, text string) []byte {
	b, _ := json.Marshal(map[string]any{
		"token": "XXYYZZ", "team_id": "T0SEC", "context_team_id": "T0SEC", "api_app_id": "A0APP",
		"type": "event_callback", "event_id": eventID, "event_time": time.Now().Unix(),
		"authorizations": []any{map[string]any{"team_id": "T0SEC", "user_id": "U0BOT", "is_bot": true}},
		"event": map[string]any{
			"type": "message", "channel_type": "im", "channel": "D0ALICE", "user": "U0ALICE",
			"team": "T0SEC", "text": text, "ts": ts, "event_ts": ts,
			"client_msg_id": "5d4c8c5e-0000-4000-8000-" + fmt.Sprintf("%012d", time.Now().UnixNano()%1e12),
		},
	})
	return b
}

// slackHeaders signs body as Slack does, at time at.
func slackHeaders(secret string, body []byte, at time.Time) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":"))
	m.Write(body)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
	return h
}

// lineText is a LINE webhook with one text message event from a user.
func lineText(eventID, messageID, text string) []byte {
	b, _ := json.Marshal(map[string]any{
		"destination": "U0bot0000000000000000000000000000",
		"events": []any{map[string]any{
			"type": "message", "mode": "active", "timestamp": time.Now().UnixMilli(),
			"source":          map[string]any{"type": "user", "userId": "U4af4980629000000000000000000000a"},
			"webhookEventId":  eventID,
			"deliveryContext": map[string]any{"isRedelivery": false},
			"replyToken":      "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA",
			"message":         map[string]any{"id": messageID, "type": "text", "quoteToken": "q3Plxr4AgKd", "text": text},
		}},
	})
	return b
}

// lineSignature is X-Line-Signature: base64 HMAC-SHA256 of the body.
func lineSignature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
