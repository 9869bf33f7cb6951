package emailchan

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/sdk"
)

// BenchmarkSMTPInbound measures one message over a kept-open SMTP
// connection on loopback: MAIL, RCPT, DATA, parse, Deliver (to the
// in-memory FakeHost), 250.
func BenchmarkSMTPInbound(b *testing.B) {
	host := newFakeHost()
	ch := New()
	cfg := []byte(`{"address":"support@acme.test","smtp_listen":"127.0.0.1:0","token_secret":"` + testSecret + `"}`)
	if err := ch.Configure(b.Context(), sdk.ConfigureRequest{Instance: "bench", Config: cfg, Host: host,
		Logger: hclog.New(&hclog.LoggerOptions{Output: io.Discard})}); err != nil {
		b.Fatal(err)
	}
	if err := ch.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	defer ch.Stop(b.Context())
	c, err := smtp.Dial(addrOf(ch))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("bench.example.com"); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		raw := buildMail([]string{"From: Ann <ann@example.com>", "Subject: VPN is down",
			fmt.Sprintf("Message-ID: <bench-%d@example.com>", i)}, "Hello,\nthe VPN is down.\n\n-- \nAnn\n")
		if err := c.SendMail("ann@example.com", []string{"support@acme.test"}, bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompose builds one outbound reply with threading headers.
func BenchmarkCompose(b *testing.B) {
	host := newFakeHost()
	ch := New()
	cfg := []byte(`{"address":"support@acme.test","smtp_listen":"127.0.0.1:0","token_secret":"` + testSecret + `"}`)
	if err := ch.Configure(b.Context(), sdk.ConfigureRequest{Instance: "bench", Config: cfg, Host: host}); err != nil {
		b.Fatal(err)
	}
	out := reply(42)
	for b.Loop() {
		m, err := compose(b.Context(), ch.current().cfg, ch.current().signer, newMsgIDSigner(ch.current().cfg.Domain, []byte("bench-message-id-secret")), out)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.msg.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
