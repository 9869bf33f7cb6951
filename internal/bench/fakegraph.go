package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is one scripted answer of the fake Graph API to a send.
type Fault struct {
	// Status is the HTTP status (429, 500, 400…).
	Status int
	// RetryAfter, when set, is sent as the Retry-After header (seconds).
	RetryAfter string
	// Code and Message fill Graph's error envelope.
	Code    int
	Message string
	// Reset closes the connection without any answer (a connection reset
	// as the client sees it); the message is not accepted.
	Reset bool
}

// FakeGraph is a loopback fake of the WhatsApp Cloud API endpoints the
// WhatsApp plugin calls: GET /{phone-number-id} and POST
// /{phone-number-id}/messages. It counts every send attempt per text body,
// can delay every send and fail a share of them with 500 (SetFaults), and
// answer scripted faults (SetScript).
type FakeGraph struct {
	// URL is the API base to configure as the plugin's api_url.
	URL string

	phoneNumberID, token string
	srv                  *http.Server
	ln                   net.Listener

	mu sync.Mutex
	// latency delays every send answer (simulated provider latency).
	latency time.Duration
	// errorRate is the share of sends answered 500 (0..1).
	errorRate float64
	// script, when set, is asked first for every send.
	script func(text string, attempt int) *Fault
	// held, when not nil, is closed by Release: sends wait for it.
	held chan struct{}

	attempts map[string]int
	times    map[string][]time.Time
	sent     []Sent
	nextID   atomic.Uint64
	errors5x atomic.Uint64
	rng      *rand.Rand
}

// Sent is a message the fake accepted.
type Sent struct {
	ID, To, Text string
	At           time.Time
}

// NewFakeGraph starts the fake on a loopback port.
func NewFakeGraph(phoneNumberID, token string) (*FakeGraph, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fake graph: listen: %w", err)
	}
	g := &FakeGraph{
		URL:           "http://" + ln.Addr().String() + "/v24.0",
		phoneNumberID: phoneNumberID,
		token:         token,
		ln:            ln,
		attempts:      map[string]int{},
		times:         map[string][]time.Time{},
		rng:           rand.New(rand.NewPCG(1, 2)),
	}
	g.srv = &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = g.srv.Serve(ln) }()
	return g, nil
}

// SetFaults makes every send wait latency (simulated provider latency)
// and answers a share errorRate (0..1) of them with 500.
func (g *FakeGraph) SetFaults(latency time.Duration, errorRate float64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.latency, g.errorRate = latency, errorRate
}

// Hold makes every send wait, unanswered, until Release (a provider that
// stopped answering); sends already waiting out the latency are not held.
func (g *FakeGraph) Hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held == nil {
		g.held = make(chan struct{})
	}
}

// Release lets the held sends (and every later one) proceed.
func (g *FakeGraph) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held != nil {
		close(g.held)
		g.held = nil
	}
}

// SetScript installs a function asked first for every send: attempt counts
// the sends of that text so far (1 for the first); a nil Fault lets the
// send proceed.
func (g *FakeGraph) SetScript(script func(text string, attempt int) *Fault) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.script = script
}

// Close stops the fake.
func (g *FakeGraph) Close() { _ = g.srv.Close() }

// Sent returns the accepted messages in order.
func (g *FakeGraph) Sent() []Sent {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Sent(nil), g.sent...)
}

// Delivered reports how many times a message with that text was accepted.
func (g *FakeGraph) Delivered(text string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, s := range g.sent {
		if s.Text == text {
			n++
		}
	}
	return n
}

// Attempts reports how many sends of that text reached the fake
// (accepted or not).
func (g *FakeGraph) Attempts(text string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.attempts[text]
}

// AttemptTimes returns when each send of that text reached the fake.
func (g *FakeGraph) AttemptTimes(text string) []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]time.Time(nil), g.times[text]...)
}

// Errors5xx is how many sends were failed by ErrorRate.
func (g *FakeGraph) Errors5xx() uint64 { return g.errors5x.Load() }

func (g *FakeGraph) graphError(w http.ResponseWriter, f *Fault) {
	if f.Reset {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // RST rather than FIN
				}
				_ = conn.Close()
				return
			}
		}
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.Status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": f.Message, "type": "OAuthException", "code": f.Code,
		"error_data": map[string]any{"details": f.Message}, "fbtrace_id": "AbCdEf123",
	}})
}

// ServeHTTP implements the two endpoints.
func (g *FakeGraph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+g.token {
		g.graphError(w, &Fault{Status: http.StatusUnauthorized, Code: 190, Message: "Invalid OAuth access token."})
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v24.0/")
	switch {
	case r.Method == http.MethodGet && path == g.phoneNumberID:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"id": g.phoneNumberID, "display_phone_number": "+1 555-0100", "verified_name": "Patchbay Bench"})
	case r.Method == http.MethodPost && path == g.phoneNumberID+"/messages":
		g.send(w, r)
	default:
		g.graphError(w, &Fault{Status: http.StatusNotFound, Code: 100, Message: "Unsupported request"})
	}
}

func (g *FakeGraph) send(w http.ResponseWriter, r *http.Request) {
	var m struct {
		To   string `json:"to"`
		Type string `json:"type"`
		Text struct {
			Body string `json:"body"`
		} `json:"text"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(body, &m) != nil || m.To == "" {
		g.graphError(w, &Fault{Status: http.StatusBadRequest, Code: 100, Message: "Invalid parameter"})
		return
	}
	g.mu.Lock()
	latency, script, held := g.latency, g.script, g.held
	g.mu.Unlock()
	if held != nil {
		select {
		case <-held:
		case <-r.Context().Done():
			return
		}
	}
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	g.mu.Lock()
	g.attempts[m.Text.Body]++
	g.times[m.Text.Body] = append(g.times[m.Text.Body], time.Now())
	attempt := g.attempts[m.Text.Body]
	fail := g.errorRate > 0 && g.rng.Float64() < g.errorRate
	g.mu.Unlock()
	if script != nil {
		if f := script(m.Text.Body, attempt); f != nil {
			g.graphError(w, f)
			return
		}
	}
	if fail {
		g.errors5x.Add(1)
		g.graphError(w, &Fault{Status: http.StatusInternalServerError, Code: 131000, Message: "Something went wrong"})
		return
	}
	id := fmt.Sprintf("wamid.OUT%08d", g.nextID.Add(1))
	g.mu.Lock()
	g.sent = append(g.sent, Sent{ID: id, To: m.To, Text: m.Text.Body, At: time.Now()})
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []any{map[string]string{"input": m.To, "wa_id": m.To}},
		"messages":          []any{map[string]string{"id": id}},
	})
}
