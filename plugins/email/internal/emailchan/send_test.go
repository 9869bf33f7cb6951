package emailchan

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/jhillyerd/enmime/v2"

	"github.com/patchbayhq/patchbay/plugins/email/internal/fakemail"
	"github.com/patchbayhq/patchbay/plugins/email/internal/mailparse"
	"github.com/patchbayhq/patchbay/sdk"
)

func reply(ticket uint64) *sdk.OutboundMessage {
	return &sdk.OutboundMessage{
		IdempotencyKey:    "reply-key-1",
		TicketID:          ticket,
		CommentID:         9,
		ConversationKey:   "root@example.com",
		Recipient:         sdk.Party{ExternalID: "ann@example.com", IdentityType: "email", Name: "Ann Example", Email: "ann@example.com"},
		Subject:           "Re: VPN is down",
		Text:              "Please restart the client.",
		ThreadExternalIDs: []string{"root@example.com", mailparse.HashIDPrefix + "abcd", "pb.42.0001@acme.test", "r2@example.com"},
		Author:            sdk.Party{Name: "Bob Agent"},
	}
}

func sinkConfig(k *fakemail.Sink) map[string]any {
	cfg := baseConfig()
	cfg["outbound"] = "smtp://" + k.Addr
	return cfg
}

func readEnvelope(t *testing.T, data []byte) *enmime.Envelope {
	t.Helper()
	env, err := enmime.ReadEnvelope(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("reading sent mail: %v", err)
	}
	return env
}

func TestSendThreadingHeaders(t *testing.T) {
	sink := fakemail.StartSink(t)
	ch := startChannel(t, newFakeHost(), sinkConfig(sink))
	out := reply(42)
	out.Attachments = []sdk.Attachment{sdk.BytesAttachment("fix.txt", "text/plain", []byte("step 1: restart"))}
	res, err := ch.Send(t.Context(), out)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := sink.Received()
	if len(got) != 1 {
		t.Fatalf("sink got %d mails", len(got))
	}
	if got[0].From != "support@acme.test" || len(got[0].Rcpts) != 1 || got[0].Rcpts[0] != "ann@example.com" {
		t.Errorf("envelope %q -> %q", got[0].From, got[0].Rcpts)
	}
	env := readEnvelope(t, got[0].Data)
	signer := testSigner(t)
	checks := map[string]string{
		"Subject":     "Re: VPN is down [#42]",
		"Message-Id":  "<" + res.ExternalID + ">",
		"In-Reply-To": "<r2@example.com>",
		"From":        `"Bob Agent" <support@acme.test>`,
		"To":          `"Ann Example" <ann@example.com>`,
		"Reply-To":    `"Bob Agent" <` + signer.Address(42) + `>`,
	}
	for h, want := range checks {
		if v := env.GetHeader(h); v != want {
			t.Errorf("%s = %q, want %q", h, v, want)
		}
	}
	refs := mailparse.ParseMsgIDs(env.GetHeader("References"))
	if strings.Join(refs, " ") != "root@example.com pb.42.0001@acme.test r2@example.com" {
		t.Errorf("References = %q", refs)
	}
	if env.GetHeader("Auto-Submitted") != "" {
		t.Error("a person's reply is marked Auto-Submitted")
	}
	if ua := env.GetHeader("User-Agent"); !strings.HasPrefix(ua, "Patchbay") {
		t.Errorf("User-Agent %q", ua)
	}
	if !strings.HasPrefix(res.ExternalID, "pb.42.") || !strings.HasSuffix(res.ExternalID, "@acme.test") {
		t.Errorf("ExternalID = %q", res.ExternalID)
	}
	if strings.TrimSpace(env.Text) != "Please restart the client." {
		t.Errorf("body %q", env.Text)
	}
	if len(env.Attachments) != 1 || env.Attachments[0].FileName != "fix.txt" || string(env.Attachments[0].Content) != "step 1: restart" {
		t.Errorf("attachments %+v", env.Attachments)
	}

	// The same reply retried carries the same Message-ID.
	res2, err := ch.Send(t.Context(), out)
	if err != nil || res2.ExternalID != res.ExternalID {
		t.Errorf("retry: %v, id %q vs %q", err, res2.ExternalID, res.ExternalID)
	}
}

func TestSendFirstMailAndAutoReply(t *testing.T) {
	sink := fakemail.StartSink(t)
	cfg := sinkConfig(sink)
	cfg["from_name"] = "ACME Support"
	ch := startChannel(t, newFakeHost(), cfg)
	out := reply(5)
	out.ThreadExternalIDs = nil
	out.Subject = "Printer"
	out.AutoReply = true
	out.IdempotencyKey = "auto-1"
	out.Recipient.Name = "Ann@Example.com"
	out.HTML = "<p>We got your <b>request</b>.</p>"
	out.Text = ""
	if _, err := ch.Send(t.Context(), out); err != nil {
		t.Fatal(err)
	}
	env := readEnvelope(t, sink.Received()[0].Data)
	for h, want := range map[string]string{
		"Subject":        "Printer [#5]",
		"Auto-Submitted": "auto-replied",
		"From":           `"ACME Support" <support@acme.test>`,
		"To":             `<ann@example.com>`,
		"In-Reply-To":    "",
		"References":     "",
	} {
		if v := env.GetHeader(h); v != want {
			t.Errorf("%s = %q, want %q", h, v, want)
		}
	}
	if !strings.Contains(env.HTML, "<b>request</b>") || !strings.Contains(env.Text, "request") {
		t.Errorf("html %q text %q", env.HTML, env.Text)
	}
}

// A customer answering our reply (to the Reply-To plus-address, with our
// Message-ID in In-Reply-To) threads back by both rules.
// The customer's first mail had no Message-ID: the answer is still "Re:",
// without In-Reply-To/References (a hash id is no Message-ID).
func TestSendReplyToMessageWithoutID(t *testing.T) {
	sink := fakemail.StartSink(t)
	ch := startChannel(t, newFakeHost(), sinkConfig(sink))
	out := reply(3)
	out.ThreadExternalIDs = []string{mailparse.HashIDPrefix + "d392"}
	out.Subject = "VPN is down"
	if _, err := ch.Send(t.Context(), out); err != nil {
		t.Fatal(err)
	}
	env := readEnvelope(t, sink.Received()[0].Data)
	if env.GetHeader("Subject") != "Re: VPN is down [#3]" || env.GetHeader("In-Reply-To") != "" || env.GetHeader("References") != "" {
		t.Errorf("Subject %q In-Reply-To %q References %q", env.GetHeader("Subject"), env.GetHeader("In-Reply-To"), env.GetHeader("References"))
	}
}

func TestReplyRoundTrip(t *testing.T) {
	sink := fakemail.StartSink(t)
	host := newFakeHost()
	ch := startChannel(t, host, sinkConfig(sink))
	res, err := ch.Send(t.Context(), reply(42))
	if err != nil {
		t.Fatal(err)
	}
	sent := readEnvelope(t, sink.Received()[0].Data)
	replyTo, _ := sent.AddressList("Reply-To")
	answer := buildMail([]string{
		"From: Ann Example <ann@example.com>", "To: " + replyTo[0].Address,
		"Subject: Re: " + sent.GetHeader("Subject"), "Message-ID: <answer@example.com>",
		"In-Reply-To: " + sent.GetHeader("Message-Id"), "References: " + sent.GetHeader("References") + " " + sent.GetHeader("Message-Id"),
	}, "Restarted, works.\n\nOn Mon, Bob Agent <support@acme.test> wrote:\n> Please restart the client.\n")
	if err := sendSMTP(t, addrOf(ch), "ann@example.com", []string{replyTo[0].Address}, answer); err != nil {
		t.Fatal(err)
	}
	m := host.delivered()[0]
	if m.TicketHint != 42 || !m.TicketHintVerified {
		t.Errorf("hint %d verified %v", m.TicketHint, m.TicketHintVerified)
	}
	if len(m.ReplyTo) == 0 || m.ReplyTo[0] != res.ExternalID || m.ConversationKey != "root@example.com" {
		t.Errorf("ReplyTo %q conv %q", m.ReplyTo, m.ConversationKey)
	}
	if m.Text != "Restarted, works." {
		t.Errorf("text %q", m.Text)
	}
}

func TestSendErrors(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	cases := []struct {
		name          string
		rcptErr       *smtp.SMTPError
		dataErr       *smtp.SMTPError
		outbound      string // overrides the sink
		recipient     string
		wantRetryable bool
		wantCode      string
		wantText      string
	}{
		{name: "4xx at RCPT is retried", rcptErr: &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "Mailbox busy"},
			wantRetryable: true, wantCode: "smtp_450", wantText: "Mailbox busy"},
		{name: "5xx at RCPT is permanent", rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"},
			wantCode: "smtp_550", wantText: "550 5.1.1 No such user"},
		{name: "5xx at end of DATA is permanent", dataErr: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Rejected as spam"},
			wantCode: "smtp_554", wantText: "Rejected as spam"},
		{name: "4xx at end of DATA is retried", dataErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try later"},
			wantRetryable: true, wantCode: "smtp_451", wantText: "Try later"},
		{name: "connection refused is retried", outbound: "smtp://" + closedAddr, wantRetryable: true, wantCode: "smtp_unavailable"},
		{name: "no outbound is permanent", outbound: "-", wantCode: "no_outbound"},
		{name: "recipient without address is permanent", recipient: "U12345", wantCode: "invalid_recipient"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sink := fakemail.StartSink(t)
			sink.FailRcpt(c.rcptErr)
			sink.FailData(c.dataErr)
			cfg := sinkConfig(sink)
			switch c.outbound {
			case "":
			case "-":
				delete(cfg, "outbound")
			default:
				cfg["outbound"] = c.outbound
			}
			ch := startChannel(t, newFakeHost(), cfg)
			out := reply(42)
			if c.recipient != "" {
				out.Recipient = sdk.Party{ExternalID: c.recipient}
			}
			_, err := ch.Send(t.Context(), out)
			var se *sdk.SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send error %v is not a *sdk.SendError", err)
			}
			if se.Retryable != c.wantRetryable || se.Code != c.wantCode || !strings.Contains(se.Message, c.wantText) {
				t.Fatalf("got retryable=%v code=%q message=%q; want %v %q containing %q", se.Retryable, se.Code, se.Message, c.wantRetryable, c.wantCode, c.wantText)
			}
		})
	}
}

func TestSendAuthenticated(t *testing.T) {
	sink := fakemail.StartSink(t)
	sink.RequireAuth("relay-user", "s3cret-pass")
	cfg := baseConfig()
	cfg["outbound"] = "smtp://relay-user:s3cret-pass@" + sink.Addr + "?auth=plain"
	ch := startChannel(t, newFakeHost(), cfg)
	if _, err := ch.Send(t.Context(), reply(1)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := sink.Received(); len(got) != 1 || got[0].User != "relay-user" {
		t.Fatalf("sink got %+v", got)
	}

	// Wrong password: permanent 535, and the password is in no error.
	cfg["outbound"] = "smtp://relay-user:wrong-pass@" + sink.Addr + "?auth=plain"
	host2 := newFakeHost()
	ch2 := startChannel(t, host2, cfg)
	_, err := ch2.Send(t.Context(), reply(1))
	var se *sdk.SendError
	if !errors.As(err, &se) || se.Retryable || !strings.HasPrefix(se.Code, "smtp_5") {
		t.Fatalf("bad credentials: %v", err)
	}
	if strings.Contains(se.Error(), "wrong-pass") {
		t.Fatalf("password leaked: %v", se)
	}
	if st := host2.lastStatus(); st.State != sdk.StateAuthFailed || strings.Contains(st.Message, "wrong-pass") {
		t.Fatalf("status %+v, want auth_failed without the password", st)
	}
}

func TestSendDirOutbound(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbound-mail")
	cfg := baseConfig()
	cfg["outbound"] = "dir:" + dir
	ch := startChannel(t, newFakeHost(), cfg)
	out := reply(42)
	res, err := ch.Send(t.Context(), out)
	if err != nil {
		t.Fatal(err)
	}
	// A retry of the same reply replaces its file.
	if _, err := ch.Send(t.Context(), out); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 1 || !strings.HasSuffix(files[0], ".eml") {
		t.Fatalf("files %q", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	env := readEnvelope(t, data)
	if env.GetHeader("Message-Id") != "<"+res.ExternalID+">" || env.GetHeader("Subject") != "Re: VPN is down [#42]" || env.GetHeader("To") != `"Ann Example" <ann@example.com>` {
		t.Errorf("eml headers: %q %q %q", env.GetHeader("Message-Id"), env.GetHeader("Subject"), env.GetHeader("To"))
	}
	other := reply(43)
	other.IdempotencyKey = "another"
	if _, err := ch.Send(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.eml")); len(files) != 2 {
		t.Fatalf("files after a second reply: %q", files)
	}
}

func TestRecipientAddress(t *testing.T) {
	for _, c := range []struct {
		p    sdk.Party
		want string
	}{
		{sdk.Party{ExternalID: "ann@example.com", IdentityType: "email", Email: "ann.other@example.com"}, "ann@example.com"},
		{sdk.Party{ExternalID: "ann@example.com"}, "ann@example.com"},
		{sdk.Party{ExternalID: "T1:U2", IdentityType: "slack", Email: "ann@example.com"}, "ann@example.com"},
		{sdk.Party{ExternalID: "U12345"}, ""},
	} {
		if got := recipientAddress(c.p); got != c.want {
			t.Errorf("recipientAddress(%+v) = %q, want %q", c.p, got, c.want)
		}
	}
}

func TestOutboundSubject(t *testing.T) {
	for _, c := range []struct {
		subject string
		ticket  uint64
		reply   bool
		want    string
	}{
		{"VPN is down", 42, true, "Re: VPN is down [#42]"},
		{"Re: RE: VPN is down [#42]", 42, true, "Re: VPN is down [#42]"},
		{"", 42, true, "Re: [#42]"},
		{"Printer", 7, false, "Printer [#7]"},
		{"Printer", 0, false, "Printer"},
	} {
		if got := outboundSubject(c.subject, c.ticket, c.reply); got != c.want {
			t.Errorf("outboundSubject(%q, %d, %v) = %q, want %q", c.subject, c.ticket, c.reply, got, c.want)
		}
	}
}

// smtp:// uses STARTTLS when the relay offers it, smtps:// speaks TLS from
// the start, and tls=required refuses a relay without STARTTLS.
func TestSendTLS(t *testing.T) {
	serverTLS, clientTLS := fakemail.TLSPair(t)
	cases := []struct {
		name     string
		scheme   string
		query    string
		offerTLS bool
		implicit bool
		wantTLS  bool
		wantErr  bool
	}{
		{name: "STARTTLS when offered", scheme: "smtp", offerTLS: true, wantTLS: true},
		{name: "plain when not offered", scheme: "smtp", wantTLS: false},
		{name: "implicit TLS", scheme: "smtps", offerTLS: true, implicit: true, wantTLS: true},
		{name: "required but not offered", scheme: "smtp", query: "?tls=required", wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var sink *fakemail.Sink
			if c.offerTLS {
				sink = fakemail.StartTLSSink(t, serverTLS, c.implicit)
			} else {
				sink = fakemail.StartSink(t)
			}
			cfg := baseConfig()
			cfg["outbound"] = c.scheme + "://" + sink.Addr + c.query
			ch := startChannel(t, newFakeHost(), cfg)
			ch.mu.Lock()
			inst := *ch.inst
			inst.sender = smtpTransport{spec: inst.cfg.Outbound, tlsConfig: clientTLS}
			ch.inst = &inst
			ch.mu.Unlock()
			_, err := ch.Send(t.Context(), reply(42))
			if c.wantErr {
				var se *sdk.SendError
				if !errors.As(err, &se) || len(sink.Received()) != 0 {
					t.Fatalf("Send = %v; want a SendError and nothing sent", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := sink.Received()
			if len(got) != 1 || got[0].TLS != c.wantTLS {
				t.Fatalf("received %d mails, TLS %v; want TLS %v", len(got), len(got) > 0 && got[0].TLS, c.wantTLS)
			}
		})
	}
}

// Outbound headers are well formed whatever the text: a non-ASCII Subject
// starts on the Subject line and is folded into encoded words of at most
// 75 characters on lines of at most 78; a non-ASCII file name is an RFC
// 2231 parameter, never an encoded word inside quotes (RFC 2047 §5).
func TestSendHeaderEncoding(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	cfg := baseConfig()
	cfg["outbound"] = "dir:" + dir
	ch := startChannel(t, newFakeHost(), cfg)
	cases := []struct{ subject, file string }{
		{"プリンターが動かない件について、至急ご確認をお願いいたします。東京本社三階の複合機です", "請求書 2024年3月.pdf"},
		{"Réservation annulée pour la salle de réunion du deuxième étage, merci de confirmer rapidement", "résumé.pdf"},
		{strings.Repeat("long ascii subject words ", 8), "plain.txt"},
	}
	for i, c := range cases {
		out := reply(42)
		out.IdempotencyKey = fmt.Sprint("hdr-", i)
		out.Subject = c.subject
		out.Attachments = []sdk.Attachment{sdk.BytesAttachment(c.file, "application/pdf", []byte("%PDF-1.4"))}
		res, err := ch.Send(t.Context(), out)
		if err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(dir, strings.SplitN(res.ExternalID, "@", 2)[0]+"*.eml"))
		if len(files) != 1 {
			t.Fatalf("files %q", files)
		}
		data, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		if strings.Contains(text, "Subject: \r\n") || strings.Contains(text, "Subject:\r\n") {
			t.Errorf("%d: Subject starts on a continuation line", i)
		}
		head, _, _ := strings.Cut(text, "\r\n\r\n")
		for _, l := range strings.Split(head, "\r\n") {
			if len(l) > 78 {
				t.Errorf("%d: header line of %d characters: %q", i, len(l), l)
			}
		}
		if strings.Contains(text, `"=?`) {
			t.Errorf("%d: an encoded word inside a quoted string", i)
		}
		// Decoded as RFC 2047 6.2 says: the white space between encoded
		// words is dropped.
		m := mailparse.Parse(data)
		if want := "Re: " + strings.TrimSpace(c.subject) + " [#42]"; m.Subject != want {
			t.Errorf("%d: subject %q, want %q", i, m.Subject, want)
		}
		if len(m.Attachments) != 1 || m.Attachments[0].Filename != c.file {
			t.Errorf("%d: attachments %+v, want %q", i, m.Attachments, c.file)
		}
	}
}

// A recipient with a non-ASCII local part (RFC 6531) is sent with
// SMTPUTF8 through a relay that offers it, and fails permanently with a
// clear reason through one that does not.
func TestSendSMTPUTF8(t *testing.T) {
	out := reply(42)
	out.Recipient = sdk.Party{ExternalID: "jörg@example.de", IdentityType: "email", Name: "Jörg"}

	utf8Sink := fakemail.StartSMTPUTF8Sink(t)
	ch := startChannel(t, newFakeHost(), sinkConfig(utf8Sink))
	if _, err := ch.Send(t.Context(), out); err != nil {
		t.Fatalf("send through an SMTPUTF8 relay: %v", err)
	}
	got := utf8Sink.Received()
	if len(got) != 1 || !got[0].UTF8 || len(got[0].Rcpts) != 1 || got[0].Rcpts[0] != "jörg@example.de" {
		t.Fatalf("received %+v", got)
	}

	plain := fakemail.StartSink(t)
	ch = startChannel(t, newFakeHost(), sinkConfig(plain))
	_, err := ch.Send(t.Context(), out)
	var se *sdk.SendError
	if !errors.As(err, &se) || se.Code != "smtputf8_unsupported" || se.Retryable || !strings.Contains(se.Error(), "SMTPUTF8") {
		t.Fatalf("send through a relay without SMTPUTF8: %v", err)
	}
	if len(plain.Received()) != 0 {
		t.Error("the relay received the mail")
	}

	// ASCII recipients do not need it.
	ascii := reply(42)
	ascii.IdempotencyKey = "ascii"
	if _, err := ch.Send(t.Context(), ascii); err != nil {
		t.Fatalf("ASCII recipient: %v", err)
	}
}
