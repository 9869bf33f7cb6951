package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

const testAdminToken = "test-admin-token-0123456789abcdef"

// env is an API server on a real store in a temp dir, behind a loopback
// HTTP server.
type env struct {
	t     *testing.T
	st    *store.Store
	srv   *Server
	ts    *httptest.Server
	reg   *prometheus.Registry
	admin string
}

func newEnv(t *testing.T, mod ...func(*Options)) *env {
	t.Helper()
	st, err := store.Open(store.Options{Dir: t.TempDir(), GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	opts := Options{
		Store:        st,
		AdminToken:   testAdminToken,
		Registerer:   reg,
		Gatherer:     reg,
		MaxBodyBytes: 64 << 10,
		Heartbeat:    time.Hour,
	}
	for _, m := range mod {
		m(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
		st.Close()
	})
	return &env{t: t, st: st, srv: srv, ts: ts, reg: reg, admin: testAdminToken}
}

// resp is a finished request.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r *resp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %q: %v", r.body, err)
	}
}

// apiErr decodes the JSON error shape, failing when the body is not one.
func (r *resp) apiErr(t *testing.T) Error {
	t.Helper()
	var b struct {
		Error *Error `json:"error"`
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error answer has Content-Type %q, body %q", ct, r.body)
	}
	r.decode(t, &b)
	if b.Error == nil || b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("not the error shape: %s", r.body)
	}
	return *b.Error
}

// req sends a request; body is a string (sent raw), []byte, nil, or any
// value encoded as JSON. hdr are "Name: value" pairs.
func (e *env) req(method, path, token string, body any, hdr ...string) *resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	r, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ": ")
		r.Header.Set(k, v)
	}
	res, err := e.ts.Client().Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	e.checkAnswer(r, res, b)
	return &resp{status: res.StatusCode, header: res.Header, body: b}
}

// checkAnswer fails the test unless the answer (its body already read
// into b) is one the OpenAPI document allows. Every request of the suite
// passes through it (safe from several goroutines).
func (e *env) checkAnswer(req *http.Request, res *http.Response, b []byte) {
	e.t.Helper()
	if err := checkContract(req, res.StatusCode, res.Header, b); err != nil {
		e.t.Errorf("%s %s: answer %d breaks openapi.json: %v\nbody: %.500s", req.Method, req.URL.RequestURI(), res.StatusCode, err, b)
	}
}

// must sends a request and fails unless it answers want.
func (e *env) must(want int, method, path, token string, body any, hdr ...string) *resp {
	e.t.Helper()
	r := e.req(method, path, token, body, hdr...)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r
}

// agentToken creates an agent token through the API and returns the secret
// and the agent's user id.
func (e *env) agentToken(name, email string) (string, uint64) {
	e.t.Helper()
	var out struct {
		Token  string `json:"token"`
		UserID uint64 `json:"user_id"`
	}
	e.must(201, "POST", "/api/v1/tokens", e.admin, map[string]any{"name": name, "email": email}).decode(e.t, &out)
	if out.Token == "" || out.UserID == 0 {
		e.t.Fatalf("token answer without token or user: %+v", out)
	}
	return out.Token, out.UserID
}

// createTicket creates a ticket through the API.
func (e *env) createTicket(token, subject, email string) *ticket.Ticket {
	e.t.Helper()
	var tk ticket.Ticket
	e.must(201, "POST", "/api/v1/tickets", token, map[string]any{
		"subject":   subject,
		"comment":   map[string]any{"body": "body of " + subject},
		"requester": map[string]any{"name": "Req", "email": email},
	}).decode(e.t, &tk)
	return &tk
}

// channelTicket stores a ticket as if it had arrived on a channel.
func (e *env) channelTicket(instance string) *ticket.Ticket {
	e.t.Helper()
	var tk *ticket.Ticket
	err := e.st.Update(context.Background(), func(tx *store.Tx) error {
		u := &ticket.User{Name: "Customer", Identities: []ticket.Identity{{Type: "slack", Value: fmt.Sprintf("T1:U%d", time.Now().UnixNano())}}}
		if err := tx.CreateUser(u); err != nil {
			return err
		}
		tk = &ticket.Ticket{Subject: "help", Status: ticket.StatusNew, Channel: instance, Via: "slack",
			RequesterID: u.ID, ConversationKey: fmt.Sprintf("D%d", time.Now().UnixNano())}
		if err := tx.CreateTicket(tk); err != nil {
			return err
		}
		return tx.CreateComment(&ticket.Comment{TicketID: tk.ID, AuthorID: u.ID, Body: "hello", Public: true, Via: "slack", ExternalID: "m1"},
			store.CommentOptions{Instance: instance})
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return tk
}

// snapshot is a summary of the store used to prove that a rejected request
// changed nothing: the event log's end and every sequence.
type snapshot struct{ events, tickets, comments, users, tokens uint64 }

func (e *env) snap() snapshot {
	e.t.Helper()
	var s snapshot
	err := e.st.View(func(tx *store.ReadTx) error {
		for _, p := range []struct {
			name string
			dst  *uint64
		}{{store.SeqEvent, &s.events}, {store.SeqTicket, &s.tickets}, {store.SeqComment, &s.comments}, {store.SeqUser, &s.users}, {store.SeqToken, &s.tokens}} {
			n, err := tx.LastID(p.name)
			if err != nil {
				return err
			}
			*p.dst = n
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) ticket(id uint64) *ticket.Ticket {
	e.t.Helper()
	var tk *ticket.Ticket
	if err := e.st.View(func(tx *store.ReadTx) error {
		var err error
		tk, err = tx.Ticket(id)
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	return tk
}
