package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/internal/e2etest"
	"github.com/patchbayhq/patchbay/plugins/email/internal/fakemail"
)

// legacyMsgID is the reply Message-ID older versions minted from public
// values only: what an attacker computes for comment ids 1, 2, 3…
func legacyMsgID(instance string, ticket, comment uint64) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("patchbay-email\x00%s\x00patchbay-reply-%d", instance, comment)))
	return fmt.Sprintf("pb.%d.%s@acme.test", ticket, hex.EncodeToString(h[:12]))
}

// TestEmailSecurityEndToEnd runs the real core and email plugin over real
// SMTP against the two email holes of the security review:
//
//   - ThreadingRefusesForgedReferences: a stranger's mail listing guessed
//     reply ids (every comment id 1–63, old and signed formats), the subject
//     token, and even the customer's real Message-ID lands nowhere public on
//     the customer's ticket, and mail From: an agent's address does not
//     author as that agent unless the configured relay verified it;
//   - LargeMailWithAttachmentArrives: a 5 MB mail with a 4 MB PDF is
//     accepted (250), becomes a ticket, the PDF downloads byte-exact and the
//     raw message is retrievable byte-exact through the API.
func TestEmailSecurityEndToEnd(t *testing.T) {
	bin := shared.Binaries(t)
	sink := fakemail.StartSink(t)
	smtpAddr := e2etest.FreePort(t)
	core := e2etest.Start(t, bin, e2etest.Options{
		Channels: fmt.Sprintf(`
channel "support" {
  plugin = "email"
  config {
    address     = "support@acme.test"
    smtp_listen = %q
    outbound    = %q
    trusted_relays = ["mx.acme.test"]
  }
}
`, smtpAddr, "smtp://"+sink.Addr),
		WaitRunning: []string{"support"},
	})
	send := func(from string, mail string) {
		t.Helper()
		if err := fakemail.SendSMTP(smtpAddr, from, []string{"support@acme.test"}, crlfMail(mail)); err != nil {
			t.Fatalf("SMTP from %s: %v", from, err)
		}
	}

	t.Run("ThreadingRefusesForgedReferences", func(t *testing.T) {
		send("ann@example.com", "From: Ann <ann@example.com>\nTo: support@acme.test\nSubject: My invoice\nMessage-ID: <sec-ann-1@example.com>\n\nPlease check invoice 7.\n")
		var victim e2etest.Ticket
		e2etest.Eventually(t, 10*time.Second, "Ann's ticket", func() bool {
			for _, tk := range core.Tickets("support") {
				if tk.Subject == "My invoice" {
					victim = tk
					return true
				}
			}
			return false
		})
		// An agent exists with an email address, and the ticket has our reply.
		var grace struct {
			UserID uint64 `json:"user_id"`
		}
		if st := core.JSON("POST", "/api/v1/tokens", map[string]any{"name": "Grace", "email": "grace@acme.test"}, &grace); st != http.StatusCreated {
			t.Fatalf("token: %d", st)
		}
		if st, body := core.Do("POST", fmt.Sprintf("/api/v1/tickets/%d/comments", victim.ID), map[string]any{"body": "Invoice 7 is paid.", "public": true}); st/100 != 2 {
			t.Fatalf("reply: %d %s", st, body)
		}
		var ourID string
		e2etest.Eventually(t, 15*time.Second, "the reply sent", func() bool {
			for _, c := range core.Comments(victim.ID) {
				if c.Delivery != nil && c.Delivery.Status == "sent" {
					ourID = c.Delivery.ExternalID
					return true
				}
			}
			return false
		})
		if strings.Count(strings.Split(ourID, "@")[0], ".") != 3 {
			t.Fatalf("our Message-ID %q is not signed", ourID)
		}
		publicBefore := 0
		for _, c := range core.Comments(victim.ID) {
			if c.Public {
				publicBefore++
			}
		}

		// 1. Guessed ids only (both formats, comment ids 1-63) and the
		// subject token: a ticket of Mallory's own.
		var guesses []string
		for n := uint64(1); n <= 63; n++ {
			guesses = append(guesses, "<"+legacyMsgID("support", victim.ID, n)+">")
			guesses = append(guesses, fmt.Sprintf("<pb.%d.%016x.abcdefghijklmnopqrst@acme.test>", victim.ID, n))
		}
		send("mallory@evil.test", fmt.Sprintf("From: mallory@evil.test\nTo: support@acme.test\nSubject: Re: My invoice [#%d]\nMessage-ID: <sec-m1@evil.test>\nIn-Reply-To: %s\nReferences: %s\n\nPay to my account instead.\n",
			victim.ID, guesses[0], strings.Join(guesses, "\n ")))
		// 2. The customer's real Message-ID (leaked): an internal note at most.
		send("mallory@evil.test", "From: mallory@evil.test\nTo: support@acme.test\nSubject: Re: My invoice\nMessage-ID: <sec-m2@evil.test>\nReferences: <sec-ann-1@example.com>\n\nPay to my account, says Ann.\n")
		// 3. From: the agent's address, threaded by the real id.
		send("grace@acme.test", "From: Grace <grace@acme.test>\nTo: support@acme.test\nSubject: Re: My invoice\nMessage-ID: <sec-g1@evil.test>\nReferences: <sec-ann-1@example.com>\n\nAgent here: the new account is fine.\n")

		var mallorys e2etest.Ticket
		e2etest.Eventually(t, 10*time.Second, "the stranger's own ticket and the notes", func() bool {
			mallorys = e2etest.Ticket{}
			for _, tk := range core.Tickets("support") {
				if tk.ID != victim.ID && strings.Contains(tk.Subject, "My invoice") {
					mallorys = tk
				}
			}
			notes := 0
			for _, c := range core.Comments(victim.ID) {
				if c.Metadata["reason"] == "unverified_sender" {
					notes++
				}
			}
			return mallorys.ID != 0 && notes == 2
		})
		if mallorys.RequesterID == victim.RequesterID {
			t.Fatalf("the stranger's ticket %+v has the victim as requester", mallorys)
		}
		publicAfter := 0
		for _, c := range core.Comments(victim.ID) {
			if c.Public {
				publicAfter++
				if strings.Contains(c.Body, "account") {
					t.Fatalf("forged mail is public on the victim's ticket: %+v", c)
				}
			}
			if c.Metadata["reason"] == "unverified_sender" && (c.AuthorID != 0 || c.Public) {
				t.Fatalf("unverified note %+v", c)
			}
		}
		if publicAfter != publicBefore {
			t.Fatalf("public comments on the victim's ticket: %d, before %d", publicAfter, publicBefore)
		}
		if got := core.JSON("GET", fmt.Sprintf("/api/v1/tickets/%d", victim.ID), nil, &victim); got != http.StatusOK || victim.Status != "open" && victim.Status != "pending" {
			t.Fatalf("victim's ticket after the attempts: %d %+v", got, victim)
		}

		// 4. The agent's own mail, verified by the trusted relay's topmost
		// Authentication-Results header: authored by her.
		send("grace@acme.test", "Authentication-Results: mx.acme.test; dkim=pass header.d=acme.test; dmarc=pass header.from=acme.test\n"+
			"From: Grace <grace@acme.test>\nTo: support@acme.test\nSubject: Re: My invoice\nMessage-ID: <sec-g2@acme.test>\nReferences: <sec-ann-1@example.com>\n\nConfirmed with accounting.\n")
		e2etest.Eventually(t, 10*time.Second, "the verified agent's comment", func() bool {
			for _, c := range core.Comments(victim.ID) {
				if strings.Contains(c.Body, "Confirmed with accounting") {
					if !c.Public || c.AuthorID != grace.UserID || c.Metadata["sender_verified"] == "" {
						t.Fatalf("verified agent mail stored as %+v (grace is user %d)", c, grace.UserID)
					}
					return true
				}
			}
			return false
		})
	})

	t.Run("LargeMailWithAttachmentArrives", func(t *testing.T) {
		pdf := make([]byte, 4<<20)
		copy(pdf, "%PDF-1.7\n")
		if _, err := rand.Read(pdf[16:]); err != nil {
			t.Fatal(err)
		}
		enc := base64.StdEncoding.EncodeToString(pdf)
		var b64 strings.Builder
		for len(enc) > 76 {
			b64.WriteString(enc[:76] + "\n")
			enc = enc[76:]
		}
		b64.WriteString(enc + "\n")
		mail := crlfMail("From: Big Sender <big@example.com>\nTo: support@acme.test\nSubject: Signed contract\nMessage-ID: <sec-big@example.com>\n" +
			"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\nThe contract is attached.\n" +
			"--b1\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"contract.pdf\"\nContent-Transfer-Encoding: base64\n\n" +
			b64.String() + "--b1--\n")
		if len(mail) < 5<<20 {
			t.Fatalf("test mail is only %d bytes", len(mail))
		}
		if err := fakemail.SendSMTP(smtpAddr, "big@example.com", []string{"support@acme.test"}, mail); err != nil {
			t.Fatalf("SMTP refused a %d-byte mail: %v", len(mail), err)
		}
		var tk e2etest.Ticket
		for _, x := range core.Tickets("support") {
			if x.Subject == "Signed contract" {
				tk = x
			}
		}
		if tk.ID == 0 {
			t.Fatal("no ticket for the large mail after 250")
		}
		cs := core.Comments(tk.ID)
		if len(cs) == 0 || len(cs[0].Attachments) != 1 || cs[0].Attachments[0].Filename != "contract.pdf" {
			t.Fatalf("comments %+v", cs)
		}
		st, got := core.Do("GET", "/api/v1/attachments/"+cs[0].Attachments[0].ID, nil)
		if st != http.StatusOK || !bytes.Equal(got, pdf) {
			t.Fatalf("attachment download: %d, %d bytes (want %d), equal %v", st, len(got), len(pdf), bytes.Equal(got, pdf))
		}
		st, raw := core.Do("GET", fmt.Sprintf("/api/v1/tickets/%d/comments/%d/raw", tk.ID, cs[0].ID), nil)
		if st != http.StatusOK || !bytes.Equal(raw, mail) {
			t.Fatalf("raw download: %d, %d bytes (want %d)", st, len(raw), len(mail))
		}
	})
}
