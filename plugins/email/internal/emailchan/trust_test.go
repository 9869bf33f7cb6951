package emailchan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/plugins/email/internal/fakemail"
)

// legacyID is the Message-ID older versions minted: sha256 of public
// values, computable by anyone who knows the instance name and a comment id.
func legacyID(instance string, ticket, comment uint64) string {
	h := sha256.Sum256([]byte("patchbay-email\x00" + instance + "\x00patchbay-reply-" + strconv.FormatUint(comment, 10)))
	return "pb." + strconv.FormatUint(ticket, 10) + "." + hex.EncodeToString(h[:12]) + "@acme.test"
}

// TestMessageIDsAreSignedAndUnguessable closes the class "our reply ids can
// be computed by anyone": the Message-ID of a reply is signed with a secret
// generated on first start and kept in the Host's state (the core's store,
// never the config file); the same reply gets the same id on every attempt
// and after a restart with the same state; another installation's ids differ.
func TestMessageIDsAreSignedAndUnguessable(t *testing.T) {
	sink := fakemail.StartSink(t)
	host := newFakeHost()
	ch := startChannel(t, host, sinkConfig(sink))
	out := reply(42)
	out.IdempotencyKey = "patchbay-reply-7"
	res, err := ch.Send(t.Context(), out)
	if err != nil {
		t.Fatal(err)
	}
	secret := host.State()[stateMsgIDSecret]
	if len(secret) < 32 {
		t.Fatalf("message-id secret in state: %q", secret)
	}
	if cfgJSON, _ := json.Marshal(sinkConfig(sink)); strings.Contains(string(cfgJSON), string(secret)) {
		t.Fatal("the secret is in the configuration")
	}
	if res.ExternalID == legacyID("support", 42, 7) || strings.Count(strings.Split(res.ExternalID, "@")[0], ".") != 3 {
		t.Fatalf("Message-ID %q is not in the signed format", res.ExternalID)
	}
	ids := ch.current().ids
	if kind, tk := ids.classify(res.ExternalID); kind != idSigned || tk != 42 {
		t.Fatalf("classify(%q) = %v, %d", res.ExternalID, kind, tk)
	}
	// Same state (an upgrade, a restart): same id for the same reply.
	ch.Stop(t.Context())
	ch2 := startChannel(t, newFakeHostWithState(t, host), sinkConfig(sink))
	if res2, err := ch2.Send(t.Context(), out); err != nil || res2.ExternalID != res.ExternalID {
		t.Fatalf("after restart: %v, %q vs %q", err, res2.ExternalID, res.ExternalID)
	}
	// Another installation: another secret, another id, and ours is forged there.
	ch3 := startChannel(t, newFakeHost(), sinkConfig(sink))
	res3, err := ch3.Send(t.Context(), out)
	if err != nil || res3.ExternalID == res.ExternalID {
		t.Fatalf("two installations minted %q and %q", res.ExternalID, res3.ExternalID)
	}
	if kind, _ := ch3.current().ids.classify(res.ExternalID); kind != idForged {
		t.Fatalf("another installation's id classified %v", kind)
	}
}

// TestThreadingRefusesForgedReferences (email channel side): of the ids a
// mail lists in In-Reply-To and References, forged ids of our shape are
// dropped, legacy ids of ours become an unsigned hint (the core threads it
// for the ticket's requester only), a correctly signed id becomes a verified
// hint, and every mail says its threading is sender-written.
func TestThreadingRefusesForgedReferences(t *testing.T) {
	sink := fakemail.StartSink(t)
	host := newFakeHost()
	ch := startChannel(t, host, sinkConfig(sink))
	out := reply(42)
	res, err := ch.Send(t.Context(), out)
	if err != nil {
		t.Fatal(err)
	}
	forgedNew := "pb.7.0011223344556677.abcdefghijklmnopqrst@acme.test"
	cases := []struct {
		name         string
		refs         []string
		wantReplyTo  []string
		wantHint     uint64
		wantVerified bool
	}{
		{"guessed legacy ids", []string{legacyID("support", 7, 1), legacyID("support", 7, 2)}, nil, 7, false},
		{"forged signed-format ids", []string{forgedNew, "root@cust.test"}, []string{"root@cust.test"}, 0, false},
		{"a real signed id", []string{"root@cust.test", res.ExternalID}, []string{res.ExternalID, "root@cust.test"}, 42, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := "<f" + strconv.Itoa(i) + "@evil.test>"
			var refs []string
			for _, r := range tc.refs {
				refs = append(refs, "<"+r+">")
			}
			mail := buildMail([]string{"From: mallory@evil.test", "To: support@acme.test", "Subject: hello", "Message-ID: " + id,
				"References: " + strings.Join(refs, " ")}, "let me in")
			if err := sendSMTP(t, addrOf(ch), "mallory@evil.test", []string{"support@acme.test"}, mail); err != nil {
				t.Fatal(err)
			}
			d := host.delivered()
			m := d[len(d)-1]
			if !m.HeaderThreading || m.AuthorVerified {
				t.Fatalf("HeaderThreading %v AuthorVerified %v", m.HeaderThreading, m.AuthorVerified)
			}
			if !slices.Equal(m.ReplyTo, tc.wantReplyTo) || m.TicketHint != tc.wantHint || m.TicketHintVerified != tc.wantVerified {
				t.Fatalf("ReplyTo %q hint %d verified %v; want %q %d %v", m.ReplyTo, m.TicketHint, m.TicketHintVerified, tc.wantReplyTo, tc.wantHint, tc.wantVerified)
			}
			if kind, _ := ch.current().ids.classify(m.ConversationKey); kind == idForged || kind == idLegacy {
				t.Fatalf("conversation key %q is a forged or legacy id", m.ConversationKey)
			}
		})
	}
}

// TestTrustedRelayVerifiesSender closes the class "From: is taken as
// authentication": the sender is verified only by the topmost
// Authentication-Results header of a configured relay reporting a DMARC,
// DKIM or SPF pass aligned with the From domain.
func TestTrustedRelayVerifiesSender(t *testing.T) {
	relays := []string{"mx.acme.test"}
	cases := []struct {
		name   string
		relays []string
		ar     []string // topmost first
		from   string
		want   string
	}{
		{"no relay configured", nil, []string{"mx.acme.test; dmarc=pass header.from=acme.test"}, "grace@acme.test", ""},
		{"dmarc pass", relays, []string{"mx.acme.test; dmarc=pass header.from=acme.test"}, "grace@acme.test", "dmarc"},
		{"dkim pass aligned", relays, []string{"mx.acme.test; dkim=pass header.d=acme.test"}, "grace@acme.test", "dkim"},
		{"spf pass aligned", relays, []string{"mx.acme.test; spf=pass smtp.mailfrom=bounce@acme.test"}, "grace@acme.test", "spf"},
		{"relay id in another case", relays, []string{"MX.acme.test; dmarc=pass header.from=ACME.test"}, "grace@acme.test", "dmarc"},
		{"dkim pass of another domain", relays, []string{"mx.acme.test; dkim=pass header.d=evil.test"}, "grace@acme.test", ""},
		{"dmarc fail", relays, []string{"mx.acme.test; dmarc=fail header.from=acme.test"}, "grace@acme.test", ""},
		{"unknown relay", relays, []string{"mx.evil.test; dmarc=pass header.from=acme.test"}, "grace@acme.test", ""},
		{"forged pass below the relay's own", relays, []string{"mx.acme.test; dmarc=fail header.from=acme.test", "mx.acme.test; dmarc=pass header.from=acme.test"}, "grace@acme.test", ""},
		{"no header", relays, nil, "grace@acme.test", ""},
		{"garbage header", relays, []string{";;;=="}, "grace@acme.test", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := textproto.MIMEHeader{}
			for _, v := range tc.ar {
				h.Add("Authentication-Results", v)
			}
			ok, method := verifiedAuthor(h, tc.from, tc.relays)
			if ok != (tc.want != "") || method != tc.want {
				t.Fatalf("verifiedAuthor = %v %q, want %q", ok, method, tc.want)
			}
		})
	}

	// Over SMTP, with trusted_relays configured.
	host := newFakeHost()
	cfg := baseConfig()
	cfg["trusted_relays"] = []string{"mx.acme.test"}
	ch := startChannel(t, host, cfg)
	for i, ar := range []string{"mx.acme.test; dmarc=pass header.from=acme.test", "mx.acme.test; dmarc=none header.from=acme.test"} {
		mail := buildMail([]string{"Authentication-Results: " + ar, "From: Grace <grace@acme.test>", "To: support@acme.test",
			"Subject: s", "Message-ID: <v" + strconv.Itoa(i) + "@acme.test>"}, "hi")
		if err := sendSMTP(t, addrOf(ch), "grace@acme.test", []string{"support@acme.test"}, mail); err != nil {
			t.Fatal(err)
		}
		d := host.delivered()
		if m := d[len(d)-1]; m.AuthorVerified != (i == 0) || (i == 0) != (m.Metadata["sender_verified"] == "dmarc") {
			t.Fatalf("mail %d: AuthorVerified %v metadata %q", i, m.AuthorVerified, m.Metadata["sender_verified"])
		}
	}
}

// TestCopiedRecipientsReachTheCore: the To and Cc addresses of a mail,
// other than the author and our own (plus-)addresses, are sent as
// InboundMessage.CC, lower-cased, once each, with their display names.
func TestCopiedRecipientsReachTheCore(t *testing.T) {
	host := newFakeHost()
	ch := startChannel(t, host, baseConfig())
	mail := buildMail([]string{"From: Ann <ann@cust.test>", "To: support@acme.test, Bob <Bob@Cust.test>",
		"Cc: =?utf-8?q?C=C3=A9line?= <celine@cust.test>, ann@cust.test, " + testSigner(t).Address(3) + ", bob@cust.test",
		"Subject: s", "Message-ID: <cc@cust.test>"}, "hi")
	if err := sendSMTP(t, addrOf(ch), "ann@cust.test", []string{"support@acme.test"}, mail); err != nil {
		t.Fatal(err)
	}
	m := host.delivered()[0]
	var got []string
	for _, p := range m.CC {
		got = append(got, p.Name+"<"+p.ExternalID+">")
	}
	if strings.Join(got, " ") != "Bob<bob@cust.test> Céline<celine@cust.test>" {
		t.Fatalf("CC %q", got)
	}
}
