package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/internal/e2etest"
)

// Revoked token, against the real binary: an agent's open event stream
// delivers comment bodies until the agent's token is revoked, then ends
// within a second; the admin's own stream goes on, and nothing created
// after the revocation reaches the revoked client.
func TestE2ERevokedTokenEndsEventStream(t *testing.T) {
	core := e2etest.Start(t, binaries(t), e2etest.Options{})
	var tok struct {
		ID    uint64 `json:"id"`
		Token string `json:"token"`
	}
	if st := core.JSON("POST", "/api/v1/tokens", map[string]any{"name": "Grace", "email": "grace@acme.test"}, &tok); st != 201 {
		t.Fatalf("create token: %d", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", core.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("open stream: %v %v", err, resp)
	}
	lines := make(chan string, 256)
	go func() {
		defer close(lines)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	createTicket := func(body string) {
		t.Helper()
		st, b := core.Do("POST", "/api/v1/tickets", map[string]any{"subject": "s", "comment": map[string]any{"body": body},
			"requester": map[string]any{"name": "Ada", "email": "ada@customer.test"}})
		if st != 201 {
			t.Fatalf("create ticket: %d %s", st, b)
		}
	}
	createTicket("before the revocation")
	waitLine := func(want string) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("stream ended before %q", want)
				}
				if strings.Contains(l, want) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q on the stream", want)
			}
		}
	}
	waitLine("before the revocation")

	if st, b := core.Do("DELETE", fmt.Sprintf("/api/v1/tokens/%d", tok.ID), nil); st != 204 {
		t.Fatalf("revoke: %d %s", st, b)
	}
	revokedAt := time.Now()
	createTicket("after the revocation")
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				took := time.Since(revokedAt)
				t.Logf("stream ended %v after the revocation", took)
				if took > 5*time.Second {
					// Not a latency measurement: the end is immediate; only a
					// store-side revocation waits for the 1 s re-check.
					t.Errorf("the stream ended %v after the revocation", took)
				}
				return
			}
			if strings.Contains(l, "after the revocation") {
				t.Fatal("the revoked stream delivered a comment created after the revocation")
			}
		case <-deadline:
			t.Fatal("the revoked token's stream is still open")
		}
	}
}

// Server-side request forgery, against the real binary: literal internal
// addresses are refused with 422 when a webhook is saved; a name that
// resolves to loopback is refused when the call is made (the receiver
// never hears of it); a redirect, even to an allowed address, is not
// followed. The only internal network this core allows is 127.0.0.2/32.
func TestE2EWebhookSSRFRefusals(t *testing.T) {
	core := e2etest.Start(t, binaries(t), e2etest.Options{Channels: `
outgoing_webhooks { allow_networks = ["127.0.0.2/32"] }
`})
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://[::1]:8080/", "http://0x7f000001/", "http://127.0.0.1:9/", "http://10.0.0.1/"} {
		st, b := core.Do("POST", "/api/v1/webhooks", map[string]any{"name": "w", "url": u})
		if st != 422 || !strings.Contains(string(b), `"field":"url"`) {
			t.Errorf("webhook to %s: %d %s, want 422 on url", u, st, b)
		}
	}

	var loopHits, targetHits, redirectHits atomic.Int64
	loop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { loopHits.Add(1) }))
	defer loop.Close()
	target := serveOn(t, "127.0.0.2:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { targetHits.Add(1) }))
	redirector := serveOn(t, "127.0.0.2:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirectHits.Add(1)
		http.Redirect(w, r, target+"/internal", http.StatusTemporaryRedirect)
	}))
	_, loopPort, _ := net.SplitHostPort(strings.TrimPrefix(loop.URL, "http://"))

	var byName, redirect struct{ ID uint64 }
	if st := core.JSON("POST", "/api/v1/webhooks", map[string]any{"name": "by name", "url": "http://localhost:" + loopPort + "/hook"}, &byName); st != 201 {
		t.Fatalf("webhook by name: %d", st)
	}
	if st := core.JSON("POST", "/api/v1/webhooks", map[string]any{"name": "redirect", "url": redirector + "/hook"}, &redirect); st != 201 {
		t.Fatalf("webhook to the redirector: %d", st)
	}
	if st, b := core.Do("POST", "/api/v1/triggers", map[string]any{"title": "notify",
		"conditions": map[string]any{"all": []any{map[string]any{"field": "update_type", "operator": "is", "value": "created"}}},
		"actions":    []any{map[string]any{"field": "notify_webhook", "value": byName.ID}, map[string]any{"field": "notify_webhook", "value": redirect.ID}}}); st != 201 {
		t.Fatalf("trigger: %d %s", st, b)
	}
	if st, b := core.Do("POST", "/api/v1/tickets", map[string]any{"subject": "s", "comment": map[string]any{"body": "b"},
		"requester": map[string]any{"name": "Ada", "email": "ada@customer.test"}}); st != 201 {
		t.Fatalf("ticket: %d %s", st, b)
	}
	type delivery struct {
		Status   string `json:"status"`
		Attempts []struct {
			StatusCode int    `json:"status_code"`
			Error      string `json:"error"`
		} `json:"attempts"`
	}
	failed := func(id uint64) delivery {
		var d delivery
		e2etest.Eventually(t, 30*time.Second, fmt.Sprintf("webhook %d's delivery to fail", id), func() bool {
			var page struct {
				Deliveries []delivery `json:"deliveries"`
			}
			st, b := core.Do("GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries", id), nil)
			if st != 200 || json.Unmarshal(b, &page) != nil || len(page.Deliveries) != 1 || page.Deliveries[0].Status != "failed" {
				return false
			}
			d = page.Deliveries[0]
			return true
		})
		return d
	}
	if d := failed(byName.ID); len(d.Attempts) != 1 || !strings.Contains(d.Attempts[0].Error, "refused") || !strings.Contains(d.Attempts[0].Error, "loopback") {
		t.Errorf("the call to a name resolving to loopback: %+v", d)
	}
	if d := failed(redirect.ID); len(d.Attempts) != 1 || d.Attempts[0].StatusCode != http.StatusTemporaryRedirect || !strings.Contains(d.Attempts[0].Error, "redirects are not followed") {
		t.Errorf("the redirected call: %+v", d)
	}
	if n := loopHits.Load(); n != 0 {
		t.Errorf("the loopback receiver got %d requests", n)
	}
	if n := targetHits.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests", n)
	}
	if n := redirectHits.Load(); n != 1 {
		t.Errorf("the redirector got %d requests, want 1", n)
	}
}

// serveOn serves h on addr (e.g. another loopback address) until the test
// ends and returns its base URL.
func serveOn(t *testing.T, addr string, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// Secrets in the core's log, with a real provider plugin: a fake Graph API
// that refuses the WhatsApp access token and quotes it back in its error
// (as the real one does: "Cannot parse access token: EAA…") makes the
// plugin log the error and report it as its status. At trace level, the
// core's whole log and GET /api/v1/channels show neither the token nor the
// admin token.
func TestE2ELogScrubsSecretEchoedByProvider(t *testing.T) {
	const token = "EAAecho-e2e-token-5d6e7f8a9b"
	var calls atomic.Int64
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		msg, _ := json.Marshal("Invalid OAuth access token - Cannot parse access token: " + got)
		fmt.Fprintf(w, `{"error":{"message":%s,"type":"OAuthException","code":190,"fbtrace_id":"Aecho"}}`, msg)
	}))
	defer graph.Close()
	core := e2etest.Start(t, traceBinaries(t, binaries(t)), e2etest.Options{
		Channels: fmt.Sprintf(`
channel "wa" {
  plugin = "whatsapp"
  config {
    phone_number_id = "106540352242922"
    access_token    = env("E2E_ECHO_TOKEN")
    app_secret      = "wa-app-secret-echo-e2e"
    verify_token    = "wa-verify-echo-e2e"
    api_url         = %q
  }
}
`, graph.URL),
		Env: []string{"E2E_ECHO_TOKEN=" + token},
	})
	e2etest.Eventually(t, 60*time.Second, "the plugin's refused credentials check in the log", func() bool {
		logs := core.Logs()
		return strings.Contains(logs, "plugin reported status") && strings.Contains(logs, "credentials check failed")
	})
	if calls.Load() == 0 {
		t.Fatal("the plugin never called the fake Graph API")
	}
	_, channels := core.Do("GET", "/api/v1/channels", nil)
	if !strings.Contains(string(channels), "Cannot parse access token") {
		t.Errorf("the channel's status does not carry the provider's answer: %s", channels)
	}
	core.Stop()
	logs := core.Logs()
	for what, out := range map[string]string{"core log": logs, "GET /api/v1/channels": string(channels)} {
		for name, secret := range map[string]string{"access token": token, "admin token": e2etest.AdminToken} {
			if i := strings.Index(out, secret); i >= 0 {
				lo, hi := max(0, i-200), min(len(out), i+len(secret)+50)
				t.Errorf("%s shows the %s: …%s…", what, name, out[lo:hi])
			}
		}
	}
	if !strings.Contains(logs, "Cannot parse access token: (redacted)") {
		t.Errorf("the echo is not in the log, redacted: the scan would be vacuous\n%s", logs)
	}
}
