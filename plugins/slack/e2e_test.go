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
)

// TestEndToEnd runs the real patchbay binary with the real Slack plugin
// binary against the loopback fake Slack: a signed DM in through
// /hooks/<channel> (and Slack's retry of it), the ticket through the API,
// an agent's public reply out as chat.postMessage into the DM.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the core and plugin binaries")
	}
	root, err := e2etest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "core", "cmd", "patchbay")); err != nil {
		t.Skip("core/cmd/patchbay is not in this tree yet")
	}
	bin, err := e2etest.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fs := fakeslack.New(t)
	core := e2etest.Start(t, bin, e2etest.Options{
		Channels: fmt.Sprintf(`
channel "it-help" {
  plugin = "slack"
  config {
    signing_secret = env("SLACK_SIGNING_SECRET")
    bot_token      = env("SLACK_BOT_TOKEN")
    api_url        = %q
  }
}
`, fs.APIURL()),
		Env:         []string{"SLACK_SIGNING_SECRET=" + fakeslack.Secret, "SLACK_BOT_TOKEN=" + fakeslack.BotToken},
		WaitRunning: []string{"it-help"},
	})

	// The plugin's auth.test status is visible in the channel list.
	e2etest.Eventually(t, 30*time.Second, "channel status connected", func() bool {
		status, body := core.Do("GET", "/api/v1/channels", nil)
		return status == http.StatusOK && strings.Contains(string(body), `"connected"`)
	})

	hook := func(body []byte, header http.Header) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, core.URL+"/hooks/it-help", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	ts := "1700000000.000100"
	dm := fakeslack.Callback(fakeslack.DMEvent(ts, map[string]any{"text": "My VPN is down"}))
	if st := hook(dm, fakeslack.SignedHeaders("wrong", dm, time.Now())); st != http.StatusUnauthorized {
		t.Fatalf("badly signed event answered %d, want 401", st)
	}
	if st := hook(dm, fakeslack.SignedHeaders(fakeslack.Secret, dm, time.Now())); st != http.StatusOK {
		t.Fatalf("signed DM answered %d; logs:\n%s", st, core.Logs())
	}
	retry := fakeslack.SignedHeaders(fakeslack.Secret, dm, time.Now())
	retry.Set("X-Slack-Retry-Num", "1")
	retry.Set("X-Slack-Retry-Reason", "http_timeout")
	if st := hook(dm, retry); st != http.StatusOK {
		t.Fatalf("Slack's retry answered %d", st)
	}

	var tickets struct {
		Tickets []struct {
			ID          uint64 `json:"id"`
			Channel     string `json:"channel"`
			Via         string `json:"via"`
			RequesterID uint64 `json:"requester_id"`
		} `json:"tickets"`
	}
	if st := core.JSON("GET", "/api/v1/tickets?channel=it-help", nil, &tickets); st != http.StatusOK || len(tickets.Tickets) != 1 {
		t.Fatalf("tickets: status %d, %+v", st, tickets)
	}
	tk := tickets.Tickets[0]
	if tk.Via != "slack" {
		t.Errorf("ticket via %q, want slack", tk.Via)
	}
	type comment struct {
		ID         uint64 `json:"id"`
		Body       string `json:"body"`
		Public     bool   `json:"public"`
		ExternalID string `json:"external_id"`
		Delivery   *struct {
			Status     string `json:"status"`
			ExternalID string `json:"external_id"`
			Error      string `json:"error"`
		} `json:"delivery"`
	}
	var comments struct {
		Comments []comment `json:"comments"`
	}
	core.JSON("GET", fmt.Sprintf("/api/v1/tickets/%d/comments", tk.ID), nil, &comments)
	if len(comments.Comments) != 1 {
		t.Fatalf("comments %+v, want exactly one (the retry deduplicated)", comments.Comments)
	}
	if c := comments.Comments[0]; c.Body != "My VPN is down" || c.ExternalID != fakeslack.Team+":"+fakeslack.IM+":"+ts {
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
		var cs struct {
			Comments []comment `json:"comments"`
		}
		core.JSON("GET", fmt.Sprintf("/api/v1/tickets/%d/comments", tk.ID), nil, &cs)
		for _, c := range cs.Comments {
			if c.Body == reply && c.Delivery != nil && c.Delivery.Status == "sent" {
				return strings.HasPrefix(c.Delivery.ExternalID, "1700000100.")
			}
		}
		return false
	})
	if strings.Contains(core.Logs(), fakeslack.BotToken) || strings.Contains(core.Logs(), fakeslack.Secret) {
		t.Error("a Slack secret appears in the logs")
	}
}
