package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/smtp"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/internal/bench"
	"github.com/patchbayhq/patchbay/internal/e2etest"
)

// secretSet is one distinctive value per configured secret.
type secretSet struct {
	slackSigning, slackBot, lineSecret, lineToken, mailPassword string
}

func newSecrets() secretSet {
	return secretSet{
		slackSigning: "slk-signing-e2e-a9c4e7d21b",
		slackBot:     "xoxb-e2e-7731-secretbot-9f2c",
		lineSecret:   "line-chsecret-e2e-55e0b3aa",
		lineToken:    "line-chtoken-e2e-c0ffee4411",
		mailPassword: "mail-pass-e2e-Q7w!z2",
	}
}

// allChannels is a core with every channel configured, secrets from env.
type allChannels struct {
	core    *e2etest.Core
	wa      *waFixture
	sec     secretSet
	smtp    string
	answers *answerLog
}

// answerLog keeps every HTTP answer body the test received.
type answerLog struct {
	mu   sync.Mutex
	body strings.Builder
}

func (a *answerLog) add(parts ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range parts {
		a.body.WriteString(p)
		a.body.WriteByte('\n')
	}
}

func (a *answerLog) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.body.String()
}

// traceBinaries wraps the core binary so that it runs with -log-level
// trace: the log scan then sees everything the core can print.
func traceBinaries(t *testing.T, bin e2etest.Binaries) e2etest.Binaries {
	t.Helper()
	wrapper := filepath.Join(t.TempDir(), "patchbay-trace")
	script := fmt.Sprintf("#!/bin/sh\nexec %q \"$@\" -log-level trace\n", bin.Patchbay)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	bin.Patchbay = wrapper
	return bin
}

func startAllChannels(t *testing.T, trace bool) *allChannels {
	t.Helper()
	bin := binaries(t)
	if trace {
		bin = traceBinaries(t, bin)
	}
	a := &allChannels{wa: newWA(t), sec: newSecrets(), smtp: e2etest.FreePort(t), answers: &answerLog{}}
	slackAPI := newFakeSlackAPI(t)
	lineAPI := newFakeLineAPI(t)
	// A relay port nobody listens on: outbound mail fails and retries.
	relay := e2etest.FreePort(t)
	channels := a.wa.hcl("wa") + fmt.Sprintf(`
channel "sl" {
  plugin = "slack"
  config {
    signing_secret = env("E2E_SLACK_SIGNING")
    bot_token      = env("E2E_SLACK_BOT")
    api_url        = %q
  }
}

channel "ln" {
  plugin = "line"
  config {
    channel_secret       = env("E2E_LINE_SECRET")
    channel_access_token = env("E2E_LINE_TOKEN")
    api_url              = %q
    data_api_url         = %q
  }
}

channel "mail" {
  plugin = "email"
  config {
    smtp_listen = %q
    address     = "support@sec.test"
    outbound    = env("E2E_MAIL_OUTBOUND")
  }
}
`, slackAPI.URL+"/api/", lineAPI.URL, lineAPI.URL, a.smtp)
	env := append(a.wa.env(),
		"E2E_SLACK_SIGNING="+a.sec.slackSigning, "E2E_SLACK_BOT="+a.sec.slackBot,
		"E2E_LINE_SECRET="+a.sec.lineSecret, "E2E_LINE_TOKEN="+a.sec.lineToken,
		"E2E_MAIL_OUTBOUND=smtp://relayuser:"+url.QueryEscape(a.sec.mailPassword)+"@"+relay+"?tls=none",
	)
	a.core = e2etest.Start(t, bin, e2etest.Options{Channels: channels, Env: env, WaitRunning: []string{"wa", "sl", "ln", "mail"}})
	return a
}

// hook posts a webhook and records the answer.
func (a *allChannels) hook(t *testing.T, channel string, body []byte, h http.Header) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.core.URL+"/hooks/"+channel, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range h {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("hook %s: %v", channel, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a.answers.add(fmt.Sprint(resp.Header), string(b))
	return resp.StatusCode
}

// do is an API call whose answer is recorded.
func (a *allChannels) do(method, path string, body any) (int, []byte) {
	st, b := a.core.Do(method, path, body)
	a.answers.add(string(b))
	return st, b
}

func (a *allChannels) ticketCount(t *testing.T, channel string) int {
	t.Helper()
	return len(listTickets(t, a.core, url.Values{"channel": {channel}}, nil))
}

// TestSecurityWebhookSignatures: every webhook channel rejects a missing,
// wrong or stale signature, or a body altered after signing, with 401 and
// stores nothing; the same payload correctly signed is accepted (the
// control that keeps the test honest).
func TestSecurityWebhookSignatures(t *testing.T) {
	t.Parallel()
	a := startAllChannels(t, false)
	now := time.Now()
	waBody, waSig := a.wa.message("4915100000001", "wamid.sec.1", "signed WhatsApp message")
	slBody := slackDM("Ev0SEC0001", fmt.Sprintf("%d.000100", now.Unix()), "signed Slack message")
	lnBody := lineText("01HSECURITY00000000000001", "510000000001", "signed LINE message")
	tamper := func(b []byte) []byte { return []byte(strings.Replace(string(b), "signed", "forged", 1)) }

	waH := func(sig string) http.Header { return http.Header{bench.WhatsAppSignatureHeader: {sig}} }
	lnH := func(sig string) http.Header { return http.Header{"X-Line-Signature": {sig}} }
	cases := []struct {
		name, channel string
		body          []byte
		header        http.Header
	}{
		{"whatsapp missing", "wa", waBody, nil},
		{"whatsapp wrong secret", "wa", waBody, waH(bench.SignWhatsApp("not-the-app-secret", waBody))},
		{"whatsapp malformed", "wa", waBody, waH("sha256=zz")},
		{"whatsapp sha1 form", "wa", waBody, waH("sha1=" + strings.TrimPrefix(waSig, "sha256="))},
		{"whatsapp tampered body", "wa", tamper(waBody), waH(waSig)},
		{"slack missing", "sl", slBody, nil},
		{"slack wrong secret", "sl", slBody, slackHeaders("not-the-signing-secret", slBody, now)},
		{"slack stale", "sl", slBody, slackHeaders(a.sec.slackSigning, slBody, now.Add(-6*time.Minute))},
		{"slack future", "sl", slBody, slackHeaders(a.sec.slackSigning, slBody, now.Add(6*time.Minute))},
		{"slack tampered body", "sl", tamper(slBody), slackHeaders(a.sec.slackSigning, slBody, now)},
		{"line missing", "ln", lnBody, nil},
		{"line wrong secret", "ln", lnBody, lnH(lineSignature("not-the-channel-secret", lnBody))},
		{"line tampered body", "ln", tamper(lnBody), lnH(lineSignature(a.sec.lineSecret, lnBody))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if st := a.hook(t, tc.channel, tc.body, tc.header); st != http.StatusUnauthorized {
				t.Errorf("answered %d, want 401", st)
			}
		})
	}
	for _, ch := range []string{"wa", "sl", "ln"} {
		if n := a.ticketCount(t, ch); n != 0 {
			t.Errorf("channel %s: %d tickets after rejected webhooks", ch, n)
		}
	}
	// Control: the same payloads correctly signed are stored.
	controls := []struct {
		channel string
		body    []byte
		header  http.Header
	}{
		{"wa", waBody, waH(waSig)},
		{"sl", slBody, slackHeaders(a.sec.slackSigning, slBody, time.Now())},
		{"ln", lnBody, lnH(lineSignature(a.sec.lineSecret, lnBody))},
	}
	for _, c := range controls {
		if st := a.hook(t, c.channel, c.body, c.header); st != http.StatusOK {
			t.Errorf("channel %s: correctly signed webhook answered %d; logs:\n%s", c.channel, st, a.core.Logs())
			continue
		}
		if n := a.ticketCount(t, c.channel); n != 1 {
			t.Errorf("channel %s: %d tickets after the signed webhook, want 1", c.channel, n)
		}
	}
}

// TestSecurityAPITokens: missing, malformed, wrong and revoked tokens get
// 401; an agent token on an admin route gets 403; nothing changes.
func TestSecurityAPITokens(t *testing.T) {
	t.Parallel()
	bin := binaries(t)
	core := e2etest.Start(t, bin, e2etest.Options{})
	call := func(method, path, auth string, body string) int {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, core.URL+path, r)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var created struct {
		ID    uint64 `json:"id"`
		Token string `json:"token"`
	}
	if st := core.JSON("POST", "/api/v1/tokens", map[string]any{"name": "Ada Agent", "email": "ada@sec.test"}, &created); st != http.StatusCreated || created.Token == "" {
		t.Fatalf("create agent token: %d %+v", st, created)
	}
	agent := "Bearer " + created.Token
	ticketBody := `{"subject":"token test","comment":{"body":"hi"},"requester":{"name":"R","email":"r@sec.test"}}`
	cases := []struct {
		name, method, path, auth, body string
		want                           int
	}{
		{"no token", "GET", "/api/v1/tickets", "", "", 401},
		{"empty bearer", "GET", "/api/v1/tickets", "Bearer ", "", 401},
		{"basic scheme", "GET", "/api/v1/tickets", "Basic " + e2etest.AdminToken, "", 401},
		{"wrong token", "GET", "/api/v1/tickets", "Bearer pbk_wrongwrongwrongwrong", "", 401},
		{"admin token prefix", "GET", "/api/v1/tickets", "Bearer " + e2etest.AdminToken[:len(e2etest.AdminToken)-1], "", 401},
		{"no token create", "POST", "/api/v1/tickets", "", ticketBody, 401},
		{"agent reads", "GET", "/api/v1/tickets", agent, "", 200},
		{"agent lists tokens", "GET", "/api/v1/tokens", agent, "", 403},
		{"agent creates token", "POST", "/api/v1/tokens", agent, `{"name":"Eve","email":"eve@sec.test","role":"admin"}`, 403},
		{"agent revokes token", "DELETE", fmt.Sprintf("/api/v1/tokens/%d", created.ID), agent, "", 403},
		{"admin lists tokens", "GET", "/api/v1/tokens", "Bearer " + e2etest.AdminToken, "", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if st := call(tc.method, tc.path, tc.auth, tc.body); st != tc.want {
				t.Errorf("%s %s: %d, want %d", tc.method, tc.path, st, tc.want)
			}
		})
	}
	if n := len(listTickets(t, core, nil, nil)); n != 0 {
		t.Errorf("%d tickets created by refused requests", n)
	}
	// Revoked: the token stops working at once.
	if st, b := core.Do("DELETE", fmt.Sprintf("/api/v1/tokens/%d", created.ID), nil); st/100 != 2 {
		t.Fatalf("revoke: %d %s", st, b)
	}
	if st := call("GET", "/api/v1/tickets", agent, ""); st != 401 {
		t.Errorf("revoked token: %d, want 401", st)
	}
	if st := call("POST", "/api/v1/tickets", agent, ticketBody); st != 401 {
		t.Errorf("revoked token creating a ticket: %d, want 401", st)
	}
	if n := len(listTickets(t, core, nil, nil)); n != 0 {
		t.Errorf("%d tickets created by refused requests", n)
	}
}

// TestSecurityNoSecretInOutput configures every channel with distinctive
// secret values through env("…"), runs signed and badly signed webhooks,
// replies that fail at the providers, an SMTP delivery and a mail reply to
// an unreachable relay (whose URL carries a password), then scans the
// core's whole log output (at trace level, plugins' logs included), every
// API answer and webhook answer, and `patchbay validate`'s output: no
// secret value may appear anywhere.
func TestSecurityNoSecretInOutput(t *testing.T) {
	t.Parallel()
	a := startAllChannels(t, true)
	now := time.Now()

	// Webhooks, good and bad, on every webhook channel.
	waBody, waSig := a.wa.message("4915100000002", "wamid.leak.1", "leak test")
	a.hook(t, "wa", waBody, http.Header{bench.WhatsAppSignatureHeader: {waSig}})
	a.hook(t, "wa", waBody, http.Header{bench.WhatsAppSignatureHeader: {"sha256=" + strings.Repeat("0", 64)}})
	slBody := slackDM("Ev0LEAK001", fmt.Sprintf("%d.000200", now.Unix()), "leak test")
	a.hook(t, "sl", slBody, slackHeaders(a.sec.slackSigning, slBody, now))
	a.hook(t, "sl", slBody, slackHeaders(a.sec.slackSigning, slBody, now.Add(-time.Hour)))
	a.hook(t, "sl", slBody, slackHeaders("bad", slBody, now))
	lnBody := lineText("01HLEAK0000000000000000001", "520000000001", "leak test")
	a.hook(t, "ln", lnBody, http.Header{"X-Line-Signature": {lineSignature(a.sec.lineSecret, lnBody)}})
	a.hook(t, "ln", lnBody, http.Header{"X-Line-Signature": {"AAAA"}})
	// WhatsApp's subscription handshake, right and wrong verify token.
	for _, vt := range []string{a.wa.verify, "wrong-verify"} {
		q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {vt}, "hub.challenge": {"42"}}
		if resp, err := http.Get(a.core.URL + "/hooks/wa?" + q.Encode()); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			a.answers.add(string(b))
		}
	}
	// A mail through the SMTP listener.
	msg := "From: Bob <bob@customer.test>\r\nTo: support@sec.test\r\nSubject: leak test\r\nMessage-ID: <leak-1@customer.test>\r\n\r\nHello.\r\n"
	if err := smtp.SendMail(a.smtp, nil, "bob@customer.test", []string{"support@sec.test"}, []byte(msg)); err != nil {
		t.Errorf("smtp: %v", err)
	}

	// A public reply on each ticket: Slack answers channel_not_found, LINE
	// 500, the mail relay refuses connections, WhatsApp accepts.
	for _, ch := range []string{"wa", "sl", "ln", "mail"} {
		e2etest.Eventually(t, 30*time.Second, "a ticket on "+ch, func() bool { return a.ticketCount(t, ch) == 1 })
		tk := listTickets(t, a.core, url.Values{"channel": {ch}}, nil)[0]
		if st, b := a.do("POST", fmt.Sprintf("/api/v1/tickets/%d/comments", tk.ID), map[string]any{"body": "reply on " + ch, "public": true}); st != http.StatusCreated {
			t.Errorf("reply on %s: %d %s", ch, st, b)
		}
	}
	// Wait until every failing send was attempted at least once.
	for _, ch := range []string{"sl", "ln", "mail"} {
		tk := listTickets(t, a.core, url.Values{"channel": {ch}}, nil)[0]
		e2etest.Eventually(t, 60*time.Second, "a failed send attempt on "+ch, func() bool {
			for _, c := range listComments(t, a.core, tk.ID) {
				if c.Delivery != nil && (c.Delivery.Error != "" || c.Delivery.Status == "failed") {
					t.Logf("%s reply: %s after %d attempt(s): %s", ch, c.Delivery.Status, c.Delivery.Attempts, c.Delivery.Error)
					return true
				}
			}
			return false
		})
	}
	// Everything the API shows.
	for _, p := range []string{"/api/v1/channels", "/api/v1/tickets", "/api/v1/tokens", "/api/v1/me", "/metrics", "/api/v1/tickets/999999", "/api/v1/nope"} {
		a.do("GET", p, nil)
	}
	for _, ch := range []string{"wa", "sl", "ln", "mail"} {
		for _, tk := range listTickets(t, a.core, url.Values{"channel": {ch}}, nil) {
			a.do("GET", fmt.Sprintf("/api/v1/tickets/%d", tk.ID), nil)
			a.do("GET", fmt.Sprintf("/api/v1/tickets/%d/comments", tk.ID), nil)
		}
	}
	a.do("POST", "/api/v1/tickets", map[string]any{"subject": 7}) // a 400/422 error body
	// patchbay validate over the same configuration and environment.
	cmd := exec.CommandContext(context.Background(), bins.Patchbay, "validate", "-config", a.core.Config)
	cmd.Env = append(os.Environ(), a.wa.env()...)
	cmd.Env = append(cmd.Env,
		"E2E_SLACK_SIGNING="+a.sec.slackSigning, "E2E_SLACK_BOT="+a.sec.slackBot,
		"E2E_LINE_SECRET="+a.sec.lineSecret, "E2E_LINE_TOKEN="+a.sec.lineToken,
		"E2E_MAIL_OUTBOUND=smtp://relayuser:"+url.QueryEscape(a.sec.mailPassword)+"@127.0.0.1:1?tls=none")
	validate, _ := cmd.CombinedOutput()
	a.core.Stop() // flush the shutdown logs too

	logs := a.core.Logs()
	if len(logs) < 1000 || !strings.Contains(logs, "sl") || !strings.Contains(logs, "ln") {
		t.Fatalf("the log scan would be vacuous: %d bytes of logs", len(logs))
	}
	t.Logf("scanned %d bytes of logs, %d bytes of HTTP answers, %d bytes of validate output", len(logs), len(a.answers.String()), len(validate))
	secrets := map[string]string{
		"whatsapp access_token": a.wa.token, "whatsapp app_secret": a.wa.secret, "whatsapp verify_token": a.wa.verify,
		"slack signing_secret": a.sec.slackSigning, "slack bot_token": a.sec.slackBot,
		"line channel_secret": a.sec.lineSecret, "line channel_access_token": a.sec.lineToken,
		"smtp relay password": a.sec.mailPassword, "smtp relay password (url-escaped)": url.QueryEscape(a.sec.mailPassword),
		"admin token": e2etest.AdminToken,
	}
	outputs := map[string]string{"core log": logs, "HTTP answers": a.answers.String(), "patchbay validate": string(validate)}
	for what, out := range outputs {
		for name, secret := range secrets {
			if i := strings.Index(out, secret); i >= 0 {
				lo, hi := max(0, i-200), min(len(out), i+len(secret)+50)
				t.Errorf("%s contains the %s: …%s…", what, name, out[lo:hi])
			}
		}
	}
}
