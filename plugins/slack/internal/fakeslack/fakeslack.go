// Package fakeslack is a loopback Slack for the Slack plugin's tests: the
// Web API methods the plugin calls, private file downloads, the v2 upload
// URLs and a Socket Mode websocket, speaking Slack's documented JSON; plus
// builders for Slack's documented event payloads, signed as Slack signs them.
package fakeslack

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
	Team     = "T0TEAM"                           // the workspace
	BotUser  = "U0HANDLE"                         // the handle's user id
	BotID    = "B0HANDLE"                         // the handle's bot id
	BotToken = "xoxb-test-bot-token"              // accepted bot token
	AppToken = "xapp-1-test-app-token"            // accepted app-level token
	Secret   = "8f742231b10e8888abcd99yyyzzz85a5" // signing secret
	IM       = "D0ALICEIM"                        // Alice's DM with the handle
)

// Call is one Web API request seen by the fake.
type Call struct {
	Method string
	Token  string
	Form   map[string]string
}

// Failure is a canned error answer for the next call of a method.
type Failure struct {
	Status     int    // HTTP status; 0 means 200 with ok:false
	Code       string // Slack error code for ok:false
	RetryAfter int    // seconds, for 429
}

// Server is a loopback Slack: Web API methods under /api/, private file
// downloads under /files/, upload URLs under /upload/, and a Socket Mode
// websocket under /ws. It speaks Slack's documented JSON.
type Server struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	calls     []Call
	Failures  map[string][]Failure
	users     map[string]map[string]any
	files     map[string][]byte // download path -> content
	fileAuth  []string          // Authorization headers seen on downloads
	uploads   map[string][]byte // file id -> uploaded content
	nextFile  int
	nextTS    int
	authFails string // auth.test error code, "" for ok

	// Socket Mode.
	conns   chan *Conn
	live    map[*Conn]bool
	acksMu  sync.Mutex
	acks    []string
	log     *EventLog // shared ordering log, may be nil
	pingDur time.Duration
}

// Conn is one Socket Mode connection from the plugin.
type Conn struct {
	mu   sync.Mutex
	conn *websocket.Conn
}

// Send writes one Socket Mode message to the plugin.
func (w *Conn) Send(v any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conn.WriteJSON(v)
}

// EventLog records the order of deliveries and acks across host and fake.
type EventLog struct {
	mu      sync.Mutex
	entries []string
}

// Add appends an entry.
func (l *EventLog) Add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, s)
}

// Snapshot returns the entries so far.
func (l *EventLog) Snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.entries...)
}

// New starts a fake Slack on loopback, closed when t ends.
func New(t testing.TB) *Server {
	t.Helper()
	f := &Server{
		t:        t,
		Failures: map[string][]Failure{},
		users: map[string]map[string]any{
			"U0ALICE": {"id": "U0ALICE", "team_id": Team, "name": "alice", "real_name": "Alice Liddell",
				"profile": map[string]any{"real_name": "Alice Liddell", "display_name": "alice", "email": "Alice@Example.test"}},
			"U0BOB": {"id": "U0BOB", "team_id": "T0OTHER", "name": "bob",
				"profile": map[string]any{"real_name": "", "display_name": "Bob"}},
		},
		files:   map[string][]byte{},
		uploads: map[string][]byte{},
		conns:   make(chan *Conn, 16),
		live:    map[*Conn]bool{},
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

// APIURL is the api_url to configure.
func (f *Server) APIURL() string { return f.srv.URL + "/api/" }

// Fail queues an error answer for the next call of method.
func (f *Server) Fail(method string, fl Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Failures[method] = append(f.Failures[method], fl)
}

// AddFile serves content at /files/<name> and returns its URL.
func (f *Server) AddFile(name string, content []byte) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files["/files/"+name] = content
	return f.srv.URL + "/files/" + name
}

// CallsTo returns the recorded calls of one method.
func (f *Server) CallsTo(method string) []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Call
	for _, c := range f.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func (f *Server) api(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	call := Call{Method: method, Form: map[string]string{}}
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
	var fl *Failure
	if q := f.Failures[method]; len(q) > 0 {
		fl = &q[0]
		f.Failures[method] = q[1:]
	}
	f.mu.Unlock()

	wantToken := BotToken
	if method == "apps.connections.open" {
		wantToken = AppToken
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
			"team_id": Team, "user_id": BotUser, "bot_id": BotID})
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
			"message": map[string]any{"type": "message", "text": call.Form["text"], "bot_id": BotID, "user": BotUser, "ts": ts}})
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

func (f *Server) download(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.fileAuth = append(f.fileAuth, r.Header.Get("Authorization"))
	content, ok := f.files[r.URL.Path]
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+BotToken {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	_, _ = w.Write(content)
}

func (f *Server) upload(w http.ResponseWriter, r *http.Request) {
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
func (f *Server) websocket(w http.ResponseWriter, r *http.Request) {
	// Slack accepts the Origin the SDK sends (https://api.slack.com).
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	conn := &Conn{conn: c}
	done := make(chan struct{})
	defer close(done)
	f.mu.Lock()
	f.live[conn] = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.live, conn)
		f.mu.Unlock()
	}()
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
	if err := conn.Send(map[string]any{"type": "hello", "num_connections": 1,
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
		if f.log != nil {
			f.log.Add("ack:" + ack.EnvelopeID)
		}
		f.acksMu.Unlock()
	}
}

// Acks returns the envelope ids acknowledged so far.
func (f *Server) Acks() []string {
	f.acksMu.Lock()
	defer f.acksMu.Unlock()
	return append([]string(nil), f.acks...)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// URL is the server's base URL.
func (f *Server) URL() string { return f.srv.URL }

// SetAuthFailure makes auth.test answer ok:false with code ("" for ok).
func (f *Server) SetAuthFailure(code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authFails = code
}

// SetLog makes acks appear in l.
func (f *Server) SetLog(l *EventLog) {
	f.acksMu.Lock()
	defer f.acksMu.Unlock()
	f.log = l
}

// FileAuth returns the Authorization headers seen on file downloads.
func (f *Server) FileAuth() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.fileAuth...)
}

// Upload returns the bytes uploaded for a file id.
func (f *Server) Upload(id string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.uploads[id]
}

// NextConn waits for the plugin's next Socket Mode connection.
func (f *Server) NextConn(t testing.TB) *Conn {
	t.Helper()
	select {
	case c := <-f.conns:
		return c
	case <-time.After(30 * time.Second):
		t.Fatal("fakeslack: no Socket Mode connection")
		return nil
	}
}

// Broadcast sends v on every open Socket Mode connection and returns how
// many took it. Tests that restart plugins use it instead of NextConn: only
// the running plugin's connection answers.
func (f *Server) Broadcast(v any) int {
	f.mu.Lock()
	conns := make([]*Conn, 0, len(f.live))
	for c := range f.live {
		conns = append(conns, c)
	}
	f.mu.Unlock()
	n := 0
	for _, c := range conns {
		if c.Send(v) == nil {
			n++
		}
	}
	return n
}
