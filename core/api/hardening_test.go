package api

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
)

// waitUntil polls cond (generous deadline for a loaded machine).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// streamEnded waits for an event stream to end.
func streamEnded(t *testing.T, s *sseStream, what string) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: the stream is still open", what)
	}
}

// Slow request bodies: a client that sends its headers and then trickles
// (or stalls) its body is answered 408 once the body read deadline
// passes, and the connection is closed, instead of holding a goroutine
// and a buffer as long as it likes. Nothing is stored.
func TestSlowBodyAnswered408(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.BodyReadTimeout = 300 * time.Millisecond })
	before := e.snap()
	for _, path := range []string{"/api/v1/tickets", "/api/v1/tokens"} {
		t.Run(path, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(e.ts.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"subject\":", path, e.admin)
			// Trickle a byte now and then, well past the deadline.
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
						if _, err := conn.Write([]byte(" ")); err != nil {
							return
						}
					}
				}
			}()
			_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer to the slow body: %v", err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), CodeBodyTimeout) {
				t.Fatalf("slow body: %d %s, want 408 %s", res.StatusCode, body, CodeBodyTimeout)
			}
			if !res.Close {
				t.Error("the 408 does not close the connection")
			}
		})
	}
	if after := e.snap(); after != before {
		t.Fatalf("slow bodies changed the store: %+v -> %+v", before, after)
	}
	// A body sent at once is unaffected, and the handler may work on after
	// reading it (the deadline is lifted at the end of the body).
	e.createTicket(e.admin, "fast", "fast@example.test")
}

// Revoked token, long-lived answers: revoking a token ends its open event
// streams at once, so a revoked agent stops receiving comment bodies; the
// revoking request itself and other tokens' streams are unaffected.
func TestRevokedTokenEndsOpenStream(t *testing.T) {
	e := newEnv(t)
	tok, _ := e.agentToken("Grace", "grace@example.test")
	var list struct {
		Tokens []struct {
			ID uint64 `json:"id"`
		} `json:"tokens"`
	}
	e.must(200, "GET", "/api/v1/tokens", e.admin, nil).decode(t, &list)
	id := list.Tokens[len(list.Tokens)-1].ID

	revoked := e.openEvents(tok)
	other := e.openEvents(e.admin)
	<-revoked.comments
	<-other.comments
	e.must(204, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", id), e.admin, nil)
	streamEnded(t, revoked, "after DELETE /api/v1/tokens/{id}")
	e.createTicket(e.admin, "after the revocation", "c@example.test")
	if ev := other.until(t, store.EventCommentCreated); len(ev) == 0 {
		t.Fatal("the admin's stream stopped")
	}
	select {
	case ev := <-revoked.events:
		t.Fatalf("the revoked stream delivered %+v", ev)
	default:
	}
	if r := e.req("GET", "/api/v1/events", tok, nil); r.status != 401 {
		t.Fatalf("a new stream with the revoked token: %d", r.status)
	}
}

// Revoked token, revocation that bypasses the API (or races with the
// stream's start): the stream re-checks its token every second.
func TestRevokedTokenEndsStreamOnRecheck(t *testing.T) {
	e := newEnv(t)
	tok, _ := e.agentToken("Grace", "grace@example.test")
	s := e.openEvents(tok)
	<-s.comments
	err := e.st.Update(context.Background(), func(tx *store.Tx) error {
		tk, err := tx.TokenByHash(hashToken(tok))
		if err != nil {
			return err
		}
		_, err = tx.RevokeToken(tk.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	streamEnded(t, s, "after the token was revoked in the store")
}

// A token revoking itself gets its 204: only its other requests end.
func TestRevokeOwnTokenAnswers(t *testing.T) {
	e := newEnv(t)
	var out struct {
		ID    uint64 `json:"id"`
		Token string `json:"token"`
	}
	e.must(201, "POST", "/api/v1/tokens", e.admin, map[string]any{"name": "Root", "email": "root@example.test", "role": "admin"}).decode(t, &out)
	s := e.openEvents(out.Token)
	<-s.comments
	e.must(204, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", out.ID), out.Token, nil)
	streamEnded(t, s, "after the token revoked itself")
}

// Stream exhaustion: one token may keep at most MaxStreamsPerToken event
// streams open; one more is 429, other tokens are not affected, and a
// closed stream frees its place.
func TestEventStreamCapPerToken(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxStreamsPerToken = 2 })
	tok, _ := e.agentToken("Grace", "grace@example.test")
	a, b := e.openEvents(tok), e.openEvents(tok)
	<-a.comments
	<-b.comments
	r := e.req("GET", "/api/v1/events", tok, nil)
	if r.status != http.StatusTooManyRequests || r.apiErr(t).Code != CodeTooManyStreams {
		t.Fatalf("third stream: %d %s", r.status, r.body)
	}
	if c := e.openEvents(e.admin); c.status != 200 {
		t.Fatalf("another token's stream: %d", c.status)
	}
	a.cancel()
	streamEnded(t, a, "after the client closed it")
	waitUntil(t, "the closed stream to be released", func() bool { return e.srv.live.openStreams(testTokenID(t, e, tok)) == 1 })
	if c := e.openEvents(tok); c.status != 200 {
		t.Fatalf("stream after one closed: %d", c.status)
	}
}

// testTokenID returns the TokenID of a token secret.
func testTokenID(t *testing.T, e *env, tok string) string {
	t.Helper()
	var id uint64
	err := e.st.View(func(tx *store.ReadTx) error {
		tk, err := tx.TokenByHash(hashToken(tok))
		if err == nil {
			id = tk.ID
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatUint(id, 10)
}

// stalledStream opens an event stream over a connection with tiny socket
// buffers and never reads it, so the server's writes soon block.
func stalledStream(t *testing.T, srvURL, token string) net.Conn {
	t.Helper()
	return stalledRequest(t, srvURL, "GET /api/v1/events", token)
}

// smallSendBuffers makes the server's connections' send buffers tiny, so
// a client that stops reading blocks the server's writes quickly.
func smallSendBuffers(t *testing.T, srv *Server) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(srv)
	ts.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetWriteBuffer(2048)
			}
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

// flood writes events with large comment bodies until the stalled stream
// would need far more than the socket buffers hold.
func flood(t *testing.T, e *env) {
	t.Helper()
	tk := e.createTicket(e.admin, "flood", "flood@example.test")
	big := strings.Repeat("x", 30<<10)
	for range 40 {
		e.must(201, "POST", fmt.Sprintf("/api/v1/tickets/%d/comments", tk.ID), e.admin, map[string]any{"body": big, "public": false})
	}
}

// Stalled stream client: a client that stops reading its stream is
// dropped after StreamWriteTimeout; its handler does not block forever.
func TestStalledStreamWriteDeadline(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.StreamWriteTimeout = 200 * time.Millisecond })
	ts := smallSendBuffers(t, e.srv)
	stalledStream(t, ts.URL, e.admin)
	waitUntil(t, "the stream to open", func() bool { return e.srv.live.openStreams(adminTokenID) == 1 })
	flood(t, e)
	waitUntil(t, "the stalled stream to be dropped", func() bool { return e.srv.live.openStreams(adminTokenID) == 0 })
}

// Stalled stream at shutdown: Close ends even a stream whose write is
// blocked on a client that stopped reading (a SIGTERM is not held for the
// write deadline, let alone forever).
func TestCloseEndsStalledStreamFirst(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.StreamWriteTimeout = time.Hour })
	ts := smallSendBuffers(t, e.srv)
	stalledStream(t, ts.URL, e.admin)
	waitUntil(t, "the stream to open", func() bool { return e.srv.live.openStreams(adminTokenID) == 1 })
	flood(t, e)
	// The handler is now blocked writing (or about to be); Close must end it.
	e.srv.Close()
	waitUntil(t, "the stalled stream to end at Close", func() bool { return e.srv.live.openStreams(adminTokenID) == 0 })
}

// Token guessing: an address that presented MaxFailedAuth wrong tokens
// within a minute gets 429 with Retry-After on every authenticated route,
// a right token included, until its budget refills; other addresses are
// not affected, and a spoofed X-Forwarded-For from an untrusted peer does
// not escape the limit.
func TestFailedAuthRateLimitPerAddress(t *testing.T) {
	proxy := netip.MustParsePrefix("127.0.0.1/32")
	e := newEnv(t, func(o *Options) {
		o.MaxFailedAuth = 3
		o.TrustedProxies = []netip.Prefix{proxy}
	})
	now := time.Now()
	e.srv.authLimit.now = func() time.Time { return now }
	from := func(addr string) string { return "X-Forwarded-For: " + addr }

	for i := range 3 {
		if r := e.req("GET", "/api/v1/tickets", "pbt_wrong"+strconv.Itoa(i), nil, from("198.51.100.7")); r.status != 401 {
			t.Fatalf("guess %d: %d", i, r.status)
		}
	}
	for _, tok := range []string{"pbt_wrong", e.admin} {
		r := e.req("GET", "/api/v1/tickets", tok, nil, from("198.51.100.7"))
		if r.status != http.StatusTooManyRequests || r.apiErr(t).Code != CodeAuthRateLimited {
			t.Fatalf("after the limit, token %q: %d %s", tok, r.status, r.body)
		}
		if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 || secs > 60 {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
	}
	// A missing header is no guess; public routes are not limited.
	e.must(200, "GET", "/healthz", "", nil, from("198.51.100.7"))
	// Another client behind the same proxy is not affected.
	e.must(200, "GET", "/api/v1/tickets", e.admin, nil, from("198.51.100.8"))
	// The proxy appends the peer: an address the client wrote itself in
	// front does not change who it is.
	if r := e.req("GET", "/api/v1/tickets", e.admin, nil, "X-Forwarded-For: 203.0.113.1, 198.51.100.7"); r.status != http.StatusTooManyRequests {
		t.Fatalf("spoofed X-Forwarded-For escaped the limit: %d", r.status)
	}
	// The budget refills: one guess per 20 s at 3 a minute.
	now = now.Add(21 * time.Second)
	e.must(200, "GET", "/api/v1/tickets", e.admin, nil, from("198.51.100.7"))

	// Without trusted proxies X-Forwarded-For is ignored: the TCP peer is
	// the client, so a header cannot escape the limit.
	e2 := newEnv(t, func(o *Options) { o.MaxFailedAuth = 2 })
	for i := range 2 {
		e2.req("GET", "/api/v1/me", "pbt_x", nil, "X-Forwarded-For: 192.0.2."+strconv.Itoa(i))
	}
	if r := e2.req("GET", "/api/v1/me", e2.admin, nil, "X-Forwarded-For: 192.0.2.99"); r.status != http.StatusTooManyRequests {
		t.Fatalf("untrusted X-Forwarded-For escaped the limit: %d", r.status)
	}
}

// clientKey reads X-Forwarded-For, outside input: it must never panic
// and always return a valid bucket for a valid peer.
func FuzzClientKey(f *testing.F) {
	f.Add("127.0.0.1:1234", "203.0.113.1, 10.0.0.1")
	f.Add("[::1]:80", "2001:db8::1")
	f.Add("10.0.0.2:5", "garbage,,  ,::ffff:1.2.3.4")
	a := newAuthLimiter(5, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")})
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		k := a.clientKey(r)
		if peerAddr(remote).IsValid() && !k.IsValid() {
			t.Fatalf("peer %q, X-Forwarded-For %q: no bucket", remote, xff)
		}
	})
}

// The limiter forgets addresses whose budget refilled, so failing
// addresses do not accumulate without bound.
func TestFailedAuthLimiterForgetsRefilledAddresses(t *testing.T) {
	a := newAuthLimiter(2, nil)
	now := time.Now()
	a.now = func() time.Time { return now }
	for i := range authLimiterPrune {
		a.fail(&http.Request{RemoteAddr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String() + ":1"})
	}
	if len(a.addrs) != authLimiterPrune {
		t.Fatalf("%d addresses tracked", len(a.addrs))
	}
	now = now.Add(2 * time.Minute)
	a.fail(&http.Request{RemoteAddr: "192.0.2.1:1"})
	if len(a.addrs) != 1 {
		t.Fatalf("%d addresses tracked after their budgets refilled, want 1", len(a.addrs))
	}
}

// Revoked token, other long answers: a download in progress with a token
// that is revoked stops (the client gets a short body), instead of
// streaming on to its end.
func TestRevokedTokenEndsDownload(t *testing.T) {
	e := newEnv(t)
	ts := smallSendBuffers(t, e.srv)
	tok, _ := e.agentToken("Grace", "grace@example.test")
	data := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16) // 4 MiB
	var att struct {
		ID string `json:"id"`
	}
	if r := e.upload(e.admin, "?filename=big.pdf", "application/pdf", data); r.status != 201 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	} else {
		r.decode(t, &att)
	}
	tk := e.createTicket(e.admin, "with a big file", "c@example.test")
	e.must(201, "POST", fmt.Sprintf("/api/v1/tickets/%d/comments", tk.ID), e.admin, map[string]any{"body": "file", "public": false, "attachment_ids": []string{att.ID}})
	conn := stalledRequest(t, ts.URL, "GET /api/v1/attachments/"+att.ID, tok)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("download: %v %v", err, res)
	}
	id := testTokenID(t, e, tok)
	waitUntil(t, "the download to be registered", func() bool {
		e.srv.live.mu.Lock()
		defer e.srv.live.mu.Unlock()
		return len(e.srv.live.byToken[id]) == 1
	})
	e.must(204, "DELETE", "/api/v1/tokens/"+id, e.admin, nil)
	waitUntil(t, "the download to end", func() bool {
		e.srv.live.mu.Lock()
		defer e.srv.live.mu.Unlock()
		return len(e.srv.live.byToken[id]) == 0
	})
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := io.Copy(io.Discard, res.Body)
	if err == nil || n >= int64(len(data)) {
		t.Fatalf("the revoked token's download went on: %d of %d bytes, %v", n, len(data), err)
	}
}

// stalledRequest sends a GET over a connection with a tiny receive buffer
// and returns the connection unread.
func stalledRequest(t *testing.T, srvURL, requestLine, token string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		_ = c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
		return serr
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(srvURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", requestLine, token)
	return conn
}
