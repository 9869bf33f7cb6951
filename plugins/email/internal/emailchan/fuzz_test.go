package emailchan

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
	ids := newMsgIDSigner("acme.test", []byte(testSecret))
	inst := &instance{cfg: &config{Address: "support@acme.test", Domain: "acme.test", TrustedRelays: []string{"mx.acme.test"}}, signer: signer, ids: ids}
	f.Add([]byte("From: a@b.test\r\nMessage-ID: <m2@b>\r\nReferences: <"+ids.mint(7, "patchbay-reply-3")+"> <pb.9.00112233445566778899aabb@acme.test> <pb.5.0011223344556677.aaaaaaaaaaaaaaaaaaaa@acme.test>\r\n\r\nhi\r\n"), "support@acme.test", "")
	f.Add([]byte("Authentication-Results: mx.acme.test; dmarc=pass header.from=b.test\r\nFrom: a@b.test\r\n\r\nhi\r\n"), "support@acme.test", "a@b.test")
	f.Add([]byte("From: a@b.test\r\nSubject: Re: x [#42]\r\nMessage-ID: <m@b>\r\nReferences: <r@b>\r\n\r\nhi\r\n"), signer.Address(42), "")
	f.Add([]byte("Subject: =?utf-8?q?broken\r\n\r\n"), "support+t1.zzzz@acme.test", "bounce@x")
	f.Add([]byte{}, "support@acme.test", "")
	f.Fuzz(func(t *testing.T, raw []byte, rcpt, mailFrom string) {
		m := mailparse.Parse(raw)
		msg := buildInbound(inst, m, raw, envelope{Via: "smtp", MailFrom: mailFrom, NullSender: mailFrom == "", Rcpts: []string{rcpt}})
		if msg.ExternalID == "" || msg.ConversationKey == "" || msg.Author.ExternalID == "" || msg.Author.IdentityType != "email" {
			t.Fatalf("missing fields: %+v", msg)
		}
		if msg.Author.ExternalID != strings.ToLower(msg.Author.ExternalID) {
			t.Fatalf("author id not lower-cased: %q", msg.Author.ExternalID)
		}
		for _, c := range msg.CC {
			if ours, _ := signer.Match(c.ExternalID); ours || c.ExternalID == msg.Author.ExternalID || !utf8.ValidString(c.Name) || c.ExternalID != strings.ToLower(c.ExternalID) {
				t.Fatalf("copied party %+v", c)
			}
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
			for _, id := range m.ReplyTo() {
				if kind, t2 := ids.classify(id); kind == idSigned && t2 == msg.TicketHint {
					inHeaders = true
				}
			}
			if ticket != msg.TicketHint && !inHeaders {
				t.Fatalf("verified hint %d without a signed recipient or message id", msg.TicketHint)
			}
		}
		for _, id := range msg.ReplyTo {
			if kind, _ := ids.classify(id); kind == idForged || kind == idLegacy {
				t.Fatalf("forged or legacy id %q kept for threading", id)
			}
		}
		if !msg.HeaderThreading {
			t.Fatal("email threading not marked as sender-written")
		}
		if string(msg.Raw) != string(raw) {
			t.Fatal("raw changed")
		}
	})
}

// FuzzMsgIDClassify checks the Message-ID check on any id: it never panics,
// only an id minted with the secret is signed, and it names the ticket the
// id was minted for.
func FuzzMsgIDClassify(f *testing.F) {
	ids := newMsgIDSigner("acme.test", []byte(testSecret))
	f.Add(ids.mint(42, "patchbay-reply-7"))
	f.Add("pb.42.00112233445566778899aabb@acme.test")
	f.Add("pb.42.0011223344556677.abcdefghijklmnopqrst@acme.test")
	f.Add("pb.0.x@acme.test")
	f.Add("m@customer.test")
	f.Fuzz(func(t *testing.T, id string) {
		kind, ticket := ids.classify(id)
		if kind == idSigned {
			r := strings.Split(strings.TrimPrefix(strings.Split(strings.ToLower(id), "@")[0], "pb."), ".")
			if len(r) != 3 || ids.mac(r[0], r[1]) != r[2] || ticket == 0 {
				t.Fatalf("%q classified as signed", id)
			}
		}
		if (kind == idForeign || kind == idForged) && ticket != 0 {
			t.Fatalf("%q: ticket %d for a %v id", id, ticket, kind)
		}
	})
}
