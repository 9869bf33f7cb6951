package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

const (
	testSecret = "0123456789abcdef0123456789abcdef"
	testToken  = "test-channel-access-token-9f8e7d6c5b4a"
	testUser   = "U4af4980629c0d2a4f7e3c5a5d8b1e2f3"
	testUser2  = "U1234567890abcdef1234567890abcdef"
)

// fakeLINE is a loopback stand-in for the Messaging API (api.line.me) and
// its data host (api-data.line.me), answering as LINE documents: bearer
// auth on every call, retry keys accepted once (409 afterwards), content
// and profiles by id.
type fakeLINE struct {
	api  *httptest.Server
	data *httptest.Server

	mu           sync.Mutex
	pushes       []pushCall
	scripted     []scriptedResponse // answers to the next pushes, in order
	accepted     map[string]string  // retry key -> request id
	blocked      map[string]bool
	profiles     map[string]string // userId -> displayName
	profileCalls int
	contents     map[string]fakeContent
	contentCalls int
	nextID       int
}

type pushCall struct {
	RetryKey string
	Auth     string
	To       string
	Texts    []string
}

type scriptedResponse struct {
	status int
	header http.Header
	body   string
}

type fakeContent struct {
	status      int // 0 means 200
	contentType string
	body        []byte
}

func newFakeLINE(t testing.TB) *fakeLINE {
	t.Helper()
	f := &fakeLINE{
		accepted: map[string]string{},
		blocked:  map[string]bool{},
		profiles: map[string]string{testUser: "Sakura Tanaka"},
		contents: map[string]fakeContent{},
	}
	api := http.NewServeMux()
	api.HandleFunc("POST /v2/bot/message/push", f.push)
	api.HandleFunc("GET /v2/bot/profile/{userId}", f.profile)
	api.HandleFunc("GET /v2/bot/info", f.botInfo)
	data := http.NewServeMux()
	data.HandleFunc("GET /v2/bot/message/{id}/content", f.content)
	f.api = httptest.NewServer(f.auth(api))
	f.data = httptest.NewServer(f.auth(data))
	t.Cleanup(func() { f.api.Close(); f.data.Close() })
	return f
}

func (f *fakeLINE) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			writeJSON(w, http.StatusUnauthorized, `{"message":"Authentication failed due to the following reason: invalid token. Confirm that the access token in the authorization header is valid."}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func (f *fakeLINE) push(w http.ResponseWriter, r *http.Request) {
	var req struct {
		To       string `json:"to"`
		Messages []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, 400, `{"message":"The request body has 1 error(s)"}`)
		return
	}
	call := pushCall{RetryKey: r.Header.Get("X-Line-Retry-Key"), Auth: r.Header.Get("Authorization"), To: req.To}
	for _, m := range req.Messages {
		if m.Type != "text" {
			writeJSON(w, 400, `{"message":"unsupported message type"}`)
			return
		}
		call.Texts = append(call.Texts, m.Text)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pushes = append(f.pushes, call)
	f.nextID++
	reqID := fmt.Sprintf("req-%04d", f.nextID)
	w.Header().Set("X-Line-Request-Id", reqID)
	if len(f.scripted) > 0 {
		s := f.scripted[0]
		f.scripted = f.scripted[1:]
		for k, v := range s.header {
			w.Header()[k] = v
		}
		writeJSON(w, s.status, s.body)
		return
	}
	if call.RetryKey != "" {
		if _, err := uuid.Parse(call.RetryKey); err != nil {
			writeJSON(w, 400, `{"message":"The value for the 'X-Line-Retry-Key' header is invalid"}`)
			return
		}
		if prev, ok := f.accepted[call.RetryKey]; ok {
			w.Header().Set("X-Line-Accepted-Request-Id", prev)
			writeJSON(w, 409, `{"message":"The retry key is already accepted","sentMessages":[{"id":"sent-`+prev+`","quoteToken":"qt"}]}`)
			return
		}
	}
	if f.blocked[req.To] {
		writeJSON(w, 400, `{"message":"Failed to send messages","details":[{"message":"The user has blocked the LINE Official Account","property":"to"}]}`)
		return
	}
	if call.RetryKey != "" {
		f.accepted[call.RetryKey] = reqID
	}
	var sent []string
	for range req.Messages {
		sent = append(sent, fmt.Sprintf(`{"id":"sent-%s","quoteToken":"qt"}`, reqID))
	}
	writeJSON(w, 200, `{"sentMessages":[`+strings.Join(sent, ",")+`]}`)
}

func (f *fakeLINE) profile(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.profileCalls++
	name, ok := f.profiles[r.PathValue("userId")]
	f.mu.Unlock()
	if !ok {
		writeJSON(w, 404, `{"message":"Not found"}`)
		return
	}
	b, _ := json.Marshal(map[string]string{"displayName": name, "userId": r.PathValue("userId"), "language": "ja"})
	writeJSON(w, 200, string(b))
}

func (f *fakeLINE) botInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, `{"userId":"Ub9952f8a6bd1d0a1a3e2b8e3b5c6d7e8","basicId":"@216ru...","displayName":"Acme Support","chatMode":"chat","markAsReadMode":"manual"}`)
}

func (f *fakeLINE) content(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.contentCalls++
	c, ok := f.contents[r.PathValue("id")]
	f.mu.Unlock()
	if !ok {
		writeJSON(w, 404, `{"message":"Not found"}`)
		return
	}
	if c.status != 0 && c.status != 200 {
		writeJSON(w, c.status, `{"message":"scripted failure"}`)
		return
	}
	w.Header().Set("Content-Type", c.contentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(c.body)))
	w.WriteHeader(200)
	w.Write(c.body)
}

func (f *fakeLINE) script(rs ...scriptedResponse) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scripted = append(f.scripted, rs...)
}

func (f *fakeLINE) setContent(id string, c fakeContent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.contents[id] = c
}

func (f *fakeLINE) pushCalls() []pushCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pushCall(nil), f.pushes...)
}

func (f *fakeLINE) counts() (profiles, contents int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.profileCalls, f.contentCalls
}

// sign returns X-Line-Signature for body, as LINE computes it: base64 of
// HMAC-SHA256 of the raw body keyed with the channel secret.
func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// payload wraps events in LINE's webhook request body.
func payload(events ...string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"destination":"Ub9952f8a6bd1d0a1a3e2b8e3b5c6d7e8","events":[`)
	b.WriteString(strings.Join(events, ","))
	b.WriteString(`]}`)
	return b.Bytes()
}

// messageEvent is a message event as LINE documents it.
func messageEvent(eventID, source string, redelivery bool, message string) string {
	return fmt.Sprintf(`{
  "type": "message",
  "message": %s,
  "webhookEventId": %q,
  "deliveryContext": {"isRedelivery": %t},
  "timestamp": 1700000000123,
  "source": %s,
  "replyToken": "38ef843bde154d9b91c21320ffd17a0f",
  "mode": "active"
}`, message, eventID, redelivery, source)
}

func userSource(id string) string { return fmt.Sprintf(`{"type":"user","userId":%q}`, id) }

const groupSource = `{"type":"group","groupId":"Ca56f94637c0a3f7bcd1a2b3c4d5e6f70","userId":"U4af4980629c0d2a4f7e3c5a5d8b1e2f3"}`
const roomSource = `{"type":"room","roomId":"Ra8dbf4673c4c812cd491258042226c99","userId":"U4af4980629c0d2a4f7e3c5a5d8b1e2f3"}`

func textMessage(id, text string) string {
	b, _ := json.Marshal(text)
	return fmt.Sprintf(`{"id":%q,"type":"text","quoteToken":"q3Plxr4AgKd...","text":%s}`, id, b)
}
