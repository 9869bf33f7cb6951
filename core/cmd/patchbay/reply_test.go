package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// apiComment is the part of a comment this test reads.
type apiComment struct {
	ID       uint64 `json:"id"`
	Body     string `json:"body"`
	Delivery *struct {
		Status     string `json:"status"`
		Error      string `json:"error"`
		Attempts   int    `json:"attempts"`
		ExternalID string `json:"external_id"`
	} `json:"delivery"`
}

// The real binary and the real test plugin, end to end: a webhook message
// becomes a ticket; public replies go out through the plugin's Send and end
// sent (with the provider id), failed with the reason (a permanent error,
// with the plugin's echo of its token redacted), or, while the plugin is
// killed, wait for it and are sent once it runs again.
func TestRepliesThroughTheRealPlugin(t *testing.T) {
	const (
		admin  = "reply-admin-token-7-0123456789abcdef"
		secret = "tok-reply-secret-99"
	)
	cfg := writeConfig(t, `
http { listen = "127.0.0.1:0" }
channel "alpha" {
  plugin = "test"
  config {
    token = env("TEST_CHANNEL_TOKEN")
  }
}
`)
	_, logs, base, _ := startServe(t, cfg, "PATCHBAY_ADMIN_TOKEN="+admin, "TEST_CHANNEL_TOKEN="+secret)

	resp, err := http.Post(base+"/hooks/alpha/deliver", "application/json", strings.NewReader(`{"id":"m1","conversation":"c1","text":"My VPN is down"}`))
	if err != nil {
		t.Fatal(err)
	}
	var receipt struct{ TicketID, CommentID uint64 }
	if err := json.NewDecoder(resp.Body).Decode(&receipt); err != nil || resp.StatusCode != 200 || receipt.TicketID == 0 {
		t.Fatalf("deliver: %d %+v %v", resp.StatusCode, receipt, err)
	}
	resp.Body.Close()
	tp := fmt.Sprintf("%s/api/v1/tickets/%d", base, receipt.TicketID)

	reply := func(body string) uint64 {
		t.Helper()
		code, b := apiCall(t, "POST", tp+"/comments", admin, map[string]any{"body": body, "public": true})
		var c apiComment
		if err := json.Unmarshal(b, &c); code != http.StatusCreated || err != nil || c.Delivery == nil || c.Delivery.Status != "pending" {
			t.Fatalf("reply %q: %d %s", body, code, b)
		}
		return c.ID
	}
	comment := func(id uint64) apiComment {
		t.Helper()
		code, b := apiCall(t, "GET", tp+"/comments", admin, nil)
		var list struct{ Comments []apiComment }
		if err := json.Unmarshal(b, &list); code != 200 || err != nil {
			t.Fatalf("comments: %d %s", code, b)
		}
		for _, c := range list.Comments {
			if c.ID == id {
				return c
			}
		}
		t.Fatalf("comment %d not listed: %s", id, b)
		return apiComment{}
	}
	settled := func(id uint64) apiComment {
		t.Helper()
		var c apiComment
		waitFor(t, fmt.Sprintf("comment %d delivered or failed", id), func() bool {
			c = comment(id)
			return c.Delivery != nil && c.Delivery.Status != "pending"
		})
		return c
	}

	ok := settled(reply("Try restarting the router."))
	if ok.Delivery.Status != "sent" || ok.Delivery.ExternalID != fmt.Sprintf("sent-patchbay-reply-%d-c1", ok.ID) || ok.Delivery.Attempts != 1 {
		t.Errorf("reply: %+v", *ok.Delivery)
	}
	code, b := apiCall(t, "GET", tp, admin, nil)
	if code != 200 || !strings.Contains(string(b), `"status":"open"`) {
		t.Errorf("a public reply did not open the new ticket: %s", b)
	}

	for _, c := range []struct{ body, want string }{
		{"fail-perm", "bad_recipient: recipient unknown"},
		{"fail-echo", "auth: token (redacted) was revoked"},
	} {
		got := settled(reply(c.body))
		if got.Delivery.Status != "failed" || got.Delivery.Error != c.want {
			t.Errorf("%s: %+v, want failed %q", c.body, *got.Delivery, c.want)
		}
	}

	// kill -9 the plugin; a reply written meanwhile goes out once it is back.
	code, _, pid := get(t, base+"/hooks/alpha/pid")
	n, err := strconv.Atoi(pid)
	if code != 200 || err != nil {
		t.Fatalf("pid: %d %q", code, pid)
	}
	if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	late := settled(reply("Sent while the plugin was down."))
	if late.Delivery.Status != "sent" || late.Delivery.Attempts != 1 || late.Delivery.Error != "" {
		t.Errorf("reply across a plugin crash: %+v", *late.Delivery)
	}
	if code, _, pid2 := get(t, base+"/hooks/alpha/pid"); code != 200 || pid2 == pid {
		t.Errorf("plugin not restarted: %d %s", code, pid2)
	}

	if out := logs.String(); strings.Contains(out, secret) || strings.Contains(out, admin) {
		t.Error("a secret reached the core's log")
	}
}
