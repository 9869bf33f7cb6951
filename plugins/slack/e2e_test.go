package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/internal/e2etest"
	"github.com/patchbayhq/patchbay/plugins/slack/internal/fakeslack"
	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
)

// shared builds the core and plugin binaries once for the end-to-end tests.
var shared e2etest.Shared

// TestMain removes the binaries the end-to-end tests built.
func TestMain(m *testing.M) { os.Exit(shared.Main(m)) }

// TestEndToEnd runs the real patchbay binary with the real Slack plugin
// binary against the loopback fake Slack.
func TestEndToEnd(t *testing.T) {
	bin := shared.Binaries(t)
	t.Run("contract_binary", func(t *testing.T) {
		fs := fakeslack.New(t)
		dm := fakeslack.Callback(fakeslack.DMEvent("1700000000.000010", nil))
		tg := common(t, fs, "events")
		tg.New = nil
		tg.Binary = filepath.Join(bin.PluginDir, "patchbay-plugin-slack")
		tg.Inbound = channeltest.WebhookReceiver(func(testing.TB) *sdk.WebhookRequest { return signed(dm) })
		tg.CheckDelivery = checkDM
		channeltest.Run(t, tg)
	})
	t.Run("hooks", func(t *testing.T) { testHooks(t, bin) })
	for _, mode := range []string{"events", "socket"} {
		t.Run("ticket_roundtrip_"+mode, func(t *testing.T) {
			testRoundTrip(t, bin, mode)
		})
	}
}

func startCore(t *testing.T, bin e2etest.Binaries, fs *fakeslack.Server, mode string, waitRunning []string) *e2etest.Core {
	return e2etest.Start(t, bin, e2etest.Options{
		Channels: fmt.Sprintf(`
channel "it-help" {
  plugin = "slack"
  config {
    mode           = %q
    signing_secret = env("SLACK_SIGNING_SECRET")
    bot_token      = env("SLACK_BOT_TOKEN")
    app_token      = env("SLACK_APP_TOKEN")
    api_url        = %q
  }
}
`, mode, fs.APIURL()),
		Env: []string{"SLACK_SIGNING_SECRET=" + fakeslack.Secret, "SLACK_BOT_TOKEN=" + fakeslack.BotToken,
			"SLACK_APP_TOKEN=" + fakeslack.AppToken},
		WaitRunning: waitRunning,
	})
}

// hook posts a Slack request to the core's /hooks/it-help.
func hook(t *testing.T, core *e2etest.Core, body []byte, header http.Header) (int, []byte) {
	t.Helper()
	return core.Hook("it-help", body, header)
}

// testHooks checks the webhook path through the real core and plugin
// processes: signature and replay rejection, url_verification, an ignored
// event acknowledged.
func testHooks(t *testing.T, bin e2etest.Binaries) {
	fs := fakeslack.New(t)
	core := startCore(t, bin, fs, "events", nil)
	dm := fakeslack.Callback(fakeslack.DMEvent("1700000000.000050", nil))
	// Until the plugin is up the core answers 503; then the plugin answers.
	e2etest.Eventually(t, 60*time.Second, "the plugin answering a badly signed event with 401", func() bool {
		st, _ := hook(t, core, dm, fakeslack.SignedHeaders("wrong", dm, time.Now()))
		return st == http.StatusUnauthorized
	})
	old := fakeslack.SignedHeaders(fakeslack.Secret, dm, time.Now().Add(-10*time.Minute))
	if st, _ := hook(t, core, dm, old); st != http.StatusUnauthorized {
		t.Errorf("replayed (10 min old) event answered %d, want 401", st)
	}
	challenge := []byte(`{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)
	st, body := hook(t, core, challenge, fakeslack.SignedHeaders(fakeslack.Secret, challenge, time.Now()))
	if st != http.StatusOK || !strings.Contains(string(body), "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P") {
		t.Errorf("url_verification answered %d %s", st, body)
	}
	mention := fakeslack.Callback(map[string]any{"type": "app_mention", "user": "U0ALICE", "text": "<@U0HANDLE> hi",
		"ts": "1700000000.000051", "channel": "C0GENERAL", "event_ts": "1700000000.000051"})
	if st, _ := hook(t, core, mention, fakeslack.SignedHeaders(fakeslack.Secret, mention, time.Now())); st != http.StatusOK {
		t.Errorf("app_mention answered %d, want 200 (acknowledged, ignored)", st)
	}

	if strings.Contains(core.Logs(), fakeslack.BotToken) || strings.Contains(core.Logs(), fakeslack.Secret) {
		t.Error("a Slack secret appears in the logs")
	}
}

// testSolvedAndClosed: an agent can still reply on a solved ticket (the
// reply is posted into the DM); once the ticket is closed, the next DM
// opens a follow-up ticket for the same requester instead of reopening it.
func testSolvedAndClosed(t *testing.T, core *e2etest.Core, fs *fakeslack.Server, mode string, ticketID, requesterID uint64) {
	t.Helper()
	setStatus := func(status string) {
		t.Helper()
		if st, body := core.Do("PATCH", fmt.Sprintf("/api/v1/tickets/%d", ticketID), map[string]any{"status": status}); st/100 != 2 {
			t.Fatalf("PATCH status %s: %d %s", status, st, body)
		}
	}
	setStatus("solved")
	late := "One more tip: reboot once a week."
	if st, body := core.Do("POST", fmt.Sprintf("/api/v1/tickets/%d/comments", ticketID), map[string]any{"body": late, "public": true}); st/100 != 2 {
		t.Fatalf("agent reply on a solved ticket: %d %s", st, body)
	}
	e2etest.Eventually(t, 60*time.Second, "the solved ticket's reply at the fake Slack", func() bool {
		return slices.ContainsFunc(fs.CallsTo("chat.postMessage"), func(c fakeslack.Call) bool {
			return c.Form["channel"] == fakeslack.IM && c.Form["text"] == late
		})
	})

	setStatus("solved") // a public reply may have moved it on
	setStatus("closed")
	again := fakeslack.Callback(fakeslack.DMEvent("1700000000.000300", map[string]any{"text": "The VPN broke again"}))
	if mode == "events" {
		if st, body := hook(t, core, again, fakeslack.SignedHeaders(fakeslack.Secret, again, time.Now())); st != http.StatusOK {
			t.Fatalf("DM after close answered %d %s", st, body)
		}
	} else {
		if fs.Broadcast(fakeslack.SocketEnvelope("env-dm-after-close", again, 0)) == 0 {
			t.Fatal("no Socket Mode connection")
		}
		e2etest.Eventually(t, 30*time.Second, "ack of the DM after close", func() bool { return slices.Contains(fs.Acks(), "env-dm-after-close") })
	}
	list := core.Tickets("it-help")
	var followUps int
	for _, x := range list {
		switch {
		case x.ID == ticketID && x.Status != "closed":
			t.Errorf("closed ticket %d is now %q", x.ID, x.Status)
		case x.ID != ticketID && x.FollowUpOf == ticketID && x.RequesterID == requesterID:
			followUps++
		}
	}
	if followUps != 1 || len(list) != 2 {
		t.Errorf("tickets after a DM to a closed ticket %+v, want the closed one and one follow-up", list)
	}
}

// testRoundTrip: a DM in (a signed Events API request, or a Socket Mode
// envelope), and Slack's redelivery of it; the ticket through the API; an
// agent's public reply out as chat.postMessage into the DM.
func testRoundTrip(t *testing.T, bin e2etest.Binaries, mode string) {
	fs := fakeslack.New(t)
	core := startCore(t, bin, fs, mode, []string{"it-help"})

	// The plugin's auth.test status is visible in the channel list.
	e2etest.Eventually(t, 30*time.Second, "channel status connected", func() bool {
		status, body := core.Do("GET", "/api/v1/channels", nil)
		return status == http.StatusOK && strings.Contains(string(body), `"connected"`)
	})

	// Alice is already a user (an agent opened a ticket for her by email):
	// her Slack profile email links the Slack identity to that user.
	var existing struct {
		RequesterID uint64 `json:"requester_id"`
	}
	if st := core.JSON("POST", "/api/v1/tickets", map[string]any{
		"subject": "Laptop order", "comment": map[string]any{"body": "Ordered a laptop for Alice."},
		"requester": map[string]any{"name": "Alice", "email": "alice@example.test"},
	}, &existing); st/100 != 2 || existing.RequesterID == 0 {
		t.Fatalf("POST ticket for Alice: %d %+v", st, existing)
	}

	ts := "1700000000.000100"
	dm := fakeslack.Callback(fakeslack.DMEvent(ts, map[string]any{"text": "My VPN is down"}))
	if mode == "events" {
		if st, _ := hook(t, core, dm, fakeslack.SignedHeaders("wrong", dm, time.Now())); st != http.StatusUnauthorized {
			t.Fatalf("badly signed event answered %d, want 401", st)
		}
		if st, _ := hook(t, core, dm, fakeslack.SignedHeaders(fakeslack.Secret, dm, time.Now())); st != http.StatusOK {
			t.Fatalf("signed DM answered %d; logs:\n%s", st, core.Logs())
		}
		retry := fakeslack.SignedHeaders(fakeslack.Secret, dm, time.Now())
		retry.Set("X-Slack-Retry-Num", "1")
		retry.Set("X-Slack-Retry-Reason", "http_timeout")
		if st, _ := hook(t, core, dm, retry); st != http.StatusOK {
			t.Fatalf("Slack's retry answered %d", st)
		}
	} else {
		for i, env := range []string{"env-dm", "env-dm-redelivered"} {
			if fs.Broadcast(fakeslack.SocketEnvelope(env, dm, i)) == 0 {
				t.Fatal("no Socket Mode connection")
			}
			e2etest.Eventually(t, 30*time.Second, "ack of "+env, func() bool { return slices.Contains(fs.Acks(), env) })
		}
	}

	tickets := core.Tickets("it-help")
	if len(tickets) != 1 {
		t.Fatalf("tickets: %+v", tickets)
	}
	tk := tickets[0]
	if tk.Via != "slack" {
		t.Errorf("ticket via %q, want slack", tk.Via)
	}
	comments := core.Comments(tk.ID)
	if len(comments) != 1 {
		t.Fatalf("comments %+v, want exactly one (the retry deduplicated)", comments)
	}
	if c := comments[0]; c.Body != "My VPN is down" || c.ExternalID != fakeslack.Team+":"+fakeslack.IM+":"+ts {
		t.Errorf("inbound comment %+v", c)
	}

	type identity struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
	var user struct {
		Name       string     `json:"name"`
		Email      string     `json:"email"`
		Identities []identity `json:"identities"`
	}
	core.JSON("GET", fmt.Sprintf("/api/v1/users/%d", tk.RequesterID), nil, &user)
	if !slices.ContainsFunc(user.Identities, func(i identity) bool {
		return i.Type == "slack" && strings.EqualFold(i.Value, fakeslack.Team+":U0ALICE")
	}) || user.Email != "alice@example.test" {
		t.Errorf("requester %+v, want the slack identity and the users.info email", user)
	}
	if tk.RequesterID != existing.RequesterID {
		t.Errorf("DM requester %d, want the existing user %d with the profile's email", tk.RequesterID, existing.RequesterID)
	}

	if mode == "events" {
		// A file_share DM: the PDF is downloaded with the bot token and
		// stored; the .exe is refused by the channel's allowlist without
		// being downloaded, and named in an internal note.
		pdf := bytes.Repeat([]byte("%PDF-1.4 e2e\n"), 10000)
		exe := []byte("MZ")
		files := fakeslack.Callback(fakeslack.DMEvent("1700000000.000101", map[string]any{
			"subtype": "file_share", "text": "logs attached",
			"files": []any{
				fakeslack.File("F0PDF", "vpn-log.pdf", "application/pdf", len(pdf), fs.AddFile("F0PDF/vpn-log.pdf", pdf)),
				fakeslack.File("F0EXE", "fix.exe", "application/octet-stream", len(exe), fs.AddFile("F0EXE/fix.exe", exe)),
			},
		}))
		if st, body := hook(t, core, files, fakeslack.SignedHeaders(fakeslack.Secret, files, time.Now())); st != http.StatusOK {
			t.Fatalf("file_share DM answered %d %s; logs:\n%s", st, body, core.Logs())
		}
		cs := core.Comments(tk.ID)
		var stored, noted bool
		for _, c := range cs {
			for _, a := range c.Attachments {
				if a.Filename == "vpn-log.pdf" && a.Size == int64(len(pdf)) {
					stored = true
				}
			}
			if !c.Public && strings.Contains(c.Body, "fix.exe") {
				noted = true
			}
		}
		if !stored || !noted {
			t.Errorf("comments %+v: want vpn-log.pdf stored and fix.exe named in an internal note", cs)
		}
		if n := len(fs.FileAuth()); n != 1 {
			t.Errorf("%d file downloads, want 1 (the refused .exe is not downloaded)", n)
		}
	}

	reply := "We reset your VPN profile, please try again."
	if st, body := core.Do("POST", fmt.Sprintf("/api/v1/tickets/%d/comments", tk.ID), map[string]any{"body": reply, "public": true}); st/100 != 2 {
		t.Fatalf("agent reply: %d %s", st, body)
	}
	e2etest.Eventually(t, 60*time.Second, "chat.postMessage at the fake Slack", func() bool {
		return slices.ContainsFunc(fs.CallsTo("chat.postMessage"), func(c fakeslack.Call) bool {
			return c.Form["channel"] == fakeslack.IM && c.Form["text"] == reply && c.Token == fakeslack.BotToken
		})
	})
	e2etest.Eventually(t, 60*time.Second, "the reply's delivery marked sent with the Slack ts", func() bool {
		cs := core.Comments(tk.ID)
		for _, c := range cs {
			if c.Body == reply && c.Delivery != nil && c.Delivery.Status == "sent" {
				return strings.HasPrefix(c.Delivery.ExternalID, "1700000100.")
			}
		}
		return false
	})

	testSolvedAndClosed(t, core, fs, mode, tk.ID, tk.RequesterID)
	if strings.Contains(core.Logs(), fakeslack.BotToken) || strings.Contains(core.Logs(), fakeslack.Secret) {
		t.Error("a Slack secret appears in the logs")
	}
}
