package main

import (
	"bytes"
	"fmt"
	"github.com/patchbayhq/patchbay/plugins/line/internal/fakeline"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/patchbayhq/patchbay/internal/e2etest"
)

// The end-to-end tests run the real patchbay binary with the real
// patchbay-plugin-line against the fake LINE API on loopback.

// shared builds the core and plugin binaries once for the end-to-end tests.
var shared e2etest.Shared

// TestMain removes the binaries the end-to-end tests built.
func TestMain(m *testing.M) { os.Exit(shared.Main(m)) }

func startCore(t *testing.T, line *fakeline.Server) *e2etest.Core {
	t.Helper()
	return e2etest.Start(t, shared.Binaries(t), e2etest.Options{
		Channels: fmt.Sprintf(`
channel "line-support" {
  plugin = "line"
  brand  = "acme"
  config {
    channel_secret       = %q
    channel_access_token = %q
    api_url              = %q
    data_api_url         = %q
  }
}
`, fakeline.Secret, fakeline.Token, line.APIURL(), line.DataURL()),
		WaitRunning: []string{"line-support"},
	})
}

func postHook(t *testing.T, core *e2etest.Core, body []byte, sig string) int {
	t.Helper()
	st, _ := core.Hook("line-support", body, http.Header{"Content-Type": {"application/json; charset=utf-8"}, "X-Line-Signature": {sig}})
	return st
}

func TestEndToEnd(t *testing.T) {
	line := fakeline.New(t)
	core := startCore(t, line)

	// The console's Verify request, then a badly signed one.
	verify := []byte(`{"destination":"Ub9952f8a6bd1d0a1a3e2b8e3b5c6d7e8","events":[]}`)
	if st := postHook(t, core, verify, fakeline.Sign(fakeline.Secret, verify)); st != 200 {
		t.Fatalf("verify: %d", st)
	}
	body := fakeline.Payload(fakeline.MessageEvent("01HE2E00000000000000000001", fakeline.UserSource(fakeline.User), false, fakeline.TextMessage("568789577898262530", "My parcel is late")))
	if st := postHook(t, core, body, fakeline.Sign("wrong-secret", body)); st != 401 {
		t.Fatalf("bad signature: %d", st)
	}
	if n := len(core.Tickets("line-support")); n != 0 {
		t.Fatalf("%d tickets after bad input", n)
	}

	// A customer's message becomes a ticket; the redelivery changes nothing.
	if st := postHook(t, core, body, fakeline.Sign(fakeline.Secret, body)); st != 200 {
		t.Fatalf("message: %d; logs:\n%s", st, core.Logs())
	}
	redelivery := fakeline.Payload(fakeline.MessageEvent("01HE2E00000000000000000001", fakeline.UserSource(fakeline.User), true, fakeline.TextMessage("568789577898262530", "My parcel is late")))
	if st := postHook(t, core, redelivery, fakeline.Sign(fakeline.Secret, redelivery)); st != 200 {
		t.Fatalf("redelivery: %d", st)
	}
	ts := core.Tickets("line-support")
	if len(ts) != 1 || ts[0].Via != "line" {
		t.Fatalf("tickets: %+v", ts)
	}
	cs := core.Comments(ts[0].ID)
	if len(cs) != 1 || cs[0].Body != "My parcel is late" || cs[0].ExternalID != "01HE2E00000000000000000001" {
		t.Fatalf("comments: %+v", cs)
	}
	var user struct {
		Name       string `json:"name"`
		Identities []struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"identities"`
	}
	if st := core.JSON("GET", fmt.Sprintf("/api/v1/users/%d", ts[0].RequesterID), nil, &user); st != 200 {
		t.Fatalf("requester: %d", st)
	}
	if user.Name != "Sakura Tanaka" || len(user.Identities) != 1 || user.Identities[0].Type != "line" || user.Identities[0].Value != fakeline.User {
		t.Fatalf("requester: %+v", user)
	}

	// A PDF sent in the chat is downloaded from the data API into the
	// ticket, through the core's attachment allowlist.
	pdf := []byte("%PDF-1.4 e2e invoice\n")
	line.SetContent("568789577898262531", fakeline.Content{ContentType: "application/octet-stream", Body: pdf})
	fileBody := fakeline.Payload(fakeline.MessageEvent("01HE2E00000000000000000002", fakeline.UserSource(fakeline.User), false, `{"id":"568789577898262531","type":"file","fileName":"invoice.pdf","fileSize":21}`))
	if st := postHook(t, core, fileBody, fakeline.Sign(fakeline.Secret, fileBody)); st != 200 {
		t.Fatalf("file message: %d", st)
	}
	cs = core.Comments(ts[0].ID)
	if len(cs) != 2 || len(cs[1].Attachments) != 1 || cs[1].Attachments[0].Filename != "invoice.pdf" || cs[1].Attachments[0].Size != int64(len(pdf)) {
		t.Fatalf("comments after the file: %+v", cs)
	}

	// The agent's public reply is pushed with a retry key and marked sent.
	if st, b := core.Do("POST", fmt.Sprintf("/api/v1/tickets/%d/comments", ts[0].ID), map[string]any{"body": "It ships today.", "public": true}); st/100 != 2 {
		t.Fatalf("reply: %d %s", st, b)
	}
	e2etest.Eventually(t, 60*time.Second, "the push at the fake LINE", func() bool { return len(line.PushCalls()) > 0 })
	push := line.PushCalls()[0]
	if _, err := uuid.Parse(push.RetryKey); err != nil || push.To != fakeline.User || push.Texts[0] != "It ships today." {
		t.Fatalf("push: %+v", push)
	}
	e2etest.Eventually(t, 60*time.Second, "delivery status sent", func() bool {
		for _, c := range core.Comments(ts[0].ID) {
			if c.Delivery != nil && c.Delivery.Status == "sent" && c.Delivery.ExternalID == "sent-req-0001" {
				return true
			}
		}
		return false
	})
	// The channel list shows the channel, never its secrets; nor do the
	// core's and the plugin's logs.
	st, channels := core.Do("GET", "/api/v1/channels", nil)
	if st != 200 || !bytes.Contains(channels, []byte(`"line-support"`)) {
		t.Fatalf("channels: %d %s", st, channels)
	}
	for where, text := range map[string]string{"GET /api/v1/channels": string(channels), "logs": core.Logs()} {
		if strings.Contains(text, fakeline.Secret) || strings.Contains(text, fakeline.Token) {
			t.Errorf("a LINE secret appears in the %s", where)
		}
	}
}

func TestEndToEndBlockedUser(t *testing.T) {
	line := fakeline.New(t)
	line.Block(fakeline.User2, true)
	core := startCore(t, line)
	body := fakeline.Payload(fakeline.MessageEvent("01HE2E00000000000000000B01", fakeline.UserSource(fakeline.User2), false, fakeline.TextMessage("668789577898262530", "hello")))
	if st := postHook(t, core, body, fakeline.Sign(fakeline.Secret, body)); st != 200 {
		t.Fatalf("message: %d", st)
	}
	ts := core.Tickets("line-support")
	if len(ts) != 1 {
		t.Fatalf("tickets: %+v", ts)
	}
	if st, b := core.Do("POST", fmt.Sprintf("/api/v1/tickets/%d/comments", ts[0].ID), map[string]any{"body": "Hi!", "public": true}); st/100 != 2 {
		t.Fatalf("reply: %d %s", st, b)
	}
	e2etest.Eventually(t, 60*time.Second, "delivery status failed with LINE's reason", func() bool {
		for _, c := range core.Comments(ts[0].ID) {
			if c.Delivery != nil && c.Delivery.Status == "failed" && bytes.Contains([]byte(c.Delivery.Error), []byte("blocked")) {
				return true
			}
		}
		return false
	})
	if n := len(line.PushCalls()); n != 1 {
		t.Fatalf("%d pushes for a permanent failure, want 1", n)
	}
}
