package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/jhillyerd/enmime/v2"

	"github.com/patchbayhq/patchbay/internal/e2etest"
	"github.com/patchbayhq/patchbay/plugins/email/internal/fakemail"
)

func crlfMail(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

// shared builds the core and plugin binaries once for the end-to-end tests.
var shared e2etest.Shared

// TestMain removes the binaries the end-to-end tests built.
func TestMain(m *testing.M) { os.Exit(shared.Main(m)) }

// TestEndToEnd runs the real patchbay binary with the real email plugin:
// mail in over SMTP, the ticket through the API, a resent message stored
// once, a public reply out to a local SMTP sink (threading headers,
// delivery "sent" with our Message-ID) and to a dir: outbox; answers
// threaded back by headers, by the signed plus-address (another sender) and
// by the subject token (the requester), a stranger's copied subject token
// refused, an out-of-office stored as automatic and never auto-replied to
// (while a person's new ticket gets the channel's auto-reply, marked
// Auto-Submitted), attachments through the allow-list, 552 for an
// oversized mail, and IMAP polling with its cursor in the core's state.
func TestEndToEnd(t *testing.T) {
	bin := shared.Binaries(t)
	sink := fakemail.StartSink(t)
	smtpAddr, devAddr := e2etest.FreePort(t), e2etest.FreePort(t)
	outDir := filepath.Join(t.TempDir(), "outbound-mail")
	imapSrv := fakemail.StartIMAP(t)
	seenBefore := imapSrv.Append(crlfMail("From: old@example.com\nSubject: history\nMessage-ID: <e2e-old@example.com>\n\nold\n"), imap.FlagSeen)
	unseen := imapSrv.Append(crlfMail("From: cy@example.com\nSubject: Mailbox question\nMessage-ID: <e2e-imap@example.com>\n\nvia IMAP\n"))
	core := e2etest.Start(t, bin, e2etest.Options{
		Channels: fmt.Sprintf(`
channel "support" {
  plugin = "email"
  config {
    address     = "support@acme.test"
    smtp_listen = %q
    outbound    = %q
  }
}
channel "mailbox" {
  plugin = "email"
  config {
    address = "help@acme.test"
    imap {
      url           = %q
      username      = %q
      password      = %q
      poll_interval = "200ms"
    }
  }
}
channel "devmail" {
  plugin = "email"
  config {
    address        = "dev@acme.test"
    smtp_listen    = %q
    outbound       = %q
    max_message_mb = 1
  }
}
`, smtpAddr, "smtp://"+sink.Addr, "imap://"+imapSrv.Addr+"?tls=none", fakemail.IMAPUser, fakemail.IMAPPassword, devAddr, "dir:"+outDir),
		WaitRunning: []string{"support", "mailbox", "devmail"},
	})

	// A new mail becomes a ticket; 250 means it is stored.
	first := crlfMail("From: Ann Example <Ann@Example.com>\nTo: support@acme.test\nSubject: VPN is down\n" +
		"Message-ID: <e2e-first@example.com>\nDate: Mon, 02 Jan 2006 15:04:05 +0000\n\nHello,\nthe VPN is down.\n")
	if err := fakemail.SendSMTP(smtpAddr, "ann@example.com", []string{"support@acme.test"}, first); err != nil {
		t.Fatalf("SMTP: %v", err)
	}
	ts := core.Tickets("support")
	if len(ts) != 1 || ts[0].Subject != "VPN is down" || ts[0].Via != "email" {
		t.Fatalf("tickets %+v", ts)
	}
	tk := ts[0]
	if cs := core.Comments(tk.ID); len(cs) != 1 || !strings.Contains(cs[0].Body, "the VPN is down.") || cs[0].ExternalID != "e2e-first@example.com" {
		t.Fatalf("comments %+v", cs)
	}

	// Resent by the sender's MTA: acknowledged again, stored once.
	if err := fakemail.SendSMTP(smtpAddr, "ann@example.com", []string{"support@acme.test"}, first); err != nil {
		t.Fatalf("resend: %v", err)
	}
	if cs := core.Comments(tk.ID); len(cs) != 1 {
		t.Fatalf("%d comments after a resend", len(cs))
	}

	// A public reply goes out with threading headers.
	if st, body := core.Do("POST", fmt.Sprintf("/api/v1/tickets/%d/comments", tk.ID), map[string]any{"body": "Please restart the client.", "public": true}); st/100 != 2 {
		t.Fatalf("POST comment: %d %s", st, body)
	}
	e2etest.Eventually(t, 60*time.Second, "the reply at the SMTP sink", func() bool { return len(sink.Received()) == 1 })
	env, err := enmime.ReadEnvelope(bytes.NewReader(sink.Received()[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	wantSubject := fmt.Sprintf("Re: VPN is down [#%d]", tk.ID)
	if env.GetHeader("Subject") != wantSubject || env.GetHeader("In-Reply-To") != "<e2e-first@example.com>" {
		t.Errorf("reply headers: Subject %q In-Reply-To %q", env.GetHeader("Subject"), env.GetHeader("In-Reply-To"))
	}
	msgID := strings.Trim(env.GetHeader("Message-Id"), "<>")
	e2etest.Eventually(t, 60*time.Second, "delivery status sent", func() bool {
		cs := core.Comments(tk.ID)
		d := cs[len(cs)-1].Delivery
		return d != nil && d.Status == "sent" && d.ExternalID == msgID
	})

	// The customer answers the reply: it threads back by its headers.
	replyTo, _ := env.AddressList("Reply-To")
	answer := crlfMail("From: ann@example.com\nTo: " + replyTo[0].Address + "\nSubject: Re: " + wantSubject +
		"\nMessage-ID: <e2e-answer@example.com>\nIn-Reply-To: <" + msgID + ">\nReferences: <e2e-first@example.com> <" + msgID + ">\n\n" +
		"Restarted, works.\n\nOn Mon, Support <support@acme.test> wrote:\n> Please restart the client.\n")
	if err := fakemail.SendSMTP(smtpAddr, "ann@example.com", []string{replyTo[0].Address}, answer); err != nil {
		t.Fatal(err)
	}
	cs := core.Comments(tk.ID)
	if len(cs) != 3 || cs[2].Body != "Restarted, works." {
		t.Fatalf("comments after the answer: %+v", cs)
	}

	// A stranger copying the subject token gets a ticket of their own.
	stranger := crlfMail("From: mallory@example.org\nTo: support@acme.test\nSubject: " + wantSubject + "\nMessage-ID: <e2e-stranger@example.org>\n\nlet me in\n")
	if err := fakemail.SendSMTP(smtpAddr, "mallory@example.org", []string{"support@acme.test"}, stranger); err != nil {
		t.Fatal(err)
	}
	if ts := core.Tickets("support"); len(ts) != 2 {
		t.Fatalf("the stranger joined the ticket: %+v", ts)
	}
	if cs := core.Comments(tk.ID); len(cs) != 3 {
		t.Fatalf("%d comments on the requester's ticket", len(cs))
	}

	// A colleague the customer forwarded our mail to answers the signed
	// Reply-To address, without threading headers: it joins the ticket.
	colleague := crlfMail("From: bob@example.com\nTo: " + replyTo[0].Address + "\nSubject: about the VPN\nMessage-ID: <e2e-bob@example.com>\n\nSame here.\n")
	if err := fakemail.SendSMTP(smtpAddr, "bob@example.com", []string{replyTo[0].Address}, colleague); err != nil {
		t.Fatal(err)
	}
	// The requester writes again with only the subject token: it joins too.
	token := crlfMail("From: ann@example.com\nTo: support@acme.test\nSubject: " + wantSubject + "\nMessage-ID: <e2e-token@example.com>\n\nOne more thing.\n")
	if err := fakemail.SendSMTP(smtpAddr, "ann@example.com", []string{"support@acme.test"}, token); err != nil {
		t.Fatal(err)
	}
	// An out-of-office answer is stored, marked automatic.
	ooo := crlfMail("From: ann@example.com\nTo: support@acme.test\nSubject: Auto: " + wantSubject + "\nAuto-Submitted: auto-replied\n" +
		"Message-ID: <e2e-ooo@example.com>\nIn-Reply-To: <" + msgID + ">\n\nI am out of the office.\n")
	if err := fakemail.SendSMTP(smtpAddr, "ann@example.com", []string{"support@acme.test"}, ooo); err != nil {
		t.Fatal(err)
	}
	cs = core.Comments(tk.ID)
	if len(cs) != 6 || cs[3].Body != "Same here." || cs[4].Body != "One more thing." || !cs[5].AutoSubmitted {
		t.Fatalf("comments after plus-address, subject token and auto-reply: %+v", cs)
	}
	if ts := core.Tickets("support"); len(ts) != 2 {
		t.Fatalf("tickets %+v", ts)
	}

	// Attachments go through the channel's allow-list: the PDF is kept,
	// the executable refused, the mail accepted.
	withFiles := crlfMail("From: ann@example.com\nTo: support@acme.test\nSubject: logs\nMessage-ID: <e2e-files@example.com>\n" +
		"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nsee attached\n" +
		"--b\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"report.pdf\"\n\n%PDF-1.4 log\n" +
		"--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"setup.exe\"\n\nMZ\n--b--\n")
	if err := fakemail.SendSMTP(smtpAddr, "ann@example.com", []string{"support@acme.test"}, withFiles); err != nil {
		t.Fatalf("a refused attachment bounced the mail: %v", err)
	}
	ts = core.Tickets("support")
	if len(ts) != 3 {
		t.Fatalf("tickets %+v", ts)
	}
	var files []string
	for _, tk := range ts {
		if tk.Subject == "logs" {
			for _, a := range core.Comments(tk.ID)[0].Attachments {
				files = append(files, a.Filename)
			}
		}
	}
	if strings.Join(files, ",") != "report.pdf" {
		t.Fatalf("stored files %q", files)
	}

	// Too large for the channel: 552, nothing stored.
	big := crlfMail("From: bob@example.com\nSubject: big\n\n" + strings.Repeat("0123456789abcdef\n", 80000))
	if err := fakemail.SendSMTP(devAddr, "bob@example.com", []string{"dev@acme.test"}, big); !strings.HasPrefix(fakemail.Ack(err).Detail, "SMTP 552") {
		t.Fatalf("oversized mail: %v", err)
	}

	// IMAP: the unseen message becomes a ticket and is marked \Seen; the
	// mailbox's read history is not imported. The cursor lives in the
	// core's state: after a restart, a new message that someone already
	// read in another client is still taken (a plugin that lost its cursor
	// would start over with unseen mail only).
	e2etest.Eventually(t, 60*time.Second, "the IMAP message marked \\Seen", func() bool { return imapSrv.Seen()[unseen] })
	if mb := core.Tickets("mailbox"); len(mb) != 1 || mb[0].Subject != "Mailbox question" {
		t.Fatalf("mailbox tickets %+v", mb)
	}
	if !imapSrv.Seen()[seenBefore] {
		t.Fatal("the history lost its \\Seen flag")
	}
	core.Stop()
	core.Restart()
	core.WaitChannelState("mailbox", "running")
	imapSrv.Append(crlfMail("From: cy@example.com\nSubject: Second question\nMessage-ID: <e2e-imap-2@example.com>\n\nagain\n"), imap.FlagSeen)
	e2etest.Eventually(t, 60*time.Second, "the second IMAP message", func() bool { return len(core.Tickets("mailbox")) == 2 })
	for _, mb := range core.Tickets("mailbox") {
		if n := len(core.Comments(mb.ID)); n != 1 {
			t.Fatalf("mailbox ticket %d has %d comments", mb.ID, n)
		}
	}

	// The dir: outbox of the development channel, with the channel's
	// auto-reply on: a person's new ticket gets it (marked
	// Auto-Submitted: auto-replied), an out-of-office message does not.
	if st, body := core.Do("PUT", "/api/v1/auto_replies/devmail", map[string]any{"body": "We got your request."}); st/100 != 2 {
		t.Fatalf("PUT auto-reply: %d %s", st, body)
	}
	sendDev := func(from, headers, body string) {
		t.Helper()
		if err := fakemail.SendSMTP(devAddr, from, []string{"dev@acme.test"}, crlfMail("From: "+from+"\n"+headers+"\n\n"+body+"\n")); err != nil {
			t.Fatal(err)
		}
	}
	devTicket := func(subject string) e2etest.Ticket {
		t.Helper()
		for _, tk := range core.Tickets("devmail") {
			if tk.Subject == subject {
				return tk
			}
		}
		t.Fatalf("no devmail ticket %q", subject)
		return e2etest.Ticket{}
	}
	emlOf := func(ticketID uint64) [][]byte {
		files, _ := filepath.Glob(filepath.Join(outDir, fmt.Sprintf("pb.%d.*.eml", ticketID)))
		var out [][]byte
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil {
				out = append(out, b)
			}
		}
		return out
	}
	sendDev("bob@example.com", "Subject: Printer\nMessage-ID: <e2e-dev@example.com>", "It jams.")
	printer := devTicket("Printer")
	e2etest.Eventually(t, 60*time.Second, "the auto-reply .eml", func() bool { return len(emlOf(printer.ID)) == 1 })
	if auto := emlOf(printer.ID)[0]; !bytes.Contains(auto, []byte("Auto-Submitted: auto-replied")) || !bytes.Contains(auto, []byte("We got your request.")) {
		t.Fatalf("auto-reply:\n%s", auto)
	}
	sendDev("carol@example.com", "Subject: Out of office\nAuto-Submitted: auto-replied\nMessage-ID: <e2e-ooo-dev@example.com>", "I am away.")
	// Rules run in event order: once the next ticket has its auto-reply,
	// the out-of-office ticket's turn has passed.
	sendDev("dave@example.com", "Subject: Scanner\nMessage-ID: <e2e-scanner@example.com>", "It is slow.")
	scanner := devTicket("Scanner")
	e2etest.Eventually(t, 60*time.Second, "the second auto-reply", func() bool { return len(emlOf(scanner.ID)) == 1 })
	away := devTicket("Out of office")
	if cs := core.Comments(away.ID); len(cs) != 1 || !cs[0].AutoSubmitted || len(emlOf(away.ID)) != 0 {
		t.Fatalf("the out-of-office message was answered: %+v", cs)
	}

	// An agent's reply on the Printer ticket.
	if st, body := core.Do("POST", fmt.Sprintf("/api/v1/tickets/%d/comments", printer.ID), map[string]any{"body": "Open the tray.", "public": true}); st/100 != 2 {
		t.Fatalf("POST comment: %d %s", st, body)
	}
	e2etest.Eventually(t, 60*time.Second, "the reply .eml", func() bool { return len(emlOf(printer.ID)) == 2 })
	found := false
	for _, data := range emlOf(printer.ID) {
		if bytes.Contains(data, []byte("Open the tray.")) {
			found = true
			// It answers the latest message (the auto-reply) in the thread
			// that starts with Bob's mail.
			if !bytes.Contains(data, []byte("References: <e2e-dev@example.com>")) || bytes.Contains(data, []byte("Auto-Submitted")) {
				t.Fatalf("agent reply .eml:\n%s", data)
			}
		}
	}
	if !found {
		t.Fatal("no .eml with the agent's reply")
	}

	// The channel list shows the channels, never the IMAP password; nor do
	// the core's and the plugins' logs.
	st, channels := core.Do("GET", "/api/v1/channels", nil)
	if st != http.StatusOK || !bytes.Contains(channels, []byte(`"mailbox"`)) {
		t.Fatalf("channels: %d %s", st, channels)
	}
	for where, text := range map[string]string{"GET /api/v1/channels": string(channels), "logs": core.Logs()} {
		if strings.Contains(text, fakemail.IMAPPassword) {
			t.Errorf("the IMAP password appears in the %s", where)
		}
	}
}
