package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/internal/e2etest"
	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/fakegraph"
	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/webhook"
)

// shared builds the core and plugin binaries once for the end-to-end tests.
var shared e2etest.Shared

// TestMain removes the binaries the end-to-end tests built.
func TestMain(m *testing.M) { os.Exit(shared.Main(m)) }

// TestEndToEnd runs the real patchbay binary with the real WhatsApp plugin
// against the loopback fake Graph API: the webhook handshake, a signed
// message in, the ticket through the API, a reply out at the fake, and
// Meta's delivery statuses back on the reply.
func TestEndToEnd(t *testing.T) {
	bin := shared.Binaries(t)
	g := fakegraph.New(phoneNumberID, accessToken)
	t.Cleanup(g.Close)
	pdf := bytes.Repeat([]byte("%PDF-1.7 e2e\n"), 100)
	pdfSHA := g.AddMedia("8001", "application/pdf", pdf)

	core := e2etest.Start(t, bin, e2etest.Options{
		Channels: fmt.Sprintf(`
channel "wa" {
  plugin = "whatsapp"
  config {
    phone_number_id = %q
    access_token    = env("E2E_WA_TOKEN")
    app_secret      = env("E2E_WA_SECRET")
    verify_token    = %q
    api_url         = %q
  }
}
`, phoneNumberID, verifyToken, g.URL),
		Env:         []string{"E2E_WA_TOKEN=" + accessToken, "E2E_WA_SECRET=" + appSecret},
		WaitRunning: []string{"wa"},
	})
	hooks := core.URL + "/hooks/wa"

	var channels struct {
		Channels []struct {
			Name         string `json:"name"`
			Plugin       string `json:"plugin"`
			Capabilities struct {
				ReplyWindowSeconds int64 `json:"reply_window_seconds"`
			} `json:"capabilities"`
		} `json:"channels"`
	}
	if st := core.JSON("GET", "/api/v1/channels", nil, &channels); st != 200 || len(channels.Channels) != 1 ||
		channels.Channels[0].Plugin != "whatsapp" || channels.Channels[0].Capabilities.ReplyWindowSeconds != 86400 {
		t.Fatalf("channels: %d %+v", st, channels)
	}

	// The subscription handshake through the core.
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {verifyToken}, "hub.challenge": {"31337"}}
	resp, err := http.Get(hooks + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "31337" {
		t.Fatalf("handshake: %d %q", resp.StatusCode, body)
	}

	post := func(payload []byte, sig string) int {
		t.Helper()
		header := http.Header{"Content-Type": {"application/json"}}
		if sig != "" {
			header.Set("X-Hub-Signature-256", sig)
		}
		st, _ := core.Hook("wa", payload, header)
		return st
	}
	contacts := []map[string]any{fakegraph.Contact("Sheena Nelson", customerWaID, "")}
	msg := fakegraph.Notification{PhoneNumberID: phoneNumberID, Contacts: contacts, Messages: []map[string]any{
		fakegraph.TextMessage(customerWaID, "wamid.E2E1", "Does it come in another color?", time.Now().Add(-time.Minute)),
		fakegraph.MediaMessage(customerWaID, "wamid.E2E2", "document", map[string]any{"id": "8001", "mime_type": "application/pdf", "sha256": pdfSHA, "filename": "order.pdf"}, time.Now()),
	}}.Body()
	if code := post(msg, webhook.Sign("wrong-secret", msg)); code != 401 {
		t.Fatalf("badly signed webhook answered %d, want 401", code)
	}
	if code := post(msg, webhook.Sign(appSecret, msg)); code != 200 {
		t.Fatalf("signed webhook answered %d; logs:\n%s", code, core.Logs())
	}
	// Meta's redelivery stores nothing twice.
	if code := post(msg, webhook.Sign(appSecret, msg)); code != 200 {
		t.Fatalf("redelivery answered %d", code)
	}

	ts := core.Tickets("wa")
	if len(ts) != 1 {
		t.Fatalf("tickets: %+v", ts)
	}
	tk := ts[0]
	if tk.Via != "whatsapp" {
		t.Errorf("ticket via %q", tk.Via)
	}
	comments := func() []e2etest.Comment { return core.Comments(tk.ID) }
	cs := comments()
	if len(cs) != 2 || cs[0].Body != "Does it come in another color?" || cs[0].ExternalID != "wamid.E2E1" {
		t.Fatalf("comments = %+v", cs)
	}
	if len(cs[1].Attachments) != 1 || cs[1].Attachments[0].Filename != "order.pdf" || cs[1].Attachments[0].Size != int64(len(pdf)) {
		t.Fatalf("attachment comment = %+v", cs[1])
	}

	// The agent replies; the reply reaches the fake Graph API.
	var created e2etest.Comment
	if st := core.JSON("POST", fmt.Sprintf("/api/v1/tickets/%d/comments", tk.ID), map[string]any{"body": "Yes, in blue and green.", "public": true}, &created); st != 201 && st != 200 {
		t.Fatalf("reply: %d", st)
	}
	var wamid string
	e2etest.Eventually(t, 60*time.Second, "the reply at the fake Graph API", func() bool {
		for _, s := range g.Sent() {
			if s.Type() == "text" && s.Field("text", "body") == "Yes, in blue and green." && s.To() == customerWaID {
				wamid = s.ID
				return true
			}
		}
		return false
	})
	delivery := func() string {
		for _, c := range comments() {
			if c.ID == created.ID && c.Delivery != nil {
				return c.Delivery.Status + "|" + c.Delivery.ExternalID
			}
		}
		return ""
	}
	e2etest.Eventually(t, 60*time.Second, "delivery sent with the wamid", func() bool { return delivery() == "sent|"+wamid })

	// Meta's statuses update the delivery; a late "delivered" does not move
	// "read" back.
	for _, status := range []string{"read", "delivered"} {
		st := fakegraph.Notification{PhoneNumberID: phoneNumberID, Statuses: []map[string]any{
			fakegraph.StatusUpdate(wamid, status, customerWaID, time.Now()),
		}}.Body()
		if code := post(st, webhook.Sign(appSecret, st)); code != 200 {
			t.Fatalf("status %s answered %d", status, code)
		}
	}
	e2etest.Eventually(t, 30*time.Second, "delivery read", func() bool { return delivery() == "read|"+wamid })
	// Meta answers 429 once: the core retries (honouring Retry-After) and
	// the reply ends up sent.
	g.FailNext("messages", fakegraph.Failure{HTTPStatus: 429, Code: 130429, Message: "Rate limit hit", RetryAfter: "1"})
	var second e2etest.Comment
	if st := core.JSON("POST", fmt.Sprintf("/api/v1/tickets/%d/comments", tk.ID), map[string]any{"body": "Blue is back in stock.", "public": true}, &second); st != 201 && st != 200 {
		t.Fatalf("second reply: %d", st)
	}
	e2etest.Eventually(t, 60*time.Second, "the retried reply sent", func() bool {
		for _, c := range comments() {
			if c.ID == second.ID && c.Delivery != nil && c.Delivery.Status == "sent" {
				return strings.HasPrefix(c.Delivery.ExternalID, "wamid.")
			}
		}
		return false
	})
	if n := g.Hits("messages"); n < 3 {
		t.Errorf("the fake saw %d sends, want the 429 and the retry", n)
	}

	// A customer who last wrote 25 hours ago: the reply fails with
	// window_closed, visibly (Meta refuses it with 131047: the plugin's
	// own clock alone never fails a reply), and nothing is delivered.
	const oldCustomer = "447700900123"
	g.SetLastInbound(oldCustomer, time.Now().Add(-25*time.Hour))
	old := fakegraph.Notification{PhoneNumberID: phoneNumberID,
		Contacts: []map[string]any{fakegraph.Contact("Old Customer", oldCustomer, "")},
		Messages: []map[string]any{fakegraph.TextMessage(oldCustomer, "wamid.E2EOLD", "Hello?", time.Now().Add(-25*time.Hour))}}.Body()
	if code := post(old, webhook.Sign(appSecret, old)); code != 200 {
		t.Fatalf("old message answered %d", code)
	}
	all := core.Tickets("wa")
	if len(all) != 2 {
		t.Fatalf("tickets = %+v, want 2", all)
	}
	oldTicket := all[0].ID // newest first
	sentBefore := len(g.Sent())
	var late e2etest.Comment
	if st := core.JSON("POST", fmt.Sprintf("/api/v1/tickets/%d/comments", oldTicket), map[string]any{"body": "Sorry for the delay!", "public": true}, &late); st != 201 && st != 200 {
		t.Fatalf("late reply: %d", st)
	}
	e2etest.Eventually(t, 60*time.Second, "the late reply failed with window_closed", func() bool {
		for _, c := range core.Comments(oldTicket) {
			if c.ID == late.ID && c.Delivery != nil && c.Delivery.Status == "failed" {
				if !strings.Contains(c.Delivery.Error, "window_closed") {
					t.Fatalf("failed delivery error = %q", c.Delivery.Error)
				}
				return true
			}
		}
		return false
	})
	if n := len(g.Sent()); n != sentBefore {
		t.Errorf("%d messages delivered by Meta for a reply outside the window", n-sentBefore)
	}

	if logs := core.Logs(); strings.Contains(logs, accessToken) || strings.Contains(logs, appSecret) {
		t.Error("the core's log contains a WhatsApp secret")
	}
}

// TestEndToEndTemplateOutsideWindow: with a template configured, a reply to
// a customer who last wrote 30 hours ago goes out as that template.
func TestEndToEndTemplateOutsideWindow(t *testing.T) {
	bin := shared.Binaries(t)
	g := fakegraph.New(phoneNumberID, accessToken)
	t.Cleanup(g.Close)
	core := e2etest.Start(t, bin, e2etest.Options{
		Channels: fmt.Sprintf(`
channel "wa" {
  plugin = "whatsapp"
  config {
    phone_number_id = %q
    access_token    = %q
    app_secret      = %q
    verify_token    = %q
    api_url         = %q
    template {
      name           = "reopen_conversation"
      language       = "en_US"
      body_parameter = true
    }
  }
}
`, phoneNumberID, accessToken, appSecret, verifyToken, g.URL),
		WaitRunning: []string{"wa"},
	})
	msg := fakegraph.Notification{PhoneNumberID: phoneNumberID,
		Contacts: []map[string]any{fakegraph.Contact("Ana", customerWaID, "")},
		Messages: []map[string]any{fakegraph.TextMessage(customerWaID, "wamid.TPL1", "Any news?", time.Now().Add(-30*time.Hour))}}.Body()
	if st, _ := core.Hook("wa", msg, http.Header{"X-Hub-Signature-256": {webhook.Sign(appSecret, msg)}}); st != 200 {
		t.Fatalf("webhook answered %d", st)
	}
	ts := core.Tickets("wa")
	if len(ts) != 1 {
		t.Fatalf("tickets: %+v", ts)
	}
	id := ts[0].ID
	if st, body := core.Do("POST", fmt.Sprintf("/api/v1/tickets/%d/comments", id), map[string]any{"body": "It shipped\ntoday.", "public": true}); st != 201 && st != 200 {
		t.Fatalf("reply: %d %s", st, body)
	}
	e2etest.Eventually(t, 60*time.Second, "the template at the fake Graph API", func() bool {
		for _, s := range g.Sent() {
			if s.Type() == "template" && s.Field("template", "name") == "reopen_conversation" &&
				s.Field("template", "components", "0", "parameters", "0", "text") == "It shipped today." {
				return true
			}
		}
		return false
	})
	for _, s := range g.Sent() {
		if s.Type() == "text" {
			t.Errorf("a free-form message was sent outside the window: %s", s.Raw)
		}
	}
}
