package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/internal/e2etest"
	"github.com/patchbayhq/patchbay/plugins/email/internal/fakemail"
)

// TestEndToEndWildMail runs the real binaries with mail as it arrives in
// the wild: an Apple Mail "text / image / text" message with a Date far in
// the future, a forwarded message, and a 6,000-level MIME bomb. Every
// customer's text reaches the comment body, the comment's time is the
// time of receipt, and the bomb is a ticket with a note.
func TestEndToEndWildMail(t *testing.T) {
	bin := shared.Binaries(t)
	smtpAddr := e2etest.FreePort(t)
	core := e2etest.Start(t, bin, e2etest.Options{
		Channels: fmt.Sprintf(`
channel "support" {
  plugin = "email"
  attachments { allow = [".png", ".pdf"] }
  config {
    address     = "support@acme.test"
    smtp_listen = %q
  }
}
`, smtpAddr),
		WaitRunning: []string{"support"},
	})
	fixture := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("internal", "mailparse", "testdata", "wild", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	future := strings.Replace(string(fixture("1-apple-text-image-text.eml")), "Date: Mon, 02 Jan 2006 15:04:05 +0000", "Date: Sun, 02 Jan 2039 10:00:00 +0000", 1)
	before := time.Now().Add(-time.Minute)
	for _, raw := range [][]byte{[]byte(future), fixture("5-forwarded.eml")} {
		if err := fakemail.SendSMTP(smtpAddr, "ann@example.com", []string{"support@acme.test"}, raw); err != nil {
			t.Fatalf("SMTP: %v", err)
		}
	}
	var bomb strings.Builder
	bomb.WriteString("From: ann@example.com\r\nTo: support@acme.test\r\nSubject: deep\r\nMessage-ID: <e2e-bomb@example.com>\r\n")
	bomb.WriteString("Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n--b0\r\nContent-Type: text/plain\r\n\r\nPlease read me.\r\n")
	for i := 1; i < 6000; i++ {
		fmt.Fprintf(&bomb, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i-1, i)
	}
	if err := fakemail.SendSMTP(smtpAddr, "ann@example.com", []string{"support@acme.test"}, []byte(bomb.String())); err != nil {
		t.Fatalf("SMTP bomb: %v", err)
	}

	want := map[string][]string{
		"Printer error":        {"here is the screenshot:", "The error appears when I click Save"},
		"Fwd: Invoice 2024-17": {"FYI, see the message below.", "From: Bob Billing <bob@vendor.test>", "The invoice total is 420 EUR"},
		"deep":                 {"Please read me.", "Parts of this message were not read"},
	}
	ts := core.Tickets("support")
	if len(ts) != len(want) {
		t.Fatalf("tickets %+v", ts)
	}
	for _, tk := range ts {
		phrases, ok := want[tk.Subject]
		if !ok {
			t.Errorf("unexpected ticket %q", tk.Subject)
			continue
		}
		cs := core.Comments(tk.ID)
		if len(cs) == 0 {
			t.Fatalf("%q has no comments", tk.Subject)
		}
		c := cs[0]
		for _, p := range phrases {
			if !strings.Contains(c.Body, p) {
				t.Errorf("%q: body lacks %q:\n%s", tk.Subject, p, c.Body)
			}
		}
		if c.CreatedAt.Before(before) || c.CreatedAt.After(time.Now().Add(time.Minute)) {
			t.Errorf("%q: created_at %v is not the time of receipt", tk.Subject, c.CreatedAt)
		}
		if tk.Subject == "Printer error" && c.Metadata["date"] != "2039-01-02T10:00:00Z" {
			t.Errorf("header date not kept: %v", c.Metadata)
		}
	}
}
