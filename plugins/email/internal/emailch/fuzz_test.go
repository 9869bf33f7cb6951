package emailch

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/patchbayhq/patchbay/plugins/email/internal/mailparse"
)

// FuzzInbound checks what reaches the core for any raw message and
// recipient: the fields the core relies on are set and valid, a ticket hint
// is verified only for a correctly signed recipient, and the raw message is
// kept unchanged.
func FuzzInbound(f *testing.F) {
	signer := testSigner(f)
	f.Add([]byte("From: a@b.test\r\nSubject: Re: x [#42]\r\nMessage-ID: <m@b>\r\nReferences: <r@b>\r\n\r\nhi\r\n"), signer.Address(42), "")
	f.Add([]byte("Subject: =?utf-8?q?broken\r\n\r\n"), "support+t1.zzzz@acme.test", "bounce@x")
	f.Add([]byte{}, "support@acme.test", "")
	f.Fuzz(func(t *testing.T, raw []byte, rcpt, mailFrom string) {
		m := mailparse.Parse(raw)
		msg := buildInbound(signer, m, raw, envelope{Via: "smtp", MailFrom: mailFrom, NullSender: mailFrom == "", Rcpts: []string{rcpt}})
		if msg.ExternalID == "" || msg.ConversationKey == "" || msg.Author.ExternalID == "" || msg.Author.IdentityType != "email" {
			t.Fatalf("missing fields: %+v", msg)
		}
		if msg.Author.ExternalID != strings.ToLower(msg.Author.ExternalID) {
			t.Fatalf("author id not lower-cased: %q", msg.Author.ExternalID)
		}
		for _, s := range []string{msg.Subject, msg.Text, msg.HTML, msg.Author.Name} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 %q", s)
			}
		}
		if msg.TicketHintVerified {
			_, ticket := signer.Match(rcpt)
			inHeaders := false
			for _, r := range m.Recipients {
				if _, t2 := signer.Match(r); t2 == msg.TicketHint {
					inHeaders = true
				}
			}
			if ticket != msg.TicketHint && !inHeaders {
				t.Fatalf("verified hint %d without a signed recipient", msg.TicketHint)
			}
		}
		if string(msg.Raw) != string(raw) {
			t.Fatal("raw changed")
		}
	})
}
