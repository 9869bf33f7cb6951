package emailchan

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"

	"github.com/patchbayhq/patchbay/plugins/email/internal/fakemail"
	"github.com/patchbayhq/patchbay/sdk"
)

func TestSMTPNewTicket(t *testing.T) {
	host := newFakeHost()
	ch := startChannel(t, host, baseConfig())
	raw := buildMail([]string{
		`From: "Ann Example" <Ann@Example.com>`,
		"To: Support <support@acme.test>",
		"Subject: VPN is down",
		"Date: Mon, 02 Jan 2006 15:04:05 +0000",
		"Message-ID: <first.1@example.com>",
		"Content-Type: text/plain; charset=utf-8",
	}, "Hello,\nthe VPN is down since this morning.\n\n-- \nAnn\n")
	if err := sendSMTP(t, addrOf(ch), "ann@example.com", []string{"support@acme.test"}, raw); err != nil {
		t.Fatalf("send: %v", err)
	}
	msgs := host.delivered()
	if len(msgs) != 1 {
		t.Fatalf("delivered %d messages", len(msgs))
	}
	m := msgs[0]
	want := sdk.Party{ExternalID: "ann@example.com", IdentityType: "email", Name: "Ann Example", Email: "ann@example.com"}
	if m.Author != want {
		t.Errorf("author = %+v", m.Author)
	}
	if m.ExternalID != "first.1@example.com" || m.ConversationKey != "first.1@example.com" || len(m.ReplyTo) != 0 {
		t.Errorf("ids: %q %q %q", m.ExternalID, m.ConversationKey, m.ReplyTo)
	}
	if m.Subject != "VPN is down" || m.Text != "Hello,\nthe VPN is down since this morning." {
		t.Errorf("subject %q text %q", m.Subject, m.Text)
	}
	if !strings.Contains(m.Metadata["full_text"], "-- \nAnn") {
		t.Errorf("full text not kept: %q", m.Metadata["full_text"])
	}
	if !bytes.Equal(m.Raw, raw) || m.RawContentType != "message/rfc822" {
		t.Errorf("raw not kept verbatim")
	}
	// SentAt is when we received it; the header's 2006 date is metadata.
	if time.Since(m.SentAt) > time.Minute || m.SentAt.After(time.Now()) || m.TicketHint != 0 || m.AutoSubmitted {
		t.Errorf("sent %v hint %d auto %v", m.SentAt, m.TicketHint, m.AutoSubmitted)
	}
	if !strings.HasPrefix(m.Metadata["date"], "2006-") {
		t.Errorf("header date not kept: %q", m.Metadata["date"])
	}
	if m.Metadata["via"] != "smtp" || m.Metadata["envelope_from"] != "ann@example.com" {
		t.Errorf("metadata = %v", m.Metadata)
	}
}

// The 250 is sent only after Deliver returned: while Deliver blocks, the
// client's DATA has no answer; when it answers 250, Deliver had returned.
func TestSMTP250OnlyAfterDeliverReturned(t *testing.T) {
	host := newFakeHost()
	host.block, host.entered = make(chan struct{}), make(chan struct{})
	entered := host.entered
	ch := startChannel(t, host, baseConfig())
	done := make(chan error, 1)
	go func() {
		done <- sendSMTP(t, addrOf(ch), "ann@example.com", []string{"support@acme.test"},
			buildMail([]string{"From: ann@example.com", "Subject: x", "Message-ID: <b@example.com>"}, "x"))
	}()
	<-entered
	select {
	case err := <-done:
		t.Fatalf("DATA answered (%v) while Deliver was still running", err)
	default:
	}
	close(host.block)
	if err := <-done; err != nil {
		t.Fatalf("send: %v", err)
	}
	if host.returned.Load() != 1 {
		t.Fatal("250 received but Deliver had not returned")
	}
}

func TestSMTP451WhenCoreRefuses(t *testing.T) {
	host := newFakeHost()
	host.setFail(errors.New("store unavailable"))
	ch := startChannel(t, host, baseConfig())
	raw := buildMail([]string{"From: ann@example.com", "Subject: x", "Message-ID: <r@example.com>"}, "x")
	err := sendSMTP(t, addrOf(ch), "ann@example.com", []string{"support@acme.test"}, raw)
	if code, enh := smtpCode(err); code != 451 || enh != (smtp.EnhancedCode{4, 3, 0}) {
		t.Fatalf("reply = %v, want 451 4.3.0", err)
	}
	if strings.Contains(err.Error(), "store unavailable") {
		t.Errorf("internal error leaked to the sender: %v", err)
	}
	// The sender's MTA retries later and succeeds.
	host.setFail(nil)
	if err := sendSMTP(t, addrOf(ch), "ann@example.com", []string{"support@acme.test"}, raw); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := len(host.delivered()); n != 1 {
		t.Fatalf("delivered %d", n)
	}
}

func TestSMTPOversized(t *testing.T) {
	host := newFakeHost()
	cfg := baseConfig()
	cfg["max_message_mb"] = 1
	ch := startChannel(t, host, cfg)
	big := buildMail([]string{"From: ann@example.com", "Subject: big"}, strings.Repeat("0123456789abcdef\n", 70000))
	err := sendSMTP(t, addrOf(ch), "ann@example.com", []string{"support@acme.test"}, big)
	if code, _ := smtpCode(err); code != 552 {
		t.Fatalf("oversized DATA: %v, want 552", err)
	}
	// Announced with SIZE: refused at MAIL FROM.
	c, err := smtp.Dial(addrOf(ch))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Mail("ann@example.com", &smtp.MailOptions{Size: 5 << 20})
	if code, _ := smtpCode(err); code != 552 {
		t.Fatalf("MAIL FROM SIZE=5MiB: %v, want 552", err)
	}
	if n := len(host.delivered()); n != 0 {
		t.Fatalf("delivered %d", n)
	}
}

func TestSMTPRecipients(t *testing.T) {
	host := newFakeHost()
	ch := startChannel(t, host, baseConfig())
	signer := testSigner(t)
	cases := []struct {
		rcpt string
		ok   bool
	}{
		{"support@acme.test", true},
		{"SUPPORT@Acme.Test", true},
		{"support+anything@acme.test", true},
		{signer.Address(42), true},
		{"sales@acme.test", false},
		{"support@evil.test", false},
	}
	for _, c := range cases {
		t.Run(c.rcpt, func(t *testing.T) {
			err := sendSMTP(t, addrOf(ch), "ann@example.com", []string{c.rcpt},
				buildMail([]string{"From: ann@example.com", "Subject: x"}, c.rcpt))
			code, enh := smtpCode(err)
			switch {
			case c.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !c.ok && (code != 550 || enh != (smtp.EnhancedCode{5, 1, 1})):
				t.Fatalf("reply %v, want 550 5.1.1", err)
			}
		})
	}
}

func TestSMTPThreading(t *testing.T) {
	host := newFakeHost()
	ch := startChannel(t, host, baseConfig())
	signer := testSigner(t)
	forged := strings.Replace(signer.Address(42), "t42.", "t43.", 1)
	cases := []struct {
		name         string
		rcpt         string
		headers      []string
		wantHint     uint64
		wantVerified bool
		wantReplyTo  []string
		wantConv     string
	}{
		{
			name:        "by In-Reply-To and References",
			rcpt:        "support@acme.test",
			headers:     []string{"From: ann@example.com", "Subject: Re: VPN", "Message-ID: <r1@example.com>", "In-Reply-To: <pb.42.aa@acme.test>", "References: <root@example.com> <pb.42.aa@acme.test>"},
			wantReplyTo: []string{"pb.42.aa@acme.test", "root@example.com"},
			wantConv:    "root@example.com",
		},
		{
			name:         "by signed plus-address",
			rcpt:         signer.Address(42),
			headers:      []string{"From: ann@example.com", "Subject: new words", "Message-ID: <r2@example.com>"},
			wantHint:     42,
			wantVerified: true,
			wantConv:     "r2@example.com",
		},
		{
			name:     "forged plus-address is ignored",
			rcpt:     forged,
			headers:  []string{"From: mallory@example.com", "Subject: hi", "Message-ID: <r3@example.com>"},
			wantConv: "r3@example.com",
		},
		{
			name:     "by subject token (unverified: only the requester joins)",
			rcpt:     "support@acme.test",
			headers:  []string{"From: ann@example.com", "Subject: Re: VPN [#42]", "Message-ID: <r4@example.com>"},
			wantHint: 42,
			wantConv: "r4@example.com",
		},
		{
			name:     "stranger with a copied subject token stays unverified",
			rcpt:     "support@acme.test",
			headers:  []string{"From: stranger@example.org", "Subject: Re: VPN [#42]", "Message-ID: <r5@example.com>"},
			wantHint: 42,
			wantConv: "r5@example.com",
		},
		{
			name:         "plus-address wins over subject token",
			rcpt:         signer.Address(7),
			headers:      []string{"From: ann@example.com", "Subject: Re: other [#42]", "Message-ID: <r6@example.com>"},
			wantHint:     7,
			wantVerified: true,
			wantConv:     "r6@example.com",
		},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := sendSMTP(t, addrOf(ch), "x@example.com", []string{c.rcpt}, buildMail(c.headers, "body")); err != nil {
				t.Fatalf("send: %v", err)
			}
			msgs := host.delivered()
			if len(msgs) != i+1 {
				t.Fatalf("delivered %d", len(msgs))
			}
			m := msgs[i]
			if m.TicketHint != c.wantHint || m.TicketHintVerified != c.wantVerified {
				t.Errorf("hint %d verified %v, want %d %v", m.TicketHint, m.TicketHintVerified, c.wantHint, c.wantVerified)
			}
			if strings.Join(m.ReplyTo, " ") != strings.Join(c.wantReplyTo, " ") {
				t.Errorf("ReplyTo %q, want %q", m.ReplyTo, c.wantReplyTo)
			}
			if m.ConversationKey != c.wantConv {
				t.Errorf("ConversationKey %q, want %q", m.ConversationKey, c.wantConv)
			}
		})
	}
}

// A resent message is delivered again with the same ExternalID, so the
// core's (instance, ExternalID) dedupe stores it once; without a
// Message-ID the id is a hash that ignores relay trace headers.
func TestSMTPResentMessageKeepsExternalID(t *testing.T) {
	host := newFakeHost()
	ch := startChannel(t, host, baseConfig())
	cases := []struct {
		name   string
		first  []byte
		second []byte
	}{
		{"with Message-ID",
			buildMail([]string{"From: ann@example.com", "Subject: x", "Message-ID: <dup@example.com>"}, "same"),
			buildMail([]string{"Received: from relay2", "From: ann@example.com", "Subject: x", "Message-ID: <dup@example.com>"}, "same")},
		{"without Message-ID",
			buildMail([]string{"From: ann@example.com", "Subject: no id"}, "same body"),
			buildMail([]string{"Received: from mx.example.com by relay2; Mon, 1 Jan 2024", "Return-Path: <ann@example.com>", "From: ann@example.com", "Subject: no id"}, "same body")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(host.delivered())
			for _, raw := range [][]byte{c.first, c.second} {
				if err := sendSMTP(t, addrOf(ch), "ann@example.com", []string{"support@acme.test"}, raw); err != nil {
					t.Fatal(err)
				}
			}
			msgs := host.delivered()[before:]
			if len(msgs) != 1 || msgs[0].ExternalID == "" {
				t.Fatalf("stored %d messages", len(msgs))
			}
			if d, _ := host.Delivery(msgs[0].ExternalID); d.Times != 2 {
				t.Fatalf("the resent message got another ExternalID (delivered %d times under %q)", d.Times, msgs[0].ExternalID)
			}
		})
	}
}

func TestSMTPAttachmentsAllowedAndRejected(t *testing.T) {
	host := newFakeHost()
	host.SetPolicy(sdk.AttachmentPolicy{Allow: []string{".pdf", ".png"}, MaxBytes: 1 << 20})
	ch := startChannel(t, host, baseConfig())
	pdf := []byte("%PDF-1.7 report")
	exe := []byte("MZ\x90\x00 evil")
	raw := buildMail([]string{
		"From: ann@example.com", "Subject: files", "Message-ID: <att@example.com>",
		"MIME-Version: 1.0", `Content-Type: multipart/mixed; boundary="XX"`,
	}, "--XX\nContent-Type: text/plain\n\nsee attached\n"+
		"--XX\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"report.pdf\"\nContent-Transfer-Encoding: base64\n\n"+
		base64.StdEncoding.EncodeToString(pdf)+"\n"+
		"--XX\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"setup.exe\"\nContent-Transfer-Encoding: base64\n\n"+
		base64.StdEncoding.EncodeToString(exe)+"\n--XX--\n")
	if err := sendSMTP(t, addrOf(ch), "ann@example.com", []string{"support@acme.test"}, raw); err != nil {
		t.Fatalf("a rejected attachment must not bounce the mail: %v", err)
	}
	d := host.Deliveries()[0]
	if d.Message.Text != "see attached" {
		t.Fatalf("text %q", d.Message.Text)
	}
	// The FakeHost checked each file's declared size and SHA-256.
	if len(d.Files) != 1 || d.Files[0].Filename != "report.pdf" || d.Files[0].ContentType != "application/pdf" || !bytes.Equal(d.Files[0].Data, pdf) {
		t.Errorf("accepted files %+v", d.Files)
	}
	if len(d.Rejected) != 1 || d.Rejected[0].Filename != "setup.exe" {
		t.Errorf("rejected %+v", d.Rejected)
	}
}

func TestSMTPContentVariants(t *testing.T) {
	host := newFakeHost()
	ch := startChannel(t, host, baseConfig())
	latin1, _ := charmap.ISO8859_1.NewEncoder().Bytes([]byte("Grüße, der Drucker ist kaputt."))
	sjis, _ := japanese.ShiftJIS.NewEncoder().Bytes([]byte("プリンターが動きません。"))
	cases := []struct {
		name      string
		raw       []byte
		wantText  string
		wantHTML  string
		wantSubj  string
		wantParse bool // parse errors recorded
	}{
		{
			name: "HTML only",
			raw: buildMail([]string{"From: ann@example.com", "Subject: html", "Content-Type: text/html; charset=utf-8"},
				"<html><body><p>The <b>printer</b> is on fire.</p></body></html>"),
			wantText: "The *printer* is on fire.",
			wantHTML: "<b>printer</b>",
			wantSubj: "html",
		},
		{
			name: "ISO-8859-1",
			raw: append(buildMail([]string{"From: j@example.de", "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?=", "Content-Type: text/plain; charset=ISO-8859-1", "Content-Transfer-Encoding: 8bit"}, ""),
				latin1...),
			wantText: "Grüße, der Drucker ist kaputt.",
			wantSubj: "Grüße",
		},
		{
			name: "Shift_JIS",
			raw: buildMail([]string{"From: taro@example.jp", "Subject: =?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte("印刷")) + "?=",
				"Content-Type: text/plain; charset=Shift_JIS", "Content-Transfer-Encoding: base64"}, base64.StdEncoding.EncodeToString(sjis)),
			wantText: "プリンターが動きません。",
			wantSubj: "印刷",
		},
		{
			name: "malformed MIME is accepted and kept raw",
			raw: buildMail([]string{"From: ann@example.com", "Subject: broken", "MIME-Version: 1.0", "Content-Type: multipart/mixed"},
				"no boundary at all\n--\n"),
			wantText: "no boundary at all",
			wantSubj: "broken",
		},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := sendSMTP(t, addrOf(ch), "x@example.com", []string{"support@acme.test"}, c.raw); err != nil {
				t.Fatalf("send: %v", err)
			}
			m := host.delivered()[i]
			if !strings.Contains(m.Text, c.wantText) {
				t.Errorf("text %q, want %q", m.Text, c.wantText)
			}
			if c.wantHTML != "" && !strings.Contains(m.HTML, c.wantHTML) {
				t.Errorf("html %q", m.HTML)
			}
			if m.Subject != c.wantSubj {
				t.Errorf("subject %q, want %q", m.Subject, c.wantSubj)
			}
			// SMTP ends every message with CRLF.
			if !bytes.Equal(bytes.TrimRight(m.Raw, "\r\n"), bytes.TrimRight(c.raw, "\r\n")) {
				t.Error("raw not kept")
			}
		})
	}
}

func TestSMTPAutoSubmitted(t *testing.T) {
	host := newFakeHost()
	ch := startChannel(t, host, baseConfig())
	cases := []struct {
		name   string
		from   string
		header string
		want   bool
	}{
		{"person", "ann@example.com", "X-Mailer: Thunderbird", false},
		{"Auto-Submitted: no", "ann@example.com", "Auto-Submitted: no", false},
		{"out of office", "ann@example.com", "Auto-Submitted: auto-replied", true},
		{"null sender bounce", "", "X-Failed-Recipients: ann@example.com", true},
		{"Precedence: bulk", "news@example.com", "Precedence: bulk", true},
		{"Precedence: list", "list@example.com", "Precedence: list", true},
		{"List-Id", "list@example.com", "List-Id: <dev.lists.example.com>", true},
		{"X-Autoreply", "ann@example.com", "X-Autoreply: yes", true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := buildMail([]string{"From: sender@example.com", "Subject: auto", c.header}, "I am away.")
			if err := sendSMTP(t, addrOf(ch), c.from, []string{"support@acme.test"}, raw); err != nil {
				t.Fatalf("send: %v", err)
			}
			m := host.delivered()[i]
			if m.AutoSubmitted != c.want {
				t.Errorf("AutoSubmitted = %v, want %v (metadata %v)", m.AutoSubmitted, c.want, m.Metadata)
			}
			if c.want && m.Metadata["auto_submitted"] == "" {
				t.Error("no reason recorded")
			}
		})
	}
}

func TestSMTPEchoDropped(t *testing.T) {
	host := newFakeHost()
	ch := startChannel(t, host, baseConfig())
	for _, from := range []string{"Support <support@acme.test>", "support+t1.abc@acme.test", "SUPPORT@ACME.TEST"} {
		raw := buildMail([]string{"From: " + from, "Subject: Re: VPN [#1]"}, "our own reply came back")
		if err := sendSMTP(t, addrOf(ch), "bounce@example.com", []string{"support@acme.test"}, raw); err != nil {
			t.Fatalf("echo from %q not accepted: %v", from, err)
		}
	}
	if n := host.DeliverCalls(); n != 0 {
		t.Fatalf("echo delivered %d times", n)
	}
}

func TestLMTP(t *testing.T) {
	host := newFakeHost()
	cfg := baseConfig()
	cfg["lmtp"] = true
	ch := startChannel(t, host, cfg)
	conn, err := net.Dial("tcp", addrOf(ch))
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("mx.acme.test"); err != nil {
		t.Fatal(err)
	}
	send := func(id string) map[string]*smtp.DataResponse {
		t.Helper()
		if err := c.Mail("ann@example.com", nil); err != nil {
			t.Fatal(err)
		}
		for _, r := range []string{"support@acme.test", "support+x@acme.test"} {
			if err := c.Rcpt(r, nil); err != nil {
				t.Fatal(err)
			}
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		w.Write(buildMail([]string{"From: ann@example.com", "Subject: lmtp", "Message-ID: <" + id + ">"}, "via postfix"))
		resp, err := w.CloseWithLMTPResponse()
		if err != nil {
			var lerr smtp.LMTPDataError
			if !errors.As(err, &lerr) {
				t.Fatalf("LMTP DATA: %v", err)
			}
			out := map[string]*smtp.DataResponse{}
			for rcpt, e := range lerr {
				code, _ := smtpCode(e)
				out[rcpt] = &smtp.DataResponse{StatusText: e.Error()}
				if code != 451 {
					t.Errorf("%s: %v, want 451", rcpt, e)
				}
			}
			return out
		}
		return resp
	}
	if resp := send("l1@example.com"); len(resp) != 2 {
		t.Fatalf("per-recipient replies: %v", resp)
	}
	if m := host.delivered(); len(m) != 1 || m[0].Metadata["via"] != "lmtp" {
		t.Fatalf("delivered %d", len(m))
	}
	host.setFail(errors.New("down"))
	if resp := send("l2@example.com"); len(resp) != 2 {
		t.Fatalf("per-recipient failures: %v", resp)
	}
}

func TestHandleWebhookNotFound(t *testing.T) {
	resp, err := New().HandleWebhook(t.Context(), &sdk.WebhookRequest{Method: "POST", Path: "/"})
	if err != nil || resp.Status != 404 {
		t.Fatalf("HandleWebhook = %+v, %v", resp, err)
	}
}

// Postfix usually talks LMTP to a unix socket.
func TestLMTPUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "lmtp.sock")
	host := newFakeHost()
	cfg := baseConfig()
	cfg["smtp_listen"], cfg["lmtp"] = "unix:"+sock, true
	startChannel(t, host, cfg)
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("mx.acme.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("ann@example.com", []string{"support@acme.test"},
		bytes.NewReader(buildMail([]string{"From: ann@example.com", "Subject: unix", "Message-ID: <unix@example.com>"}, "hi"))); err != nil {
		t.Fatalf("LMTP over unix socket: %v", err)
	}
	if _, ok := host.Delivery("unix@example.com"); !ok {
		t.Fatal("not delivered")
	}
}

// Stop lets a delivery in flight finish and answer 250; afterwards the
// listener is closed.
func TestStopWaitsForInFlightDelivery(t *testing.T) {
	host := newFakeHost()
	host.block, host.entered = make(chan struct{}), make(chan struct{})
	entered := host.entered
	ch := New()
	raw, _ := json.Marshal(baseConfig())
	if err := ch.Configure(t.Context(), sdk.ConfigureRequest{Instance: "support", Config: raw, Host: host}); err != nil {
		t.Fatal(err)
	}
	if err := ch.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	addr := addrOf(ch)
	sent := make(chan error, 1)
	go func() {
		sent <- fakemail.SendSMTP(addr, "ann@example.com", []string{"support@acme.test"},
			buildMail([]string{"From: ann@example.com", "Subject: x", "Message-ID: <inflight@example.com>"}, "x"))
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- ch.Stop(context.Background()) }()
	close(host.block)
	if err := <-sent; err != nil {
		t.Fatalf("the in-flight message was not accepted: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("the listener still accepts connections after Stop")
	}
}

// The comment's time is when the mail reached us, whatever its Date header
// says (a resent 2001 mail, a forged 2039 date, none, garbage); the header
// date stays readable in the metadata.
func TestSMTPDateIsReceivedTime(t *testing.T) {
	host := newFakeHost()
	ch := startChannel(t, host, baseConfig())
	cases := []struct{ date, meta string }{
		{"Date: Tue, 02 Jan 2001 10:00:00 +0000", "2001-01-02T10:00:00Z"},
		{"Date: Sun, 02 Jan 2039 10:00:00 +0000", "2039-01-02T10:00:00Z"},
		{"Date: not a date", ""},
		{"X-No-Date: 1", ""},
	}
	fixture, err := os.ReadFile(filepath.Join("..", "mailparse", "testdata", "wild", "6-future-date.eml"))
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, struct{ date, meta string }{"fixture", "2039-01-02T10:00:00Z"})
	for i, c := range cases {
		before := time.Now()
		raw := buildMail([]string{"From: ann@example.com", "To: support@acme.test", "Subject: dates",
			fmt.Sprintf("Message-ID: <date.%d@example.com>", i), c.date}, "When did this arrive?\n")
		if c.date == "fixture" {
			raw = fixture
		}
		if err := sendSMTP(t, addrOf(ch), "ann@example.com", []string{"support@acme.test"}, raw); err != nil {
			t.Fatal(err)
		}
		msgs := host.delivered()
		m := msgs[len(msgs)-1]
		if m.SentAt.Before(before.Add(-time.Second)) || m.SentAt.After(time.Now().Add(time.Second)) {
			t.Errorf("%q: SentAt %v is not the time of receipt", c.date, m.SentAt)
		}
		if m.Metadata["date"] != c.meta {
			t.Errorf("%q: metadata date %q, want %q", c.date, m.Metadata["date"], c.meta)
		}
	}
}

// A MIME bomb (6,000 nested multiparts) over a real SMTP exchange is
// accepted: the ticket gets its text and a note, the comment's metadata
// says parts were dropped, and the raw message is kept whole.
func TestSMTPMIMEBomb(t *testing.T) {
	host := newFakeHost()
	ch := startChannel(t, host, baseConfig())
	var b bytes.Buffer
	b.WriteString("From: ann@example.com\r\nTo: support@acme.test\r\nSubject: deep\r\nMessage-ID: <bomb@example.com>\r\n")
	b.WriteString("Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n--b0\r\nContent-Type: text/plain\r\n\r\nPlease read me.\r\n")
	for i := 1; i < 6000; i++ {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i-1, i)
	}
	for i := 5999; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	if err := sendSMTP(t, addrOf(ch), "ann@example.com", []string{"support@acme.test"}, b.Bytes()); err != nil {
		t.Fatalf("send: %v", err)
	}
	msgs := host.delivered()
	if len(msgs) != 1 {
		t.Fatalf("delivered %d", len(msgs))
	}
	m := msgs[0]
	if !strings.Contains(m.Text, "Please read me.") || !strings.Contains(m.Text, "Parts of this message were not read") {
		t.Errorf("text %q", m.Text)
	}
	if m.Metadata["parts_dropped"] != "true" || !strings.Contains(m.Metadata["parse_errors"], "nests more than 32") {
		t.Errorf("metadata %v", m.Metadata)
	}
	if !bytes.Equal(m.Raw, b.Bytes()) {
		t.Error("raw message not kept whole")
	}
}
