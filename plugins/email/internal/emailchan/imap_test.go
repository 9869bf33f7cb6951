package emailchan

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/patchbayhq/patchbay/plugins/email/internal/fakemail"
	"github.com/patchbayhq/patchbay/sdk"
)

func imapChannelConfig(f *fakemail.IMAPServer) map[string]any {
	return map[string]any{
		"address":      "support@acme.test",
		"token_secret": testSecret,
		"imap": map[string]any{
			"url": "imap://" + f.Addr + "?tls=none", "username": fakemail.IMAPUser, "password": fakemail.IMAPPassword,
			"poll_interval": "100ms",
		},
	}
}

func (h *testHost) imapCursor(t *testing.T) imapState {
	t.Helper()
	raw, ok, _ := h.GetState(t.Context(), imapStateKey("INBOX"))
	var st imapState
	if ok {
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func subjects(msgs []*sdk.InboundMessage) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Subject)
	}
	return out
}

func TestIMAPPolling(t *testing.T) {
	f := fakemail.StartIMAP(t)
	old := f.Append(buildMail([]string{"From: ann@example.com", "Subject: old", "Message-ID: <old@example.com>"}, "read long ago"), imap.FlagSeen)
	newUID := f.Append(buildMail([]string{"From: ann@example.com", "Subject: new", "Message-ID: <new@example.com>"}, "help"))

	host := newFakeHost()
	host.block, host.entered = make(chan struct{}), make(chan struct{})
	entered := host.entered
	ch := startChannel(t, host, imapChannelConfig(f))

	// \Seen only after Deliver returned.
	<-entered
	if f.Seen()[newUID] {
		t.Fatal("message marked \\Seen before Deliver returned")
	}
	close(host.block)
	waitFor(t, "the unseen message", func() bool { return f.Seen()[newUID] })
	if got := subjects(host.delivered()); len(got) != 1 || got[0] != "new" {
		t.Fatalf("delivered %q; the seen history must not be imported", got)
	}
	if m := host.delivered()[0]; m.Metadata["via"] != "imap" || m.ExternalID != "new@example.com" {
		t.Errorf("message %+v", m)
	}
	st := host.imapCursor(t)
	if st.UIDValidity == 0 || st.LastUID != uint32(newUID) || uint32(old) >= st.LastUID {
		t.Fatalf("cursor %+v", st)
	}

	// Deliver fails: the message stays unseen and the cursor stays; the
	// next poll after recovery delivers it.
	host.setFail(errors.New("store down"))
	third := f.Append(buildMail([]string{"From: bob@example.com", "Subject: third", "Message-ID: <third@example.com>"}, "x"))
	waitFor(t, "degraded status", func() bool { return host.lastStatus().State == sdk.StateDegraded })
	if f.Seen()[third] || host.imapCursor(t).LastUID != uint32(newUID) {
		t.Fatal("a message whose Deliver failed was marked or skipped")
	}
	host.setFail(nil)
	waitFor(t, "the third message", func() bool { return f.Seen()[third] })
	waitFor(t, "connected status", func() bool { return host.lastStatus().State == sdk.StateConnected })
	if st := host.imapCursor(t); st.LastUID != uint32(third) {
		t.Fatalf("cursor %+v after recovery", st)
	}

	// A restarted plugin (same state) takes only what is new, even mail
	// someone already read in another client.
	if err := ch.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	fourth := f.Append(buildMail([]string{"From: cy@example.com", "Subject: fourth", "Message-ID: <fourth@example.com>"}, "x"), imap.FlagSeen)
	startChannel(t, host, imapChannelConfig(f))
	waitFor(t, "the fourth message", func() bool { return host.imapCursor(t).LastUID == uint32(fourth) })
	if got := subjects(host.delivered()); slices.Compare(got, []string{"new", "third", "fourth"}) != 0 {
		t.Fatalf("delivered %q", got)
	}
}

func TestIMAPUIDValidityChange(t *testing.T) {
	f := fakemail.StartIMAP(t)
	host := newFakeHost()
	// A cursor from another incarnation of the mailbox.
	stale, _ := json.Marshal(imapState{UIDValidity: 987654, LastUID: 500})
	if err := host.SetState(t.Context(), imapStateKey("INBOX"), stale); err != nil {
		t.Fatal(err)
	}
	f.Append(buildMail([]string{"From: a@example.com", "Subject: seen", "Message-ID: <s@example.com>"}, "x"), imap.FlagSeen)
	unseen := f.Append(buildMail([]string{"From: a@example.com", "Subject: unseen", "Message-ID: <u@example.com>"}, "x"))
	startChannel(t, host, imapChannelConfig(f))
	waitFor(t, "the unseen message", func() bool { return f.Seen()[unseen] })
	if got := subjects(host.delivered()); len(got) != 1 || got[0] != "unseen" {
		t.Fatalf("delivered %q", got)
	}
	if st := host.imapCursor(t); st.UIDValidity == 987654 || st.LastUID != uint32(unseen) {
		t.Fatalf("cursor %+v", st)
	}
}

func TestIMAPBadLogin(t *testing.T) {
	f := fakemail.StartIMAP(t)
	host := newFakeHost()
	cfg := imapChannelConfig(f)
	cfg["imap"].(map[string]any)["password"] = "wrong-password-123"
	startChannel(t, host, cfg)
	waitFor(t, "auth_failed status", func() bool { return host.lastStatus().State == sdk.StateAuthFailed })
	if s := host.lastStatus().Message; s == "" || strings.Contains(s, "wrong-password-123") {
		t.Fatalf("status message %q", s)
	}
}

// imaps:// speaks TLS from the start; imap:// requires STARTTLS and
// refuses a server that does not offer it (the password never goes out in
// plain text unless tls=none says so).
func TestIMAPTLS(t *testing.T) {
	serverTLS, clientTLS := fakemail.TLSPair(t)
	cases := []struct {
		name     string
		url      string
		tls      *tls.Config
		implicit bool
		wantOK   bool
	}{
		{"imaps", "imaps://%s", serverTLS, true, true},
		{"imap with STARTTLS", "imap://%s", serverTLS, false, true},
		{"imap without STARTTLS on offer", "imap://%s", nil, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := fakemail.StartIMAPTLS(t, c.tls, c.implicit)
			uid := f.Append(buildMail([]string{"From: ann@example.com", "Subject: tls", "Message-ID: <tls@example.com>"}, "x"))
			host := newFakeHost()
			cfg := imapChannelConfig(f)
			cfg["imap"].(map[string]any)["url"] = fmt.Sprintf(c.url, f.Addr)
			ch := New()
			raw, _ := json.Marshal(cfg)
			if err := ch.Configure(t.Context(), sdk.ConfigureRequest{Instance: "support", Config: raw, Host: host}); err != nil {
				t.Fatal(err)
			}
			ch.mu.Lock()
			ch.inst.imapTLS = clientTLS
			ch.mu.Unlock()
			if err := ch.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ch.Stop(context.Background()) })
			if c.wantOK {
				waitFor(t, "the message over TLS", func() bool { return f.Seen()[uid] })
				return
			}
			waitFor(t, "a degraded status", func() bool { return host.lastStatus().State == sdk.StateDegraded })
			if host.DeliverCalls() != 0 {
				t.Fatal("delivered over plain text")
			}
		})
	}
}
