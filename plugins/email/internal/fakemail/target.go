package fakemail

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/jhillyerd/enmime/v2"

	"github.com/patchbayhq/patchbay/internal/testutil"
	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
)

// FreeAddr returns a loopback address with a port that was free a moment
// ago, for a listener whose address must be in the configuration.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return testutil.FreeAddr(t)
}

// SendSMTP hands raw to the SMTP server at addr as an MTA would and
// returns the server's answer: nil for 250, else the *smtp.SMTPError.
func SendSMTP(addr, from string, to []string, raw []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("mx.example.com"); err != nil {
		return err
	}
	if err := c.SendMail(from, to, bytes.NewReader(raw)); err != nil {
		return err
	}
	// The 250 after DATA is what counts; a server going away before QUIT
	// does not undo it.
	_ = c.Quit()
	return nil
}

// Ack describes an SMTP answer as the sending MTA sees it: 250 is OK, 4xx
// makes it retry, 5xx bounces.
func Ack(err error) channeltest.Ack {
	if err == nil {
		return channeltest.Ack{OK: true, Detail: "SMTP 250"}
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return channeltest.Ack{Retry: se.Code/100 == 4, Detail: fmt.Sprintf("SMTP %d %s", se.Code, se.Message)}
	}
	// A broken connection makes an MTA retry too.
	return channeltest.Ack{Retry: true, Detail: "connection error: " + err.Error()}
}

// crlf turns "\n" line ends into CRLF.
func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

// Conformance files of the attachment case.
var (
	pdfFile = channeltest.File{Filename: "report.pdf", ContentType: "application/pdf", Data: bytes.Repeat([]byte("%PDF-1.4 email conformance\n"), 3000)}
	txtFile = channeltest.File{Filename: "notes.txt", ContentType: "text/plain", Data: []byte("line one\nline two\n")}
)

func mimeFile(f channeltest.File) string {
	return "Content-Type: " + f.ContentType + "\nContent-Disposition: attachment; filename=\"" + f.Filename + "\"\nContent-Transfer-Encoding: base64\n\n" +
		wrap76(base64.StdEncoding.EncodeToString(f.Data))
}

// wrap76 breaks base64 text into lines of 76 characters (RFC 2045).
func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	return b.String() + s + "\n"
}

// Target describes the email plugin to the channeltest suite: newCh runs it
// in process, or binary is the built patchbay-plugin-email. Its SMTP
// listener is on a fixed loopback port and its outbound goes to a local
// sink, both on 127.0.0.1.
func Target(t *testing.T, newCh func() sdk.Channel, binary string) channeltest.Target {
	t.Helper()
	sink := StartSink(t)
	listen := FreeAddr(t)
	cfg := map[string]any{
		"address":      "support@acme.test",
		"smtp_listen":  listen,
		"outbound":     "smtp://" + sink.Addr,
		"token_secret": "conformance-secret-0123456789",
	}
	raw, _ := json.Marshal(cfg)
	with := func(k string, v any) json.RawMessage {
		m := map[string]any{}
		for kk, vv := range cfg {
			m[kk] = vv
		}
		m[k] = v
		b, _ := json.Marshal(m)
		return b
	}
	tg := channeltest.Target{
		Config: raw,
		Start:  true,
		InvalidConfigs: []channeltest.InvalidConfig{
			{Name: "bad_address", Config: with("address", "not-an-address"), Field: "address"},
			{Name: "lmtp_without_listener", Config: json.RawMessage(`{"address":"support@acme.test","lmtp":true}`), Field: "lmtp"},
			{Name: "bad_outbound", Config: with("outbound", "ftp://user:pw-secret@relay"), Field: "outbound"},
			{Name: "bad_size", Config: with("max_message_mb", -1), Field: "max_message_mb"},
		},
		Inbound: func(t testing.TB, _ *channeltest.Plugin) channeltest.Ack {
			t.Helper()
			return Ack(SendSMTP(listen, "ann@example.com", []string{"support@acme.test"}, crlf(
				"From: Ann Example <ann@example.com>\nTo: support@acme.test\nSubject: VPN is down\n"+
					"Date: Mon, 02 Jan 2006 15:04:05 +0000\nMessage-ID: <conformance-1@example.com>\n\nThe VPN is down.\n")))
		},
		CheckDelivery: func(t testing.TB, d channeltest.Delivery) {
			m := d.Message
			if m.Author.ExternalID != "ann@example.com" || m.Author.IdentityType != "email" || m.Author.Name != "Ann Example" {
				t.Errorf("author %+v", m.Author)
			}
			if m.ExternalID != "conformance-1@example.com" || m.Subject != "VPN is down" || m.Text != "The VPN is down." {
				t.Errorf("message %q %q %q", m.ExternalID, m.Subject, m.Text)
			}
		},
		InboundWithAttachments: func(t testing.TB, _ *channeltest.Plugin) channeltest.Ack {
			t.Helper()
			return Ack(SendSMTP(listen, "ann@example.com", []string{"support@acme.test"}, crlf(
				"From: ann@example.com\nSubject: files\nMessage-ID: <conformance-2@example.com>\nMIME-Version: 1.0\n"+
					"Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nsee attached\n--b\n"+
					mimeFile(pdfFile)+"--b\n"+mimeFile(txtFile)+"--b--\n")))
		},
		WantFiles: []channeltest.File{pdfFile, txtFile},
		Reply: func(testing.TB) *sdk.OutboundMessage {
			return &sdk.OutboundMessage{
				IdempotencyKey: "conformance-reply", TicketID: 42, CommentID: 7,
				Recipient: sdk.Party{ExternalID: "ann@example.com", IdentityType: "email", Email: "ann@example.com", Name: "Ann Example"},
				Subject:   "VPN is down", Text: "Please restart the client.",
				ThreadExternalIDs: []string{"conformance-1@example.com"},
			}
		},
		CheckSent: func(t testing.TB, msg *sdk.OutboundMessage, res *sdk.SendResult) {
			env := sentMail(t, sink, res.ExternalID)
			if got := env.GetHeader("In-Reply-To"); got != "<conformance-1@example.com>" {
				t.Errorf("In-Reply-To %q", got)
			}
			if got := env.GetHeader("Subject"); got != "Re: VPN is down [#42]" {
				t.Errorf("Subject %q", got)
			}
		},
		CheckSentAttachment: func(t testing.TB, res *sdk.SendResult, f channeltest.File) {
			env := sentMail(t, sink, res.ExternalID)
			for _, a := range env.Attachments {
				if a.FileName == f.Filename && bytes.Equal(a.Content, f.Data) {
					return
				}
			}
			t.Errorf("the sink did not receive %s with its bytes", f.Filename)
		},
		SendFailures: []channeltest.SendFailure{
			{Name: "relay_busy_4xx", Retryable: true, Code: "smtp_451", Arrange: func(t testing.TB) {
				sink.FailRcpt(&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"})
				t.Cleanup(func() { sink.FailRcpt(nil) })
			}},
			{Name: "mailbox_unknown_5xx", Retryable: false, Code: "smtp_550", Arrange: func(t testing.TB) {
				sink.FailRcpt(&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"})
				t.Cleanup(func() { sink.FailRcpt(nil) })
			}},
			{Name: "rejected_after_data_5xx", Retryable: false, Code: "smtp_554", Arrange: func(t testing.TB) {
				sink.FailData(&smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Rejected"})
				t.Cleanup(func() { sink.FailData(nil) })
			}},
		},
	}
	if binary != "" {
		tg.Binary = binary
		return tg
	}
	// In process, each case gets a fresh channel on the same port: stop
	// the previous case's channel (and its listener) first.
	var mu sync.Mutex
	var last sdk.Channel
	stopLast := func() {
		if last != nil {
			_ = last.Stop(t.Context())
		}
	}
	t.Cleanup(func() { mu.Lock(); defer mu.Unlock(); stopLast() })
	tg.New = func() sdk.Channel {
		mu.Lock()
		defer mu.Unlock()
		stopLast()
		last = newCh()
		return last
	}
	return tg
}

// sentMail returns the last mail at the sink with Message-ID id.
func sentMail(t testing.TB, sink *Sink, id string) *enmime.Envelope {
	t.Helper()
	mails := sink.Received()
	for i := len(mails) - 1; i >= 0; i-- {
		env, err := enmime.ReadEnvelope(bytes.NewReader(mails[i].Data))
		if err != nil {
			continue
		}
		if env.GetHeader("Message-Id") == "<"+id+">" {
			return env
		}
	}
	t.Fatalf("the sink has no mail with Message-ID <%s> (%d mails)", id, len(mails))
	return nil
}
