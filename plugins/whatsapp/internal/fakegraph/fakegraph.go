// Package fakegraph is a loopback fake of the WhatsApp Cloud API (Meta Graph
// API) for tests: it serves the send, media upload, media lookup and media
// download calls the channel makes, records what it received, answers
// errors on demand in Meta's error envelope, and signs webhooks as Meta does.
package fakegraph

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Version is the API version the fake serves under.
const Version = "v24.0"

// Server is a running fake Graph API.
type Server struct {
	// URL is the api_url to configure: the base with the version.
	URL string
	// PhoneNumberID is the phone number id the fake serves.
	PhoneNumberID string

	token string

	srv *httptest.Server

	mu       sync.Mutex
	seq      int
	sent     []Sent
	uploads  []Upload
	media    map[string]*Media
	failures map[string][]Failure // by route: "messages", "media", "lookup", "download"
	hits     map[string]int
	// lastInbound is when each customer (wa_id) last wrote, for the
	// 24-hour window Meta enforces on free-form messages.
	lastInbound map[string]time.Time
}

// Sent is one message received on /{phone-number-id}/messages.
type Sent struct {
	// ID is the wamid the fake answered with.
	ID string
	// Body is the decoded JSON request.
	Body map[string]any
	Raw  []byte
}

// Type is the message's type ("text", "image", "template"…).
func (s Sent) Type() string { v, _ := s.Body["type"].(string); return v }

// To is the "to" (phone number) of the message.
func (s Sent) To() string { v, _ := s.Body["to"].(string); return v }

// Recipient is the "recipient" (business-scoped user id) of the message.
func (s Sent) Recipient() string { v, _ := s.Body["recipient"].(string); return v }

// Field returns a nested string field, e.g. Field("text", "body").
func (s Sent) Field(path ...string) string {
	var cur any = s.Body
	for _, p := range path {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(c) {
				return ""
			}
			cur = c[i]
		default:
			return ""
		}
	}
	switch v := cur.(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// Upload is one file received on /{phone-number-id}/media.
type Upload struct {
	ID               string
	MessagingProduct string
	Type             string
	Filename         string
	ContentType      string
	Data             []byte
}

// Media is a file the fake serves for inbound media.
type Media struct {
	ID       string
	MimeType string
	Data     []byte
	// SHA256 and FileSize are what GET /{media-id} announces; AddMedia sets
	// the true values, tests may change them.
	SHA256   string
	FileSize int64
}

// Failure is one error answer.
type Failure struct {
	HTTPStatus int
	Code       int
	Subcode    int
	Message    string
	Details    string
	RetryAfter string
}

// New starts a fake on 127.0.0.1. Close it when done.
func New(phoneNumberID, token string) *Server {
	s := &Server{
		PhoneNumberID: phoneNumberID,
		token:         token,
		media:         make(map[string]*Media),
		failures:      make(map[string][]Failure),
		hits:          make(map[string]int),
		lastInbound:   make(map[string]time.Time),
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + "/" + Version
	return s
}

// SetLastInbound tells the fake when customer waID last wrote: like Meta,
// it then refuses a free-form (non-template) message to them more than 24
// hours later with error 131047, by its own clock.
func (s *Server) SetLastInbound(waID string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastInbound[waID] = at
}

// SetToken changes the access token the fake accepts.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// AddMedia registers an inbound media file and returns the sha256 as Meta
// puts it in webhooks (base64).
func (s *Server) AddMedia(id, mimeType string, data []byte) string {
	sum := sha256.Sum256(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.media[id] = &Media{ID: id, MimeType: mimeType, Data: data, SHA256: hex.EncodeToString(sum[:]), FileSize: int64(len(data))}
	return base64.StdEncoding.EncodeToString(sum[:])
}

// SetMediaAnnounced changes what GET /{media-id} announces for a file.
func (s *Server) SetMediaAnnounced(id, sha256hex string, size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.media[id]; m != nil {
		m.SHA256, m.FileSize = sha256hex, size
	}
}

// FailNext queues error answers for a route: "messages", "media" (upload),
// "lookup" (GET /{media-id}) or "download".
func (s *Server) FailNext(route string, f ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[route] = append(s.failures[route], f...)
}

// ClearFailures drops every queued error answer.
func (s *Server) ClearFailures() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = make(map[string][]Failure)
}

// Sent returns the messages received so far.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// Uploads returns the files uploaded so far.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Upload(nil), s.uploads...)
}

// Hits returns how many requests a route received (failed ones included).
func (s *Server) Hits(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[route]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/")
	route, arg := s.route(r.Method, path)
	if route == "" {
		writeError(w, Failure{HTTPStatus: http.StatusBadRequest, Code: 100, Message: "Unsupported request - method type: " + strings.ToLower(r.Method)})
		return
	}
	s.mu.Lock()
	s.hits[route]++
	var fail *Failure
	if q := s.failures[route]; len(q) > 0 {
		f := q[0]
		s.failures[route] = q[1:]
		fail = &f
	}
	token := s.token
	s.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+token {
		writeError(w, Failure{HTTPStatus: http.StatusUnauthorized, Code: 190, Message: "Invalid OAuth access token - Cannot parse access token"})
		return
	}
	if fail != nil {
		writeError(w, *fail)
		return
	}
	switch route {
	case "messages":
		s.serveMessages(w, r)
	case "media":
		s.serveUpload(w, r)
	case "lookup":
		s.serveLookup(w, arg)
	case "download":
		s.serveDownload(w, arg)
	case "phone":
		writeJSON(w, map[string]any{"id": s.PhoneNumberID, "display_phone_number": "+1 555-0100", "verified_name": "Patchbay Test"})
	}
}

// route maps a request to a route name and its argument (a media id).
func (s *Server) route(method, path string) (string, string) {
	if id, ok := strings.CutPrefix(path, "download/"); ok && method == http.MethodGet {
		return "download", id
	}
	rest, ok := strings.CutPrefix(path, Version+"/")
	if !ok {
		return "", ""
	}
	switch {
	case method == http.MethodPost && rest == s.PhoneNumberID+"/messages":
		return "messages", ""
	case method == http.MethodPost && rest == s.PhoneNumberID+"/media":
		return "media", ""
	case method == http.MethodGet && rest == s.PhoneNumberID:
		return "phone", ""
	case method == http.MethodGet && !strings.Contains(rest, "/"):
		return "lookup", rest
	}
	return "", ""
}

func (s *Server) serveMessages(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, Failure{HTTPStatus: http.StatusBadRequest, Code: 100, Message: "unreadable body"})
		return
	}
	var body map[string]any
	if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(raw, &body) != nil {
		writeError(w, Failure{HTTPStatus: http.StatusBadRequest, Code: 100, Message: "(#100) Invalid parameter"})
		return
	}
	if body["messaging_product"] != "whatsapp" {
		writeError(w, Failure{HTTPStatus: http.StatusBadRequest, Code: 100, Message: "(#100) The parameter messaging_product is required."})
		return
	}
	to, _ := body["to"].(string)
	recipient, _ := body["recipient"].(string)
	if to == "" && recipient == "" {
		writeError(w, Failure{HTTPStatus: http.StatusBadRequest, Code: 100, Message: "(#100) The parameter to is required."})
		return
	}
	s.mu.Lock()
	last, known := s.lastInbound[to]
	s.mu.Unlock()
	if known && body["type"] != "template" && time.Since(last) >= 24*time.Hour {
		writeError(w, Failure{HTTPStatus: http.StatusBadRequest, Code: 131047, Message: "Re-engagement message",
			Details: "Message failed to send because more than 24 hours have passed since the customer last replied to this number."})
		return
	}
	s.mu.Lock()
	s.seq++
	id := fmt.Sprintf("wamid.FAKE%06d", s.seq)
	s.sent = append(s.sent, Sent{ID: id, Body: body, Raw: raw})
	s.mu.Unlock()
	contact := map[string]any{"input": firstNonEmpty(to, recipient)}
	if to != "" {
		contact["wa_id"] = to
	} else {
		contact["user_id"] = recipient
	}
	writeJSON(w, map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []any{contact},
		"messages":          []any{map[string]any{"id": id}},
	})
}

func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		writeError(w, Failure{HTTPStatus: http.StatusBadRequest, Code: 100, Message: "(#100) Invalid multipart form"})
		return
	}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		writeError(w, Failure{HTTPStatus: http.StatusBadRequest, Code: 100, Message: "(#100) The parameter file is required."})
		return
	}
	defer f.Close()
	data, _ := io.ReadAll(f)
	up := Upload{
		MessagingProduct: r.FormValue("messaging_product"),
		Type:             r.FormValue("type"),
		Filename:         hdr.Filename,
		ContentType:      hdr.Header.Get("Content-Type"),
		Data:             data,
	}
	if up.MessagingProduct != "whatsapp" || up.Type == "" {
		writeError(w, Failure{HTTPStatus: http.StatusBadRequest, Code: 100, Message: "(#100) messaging_product and type are required"})
		return
	}
	s.mu.Lock()
	s.seq++
	up.ID = fmt.Sprintf("%d", 900000+s.seq)
	s.uploads = append(s.uploads, up)
	s.mu.Unlock()
	writeJSON(w, map[string]any{"id": up.ID})
}

func (s *Server) serveLookup(w http.ResponseWriter, id string) {
	s.mu.Lock()
	m := s.media[id]
	s.mu.Unlock()
	if m == nil {
		writeError(w, Failure{HTTPStatus: http.StatusNotFound, Code: 100, Subcode: 33, Message: "Unsupported get request. Object with ID '" + id + "' does not exist"})
		return
	}
	writeJSON(w, map[string]any{
		"messaging_product": "whatsapp",
		"url":               s.srv.URL + "/download/" + id + "?ext=1&hash=fake",
		"mime_type":         m.MimeType,
		"sha256":            m.SHA256,
		"file_size":         strconv.FormatInt(m.FileSize, 10),
		"id":                id,
	})
}

func (s *Server) serveDownload(w http.ResponseWriter, id string) {
	s.mu.Lock()
	m := s.media[id]
	s.mu.Unlock()
	if m == nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", m.MimeType)
	w.Header().Set("Content-Length", strconv.Itoa(len(m.Data)))
	w.Write(m.Data)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, f Failure) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	e := map[string]any{
		"message":    firstNonEmpty(f.Message, http.StatusText(f.HTTPStatus)),
		"type":       "OAuthException",
		"code":       f.Code,
		"fbtrace_id": "AbCdEfFakeTrace",
	}
	if f.Subcode != 0 {
		e["error_subcode"] = f.Subcode
	}
	if f.Details != "" {
		e["error_data"] = map[string]any{"messaging_product": "whatsapp", "details": f.Details}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.HTTPStatus)
	json.NewEncoder(w).Encode(map[string]any{"error": e})
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
