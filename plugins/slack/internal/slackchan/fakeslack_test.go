package slackchan

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Test fixtures: the workspace, the handle and the tokens the fake accepts.
const (
	testTeam     = "T0TEAM"
	testBotUser  = "U0HANDLE"
	testBotID    = "B0HANDLE"
	testBotToken = "xoxb-test-bot-token"
	testAppToken = "xapp-1-test-app-token"
	testSecret   = "8f742231b10e8888abcd99yyyzzz85a5"
)

// apiCall is one Web API request seen by the fake.
type apiCall struct {
	Method string
	Token  string
	Form   map[string]string
}

// failure is a canned error answer for the next call of a method.
type failure struct {
	Status     int    // HTTP status; 0 means 200 with ok:false
	Code       string // Slack error code for ok:false
	RetryAfter int    // seconds, for 429
}

// fakeSlack is a loopback Slack: Web API methods under /api/, private file
// downloads under /files/, upload URLs under /upload/, and a Socket Mode
// websocket under /ws. It speaks Slack's documented JSON.
type fakeSlack struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	calls     []apiCall
	failures  map[string][]failure
	users     map[string]map[string]any
	files     map[string][]byte // download path -> content
	fileAuth  []string          // Authorization headers seen on downloads
	uploads   map[string][]byte // file id -> uploaded content
	nextFile  int
	nextTS    int
	authFails string // auth.test error code, "" for ok

	// Socket Mode.
	conns   chan *wsConn
	acksMu  sync.Mutex
	acks    []string
	log     *eventLog // shared ordering log, may be nil
	pingDur time.Duration
}

// wsConn is one Socket Mode connection from the plugin.
type wsConn struct {
	mu   sync.Mutex
	conn *websocket.Conn
}

func (w *wsConn) send(v any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conn.WriteJSON(v)
}

// eventLog records the order of deliveries and acks across host and fake.
type eventLog struct {
	mu      sync.Mutex
	entries []string
}

func (l *eventLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, s)
}

func (l *eventLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.entries...)
}

func newFakeSlack(t testing.TB) *fakeSlack {
	t.Helper()
	f := &fakeSlack{
		t:        t,
		failures: map[string][]failure{},
		users: map[string]map[string]any{
			"U0ALICE": {"id": "U0ALICE", "team_id": testTeam, "name": "alice", "real_name": "Alice Liddell",
				"profile": map[string]any{"real_name": "Alice Liddell", "display_name": "alice", "email": "Alice@Example.test"}},
			"U0BOB": {"id": "U0BOB", "team_id": "T0OTHER", "name": "bob",
				"profile": map[string]any{"real_name": "", "display_name": "Bob"}},
		},
		files:   map[string][]byte{},
		uploads: map[string][]byte{},
		conns:   make(chan *wsConn, 4),
		pingDur: 200 * time.Millisecond,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", f.api)
	mux.HandleFunc("/files/", f.download)
	mux.HandleFunc("/upload/", f.upload)
	mux.HandleFunc("/ws", f.websocket)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// apiURL is the api_url to configure.
func (f *fakeSlack) apiURL() string { return f.srv.URL + "/api/" }

// fail queues an error answer for the next call of method.
func (f *fakeSlack) fail(method string, fl failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures[method] = append(f.failures[method], fl)
}

// addFile serves content at /files/<name> and returns its URL.
func (f *fakeSlack) addFile(name string, content []byte) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files["/files/"+name] = content
	return f.srv.URL + "/files/" + name
}

// callsTo returns the recorded calls of one method.
func (f *fakeSlack) callsTo(method string) []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []apiCall
	for _, c := range f.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeSlack) api(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	call := apiCall{Method: method, Form: map[string]string{}}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		_ = r.ParseForm()
		for k := range r.PostForm {
			call.Form[k] = r.PostForm.Get(k)
		}
	}
	call.Token = call.Form["token"]
	if a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		call.Token = a
	}
	delete(call.Form, "token")
	f.mu.Lock()
	f.calls = append(f.calls, call)
	var fl *failure
	if q := f.failures[method]; len(q) > 0 {
		fl = &q[0]
		f.failures[method] = q[1:]
	}
	f.mu.Unlock()

	wantToken := testBotToken
	if method == "apps.connections.open" {
		wantToken = testAppToken
	}
	switch {
	case fl != nil && fl.Status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(fl.RetryAfter))
		w.WriteHeader(http.StatusTooManyRequests)
		return
	case fl != nil && fl.Status != 0:
		w.WriteHeader(fl.Status)
		return
	case fl != nil:
		writeJSON(w, map[string]any{"ok": false, "error": fl.Code})
		return
	case call.Token != wantToken:
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}

	switch method {
	case "auth.test":
		if f.authFails != "" {
			writeJSON(w, map[string]any{"ok": false, "error": f.authFails})
			return
		}
		writeJSON(w, map[string]any{"ok": true, "url": "https://acme.slack.test/", "team": "Acme", "user": "helpdesk",
			"team_id": testTeam, "user_id": testBotUser, "bot_id": testBotID})
	case "users.info":
		f.mu.Lock()
		u, ok := f.users[call.Form["user"]]
		f.mu.Unlock()
		if !ok {
			writeJSON(w, map[string]any{"ok": false, "error": "user_not_found"})
			return
		}
		writeJSON(w, map[string]any{"ok": true, "user": u})
	case "conversations.open":
		writeJSON(w, map[string]any{"ok": true, "channel": map[string]any{"id": "D0OPENED" + call.Form["users"]}})
	case "chat.postMessage":
		f.mu.Lock()
		f.nextTS++
		ts := fmt.Sprintf("1700000100.%06d", f.nextTS)
		f.mu.Unlock()
		writeJSON(w, map[string]any{"ok": true, "channel": call.Form["channel"], "ts": ts,
			"message": map[string]any{"type": "message", "text": call.Form["text"], "bot_id": testBotID, "user": testBotUser, "ts": ts}})
	case "files.getUploadURLExternal":
		f.mu.Lock()
		f.nextFile++
		id := fmt.Sprintf("F0UP%d", f.nextFile)
		f.mu.Unlock()
		writeJSON(w, map[string]any{"ok": true, "upload_url": f.srv.URL + "/upload/" + id, "file_id": id})
	case "files.completeUploadExternal":
		var files []map[string]string
		if err := json.Unmarshal([]byte(call.Form["files"]), &files); err != nil || len(files) == 0 {
			writeJSON(w, map[string]any{"ok": false, "error": "invalid_arguments"})
			return
		}
		f.mu.Lock()
		_, uploaded := f.uploads[files[0]["id"]]
		f.mu.Unlock()
		if !uploaded {
			writeJSON(w, map[string]any{"ok": false, "error": "file_not_found"})
			return
		}
		writeJSON(w, map[string]any{"ok": true, "files": files})
	case "apps.connections.open":
		writeJSON(w, map[string]any{"ok": true, "url": "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/ws"})
	default:
		writeJSON(w, map[string]any{"ok": false, "error": "unknown_method"})
	}
}

func (f *fakeSlack) download(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.fileAuth = append(f.fileAuth, r.Header.Get("Authorization"))
	content, ok := f.files[r.URL.Path]
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+testBotToken {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	_, _ = w.Write(content)
}

func (f *fakeSlack) upload(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/upload/")
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		http.Error(w, "bad content type", http.StatusBadRequest)
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			http.Error(w, "no file part", http.StatusBadRequest)
			return
		}
		if p.FormName() != "file" {
			continue
		}
		b, err := io.ReadAll(p)
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.uploads[id] = b
		f.mu.Unlock()
		_, _ = io.WriteString(w, "OK - "+strconv.Itoa(len(b)))
		return
	}
}

// websocket serves Socket Mode: hello, Slack's pings, and records acks.
func (f *fakeSlack) websocket(w http.ResponseWriter, r *http.Request) {
	// Slack accepts the Origin the SDK sends (https://api.slack.com).
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	conn := &wsConn{conn: c}
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(f.pingDur)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				conn.mu.Lock()
				err := c.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
				conn.mu.Unlock()
				if err != nil {
					return
				}
			}
		}
	}()
	if err := conn.send(map[string]any{"type": "hello", "num_connections": 1,
		"connection_info": map[string]any{"app_id": "A0APP"}, "debug_info": map[string]any{"host": "fake"}}); err != nil {
		return
	}
	f.conns <- conn
	for {
		var ack struct {
			EnvelopeID string `json:"envelope_id"`
		}
		if err := c.ReadJSON(&ack); err != nil {
			return
		}
		f.acksMu.Lock()
		f.acks = append(f.acks, ack.EnvelopeID)
		f.acksMu.Unlock()
		if f.log != nil {
			f.log.add("ack:" + ack.EnvelopeID)
		}
	}
}

// ackedIDs returns the envelope ids acknowledged so far.
func (f *fakeSlack) ackedIDs() []string {
	f.acksMu.Lock()
	defer f.acksMu.Unlock()
	return append([]string(nil), f.acks...)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}
