// Package fakeline is a loopback stand-in for the LINE Messaging API, for
// the LINE plugin's tests: it answers as LINE documents (bearer auth, retry
// keys, push, profile, content) and builds webhook bodies signed as LINE
// signs them.
package fakeline

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

// Credentials and users the fake knows.
const (
	// Secret is the channel secret webhooks are signed with.
	Secret = "0123456789abcdef0123456789abcdef"
	// Token is the only channel access token the fake accepts.
	Token = "test-channel-access-token-9f8e7d6c5b4a"
	// User has a profile ("Sakura Tanaka").
	User = "U4af4980629c0d2a4f7e3c5a5d8b1e2f3"
	// User2 has no profile.
	User2 = "U1234567890abcdef1234567890abcdef"
)

// Server is a loopback stand-in for the Messaging API (api.line.me) and
// its data host (api-data.line.me), answering as LINE documents: bearer
// auth on every call, retry keys accepted once (409 afterwards), content
// and profiles by id.
type Server struct {
	api  *httptest.Server
	data *httptest.Server

	mu           sync.Mutex
	pushes       []PushCall
	scripted     []Response        // answers to the next pushes, in order
	accepted     map[string]string // retry key -> request id
	blocked      map[string]bool
	profiles     map[string]string // userId -> displayName
	profileCalls int
	contents     map[string]Content
	contentCalls int
	nextID       int
}

// PushCall is one push request the fake received.
type PushCall struct {
	RetryKey string
	Auth     string
	To       string
	Texts    []string
}

// Response is a scripted answer to a push.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// Content is what the data host serves for one message id.
type Content struct {
	Status      int // 0 means 200
	ContentType string
	Body        []byte
}

// New starts the fake's two hosts; they close when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	f := &Server{
		accepted: map[string]string{},
		blocked:  map[string]bool{},
		profiles: map[string]string{User: "Sakura Tanaka"},
		contents: map[string]Content{},
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

func (f *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+Token {
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

func (f *Server) push(w http.ResponseWriter, r *http.Request) {
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
	call := PushCall{RetryKey: r.Header.Get("X-Line-Retry-Key"), Auth: r.Header.Get("Authorization"), To: req.To}
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
		for k, v := range s.Header {
			w.Header()[k] = v
		}
		writeJSON(w, s.Status, s.Body)
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

func (f *Server) profile(w http.ResponseWriter, r *http.Request) {
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

func (f *Server) botInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, `{"userId":"Ub9952f8a6bd1d0a1a3e2b8e3b5c6d7e8","basicId":"@216ru...","displayName":"Acme Support","chatMode":"chat","markAsReadMode":"manual"}`)
}

func (f *Server) content(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.contentCalls++
	c, ok := f.contents[r.PathValue("id")]
	f.mu.Unlock()
	if !ok {
		writeJSON(w, 404, `{"message":"Not found"}`)
		return
	}
	if c.Status != 0 && c.Status != 200 {
		writeJSON(w, c.Status, `{"message":"scripted failure"}`)
		return
	}
	w.Header().Set("Content-Type", c.ContentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(c.Body)))
	w.WriteHeader(200)
	w.Write(c.Body)
}

// Script queues answers for the next pushes, in order.
func (f *Server) Script(rs ...Response) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scripted = append(f.scripted, rs...)
}

// SetContent sets what the data host serves for message id.
func (f *Server) SetContent(id string, c Content) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.contents[id] = c
}

// PushCalls returns every push received so far.
func (f *Server) PushCalls() []PushCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]PushCall(nil), f.pushes...)
}

// Block makes pushes to userID fail as LINE answers for a user who blocked
// the account (or stop failing, with blocked false).
func (f *Server) Block(userID string, blocked bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if blocked {
		f.blocked[userID] = true
	} else {
		delete(f.blocked, userID)
	}
}

// APIURL is the base URL of the Messaging API host.
func (f *Server) APIURL() string { return f.api.URL }

// DataURL is the base URL of the data (content) host.
func (f *Server) DataURL() string { return f.data.URL }

// CloseAPI closes the Messaging API host, so calls to it fail to connect.
func (f *Server) CloseAPI() { f.api.Close() }

// Counts returns how many profile and content requests the fake answered.
func (f *Server) Counts() (profiles, contents int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.profileCalls, f.contentCalls
}

// Sign returns X-Line-Signature for body, as LINE computes it: base64 of
// HMAC-SHA256 of the raw body keyed with the channel secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Payload wraps events in LINE's webhook request body.
func Payload(events ...string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"destination":"Ub9952f8a6bd1d0a1a3e2b8e3b5c6d7e8","events":[`)
	b.WriteString(strings.Join(events, ","))
	b.WriteString(`]}`)
	return b.Bytes()
}

// MessageEvent is a message event as LINE documents it.
func MessageEvent(eventID, source string, redelivery bool, message string) string {
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

// UserSource is the source of a 1:1 chat with id.
func UserSource(id string) string { return fmt.Sprintf(`{"type":"user","userId":%q}`, id) }

// GroupSource is a group chat source.
const GroupSource = `{"type":"group","groupId":"Ca56f94637c0a3f7bcd1a2b3c4d5e6f70","userId":"U4af4980629c0d2a4f7e3c5a5d8b1e2f3"}`

// RoomSource is a multi-person chat source.
const RoomSource = `{"type":"room","roomId":"Ra8dbf4673c4c812cd491258042226c99","userId":"U4af4980629c0d2a4f7e3c5a5d8b1e2f3"}`

// TextMessage is a text message object with id.
func TextMessage(id, text string) string {
	b, _ := json.Marshal(text)
	return fmt.Sprintf(`{"id":%q,"type":"text","quoteToken":"q3Plxr4AgKd...","text":%s}`, id, b)
}
