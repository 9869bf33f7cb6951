package emailchan

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/sdk"
)

func configure(t *testing.T, host sdk.Host, cfg any) (*Channel, error) {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ch := New()
	return ch, ch.Configure(context.Background(), sdk.ConfigureRequest{Instance: "support", Config: raw, Host: host})
}

func TestConfigInvalidFields(t *testing.T) {
	cases := []struct {
		name   string
		cfg    map[string]any
		fields []string
	}{
		{"empty", map[string]any{}, []string{"address"}},
		{"bad address", map[string]any{"address": "not an address", "smtp_listen": "127.0.0.1:2525"}, []string{"address"}},
		{"plus in address", map[string]any{"address": "support+x@acme.test", "smtp_listen": "127.0.0.1:2525"}, []string{"address"}},
		{"no receiver", map[string]any{"address": "support@acme.test"}, []string{"smtp_listen"}},
		{"bad listen", map[string]any{"address": "support@acme.test", "smtp_listen": "localhost"}, []string{"smtp_listen"}},
		{"bad port", map[string]any{"address": "support@acme.test", "smtp_listen": "127.0.0.1:99999"}, []string{"smtp_listen"}},
		{"lmtp without listener", map[string]any{"address": "support@acme.test", "lmtp": true}, []string{"lmtp"}},
		{"size", map[string]any{"address": "support@acme.test", "smtp_listen": ":2525", "max_message_mb": 0}, []string{"max_message_mb"}},
		{"size type", map[string]any{"address": "support@acme.test", "smtp_listen": ":2525", "max_message_mb": "big"}, []string{"max_message_mb"}},
		{"unknown field", map[string]any{"address": "support@acme.test", "smtp_listen": ":2525", "smtp_port": 25}, []string{"smtp_port"}},
		{"short secret", map[string]any{"address": "support@acme.test", "smtp_listen": ":2525", "token_secret": "short"}, []string{"token_secret"}},
		{"trusted relay not an id", map[string]any{"address": "support@acme.test", "smtp_listen": ":2525", "trusted_relays": []string{"mx.acme.test", "a b; dmarc=pass"}}, []string{"trusted_relays[1]"}},
		{"trusted relays not a list", map[string]any{"address": "support@acme.test", "smtp_listen": ":2525", "trusted_relays": "mx.acme.test"}, []string{"trusted_relays"}},
		{"outbound scheme", map[string]any{"address": "support@acme.test", "smtp_listen": ":2525", "outbound": "http://x"}, []string{"outbound"}},
		{"outbound empty dir", map[string]any{"address": "support@acme.test", "smtp_listen": ":2525", "outbound": "dir:"}, []string{"outbound"}},
		{"outbound bad auth", map[string]any{"address": "support@acme.test", "smtp_listen": ":2525", "outbound": "smtp://u:p@relay?auth=magic"}, []string{"outbound"}},
		{"imap incomplete", map[string]any{"address": "support@acme.test", "imap": map[string]any{"url": "pop3://x"}},
			[]string{"imap.password", "imap.url", "imap.username"}},
		{"imap unknown key", map[string]any{"address": "support@acme.test", "imap": map[string]any{"url": "imaps://x", "user": "u"}}, []string{"imap.user"}},
		{"imap credentials in url", map[string]any{"address": "support@acme.test", "imap": map[string]any{"url": "imaps://u:p@x", "username": "u", "password": "p"}}, []string{"imap.url"}},
		{"imap poll interval", map[string]any{"address": "support@acme.test", "imap": map[string]any{"url": "imaps://x", "username": "u", "password": "p", "poll_interval": "1ms"}}, []string{"imap.poll_interval"}},
		{"everything at once", map[string]any{"address": "", "smtp_listen": "nope", "max_message_mb": 5000, "outbound": "ftp://x", "token_secret": "x"},
			[]string{"address", "max_message_mb", "outbound", "smtp_listen", "token_secret"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			host := newFakeHost()
			_, err := configure(t, host, c.cfg)
			var fe sdk.FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not FieldErrors", err)
			}
			var got []string
			for _, f := range fe {
				got = append(got, f.Field)
			}
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(c.fields, ",") {
				t.Fatalf("fields %q, want %q (%v)", got, c.fields, err)
			}
			if len(host.State()) != 0 {
				t.Fatal("invalid configuration changed state")
			}
		})
	}
}

func TestConfigErrorsNeverShowPasswords(t *testing.T) {
	for _, outbound := range []string{
		"smtp://user:hunter22secret@relay.example.com:99999",
		"gopher://user:hunter22secret@relay.example.com",
		"smtp://user:hunter22secret@relay.example.com?auth=bogus",
		"smtp://user:hunter22secret@[::1",
	} {
		_, err := configure(t, newFakeHost(), map[string]any{"address": "support@acme.test", "smtp_listen": ":2525", "outbound": outbound})
		if err == nil {
			t.Fatalf("%q accepted", outbound)
		}
		if strings.Contains(err.Error(), "hunter22secret") {
			t.Fatalf("password in error: %v", err)
		}
	}
}

func TestConfigDefaultsAndShapes(t *testing.T) {
	host := newFakeHost()
	ch, err := configure(t, host, map[string]any{
		"address":     "ACME Support <Support@ACME.test>",
		"smtp_listen": "127.0.0.1:0",
		"outbound":    "smtps://u:p@relay.example.com",
		// HCL blocks may arrive as a list of one object.
		"imap": []any{map[string]any{"url": "imap://mail.example.com?tls=none", "username": "u", "password": "p"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ch.current().cfg
	if cfg.Address != "support@acme.test" || cfg.FromName != "ACME Support" || cfg.Domain != "acme.test" {
		t.Errorf("address %q name %q domain %q", cfg.Address, cfg.FromName, cfg.Domain)
	}
	if cfg.MaxBytes != 25<<20 {
		t.Errorf("max bytes %d", cfg.MaxBytes)
	}
	if o := cfg.Outbound; o.Kind != "smtp" || o.Port != 465 || !o.Implicit || o.Auth != "auto" {
		t.Errorf("outbound %+v", o)
	}
	if i := cfg.IMAP; i == nil || i.Host != "mail.example.com:143" || i.TLS != "none" || i.Mailbox != "INBOX" || i.PollInterval != time.Minute {
		t.Errorf("imap %+v", i)
	}
}

// Without token_secret, a random secret is created once (at Start) and kept
// in state: a restarted plugin (same state) signs the same plus-addresses.
func TestTokenSecretPersistsInState(t *testing.T) {
	host := newFakeHost()
	cfg := map[string]any{"address": "support@acme.test", "smtp_listen": "127.0.0.1:0"}
	signed := func(host *testHost) string {
		t.Helper()
		before := len(host.State())
		ch, err := configure(t, host, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(host.State()) != before {
			t.Fatal("Configure wrote state")
		}
		if err := ch.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer ch.Stop(t.Context())
		return ch.current().signer.Address(42)
	}
	first := signed(host)
	if secret := host.State()[stateTokenSecret]; len(secret) < 32 {
		t.Fatalf("secret not stored: %q", secret)
	}
	if again := newFakeHostWithState(t, host); signed(again) != first {
		t.Fatal("restart changed the plus-address")
	}
	if signed(newFakeHost()) == first {
		t.Fatal("two instances share a generated secret")
	}
}

func newFakeHostWithState(t *testing.T, from *testHost) *testHost {
	t.Helper()
	h := newFakeHost()
	for k, v := range from.State() {
		if err := h.SetState(t.Context(), k, v); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// stateless is a Host without a store, as `patchbay validate` runs plugins.
type stateless struct{ *testHost }

func (stateless) GetState(context.Context, string) ([]byte, bool, error) {
	return nil, false, errors.New("the core's store is not available in this mode")
}

func TestConfigureNeedsNoState(t *testing.T) {
	cfg := map[string]any{"address": "support@acme.test", "smtp_listen": "127.0.0.1:0"}
	ch, err := configure(t, stateless{newFakeHost()}, cfg)
	if err != nil {
		t.Fatalf("Configure without a store: %v", err)
	}
	if err := ch.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "token_secret") {
		t.Fatalf("Start without a store and without token_secret = %v", err)
	}
	// The Message-ID secret is never configured: even with token_secret,
	// Start needs the store that keeps it.
	cfg["token_secret"] = testSecret
	ch, err = configure(t, stateless{newFakeHost()}, cfg)
	if err != nil {
		t.Fatalf("Configure with token_secret and without a store: %v", err)
	}
	if err := ch.Start(t.Context()); err == nil || !strings.Contains(err.Error(), stateMsgIDSecret) {
		t.Fatalf("Start without a store = %v, want an error naming the message-id secret", err)
	}
}

func TestDescribeMarksSecrets(t *testing.T) {
	m, err := New().Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != "email" || !m.Capabilities.Threads || !m.Capabilities.AttachmentsIn {
		t.Errorf("manifest %+v", m)
	}
	secret := map[string]bool{}
	for _, f := range m.ConfigFields {
		secret[f.Name] = f.Secret
	}
	for _, name := range []string{"imap.password", "token_secret", "outbound"} {
		if !secret[name] {
			t.Errorf("%s is not marked Secret", name)
		}
	}
	if secret["address"] {
		t.Error("address marked secret")
	}
}

func TestStartWithoutConfigure(t *testing.T) {
	if err := New().Start(context.Background()); err == nil {
		t.Fatal("Start before Configure succeeded")
	}
}

func TestConfigureWithoutHostOnlyValidates(t *testing.T) {
	dir := t.TempDir() + "/never-created"
	raw, _ := json.Marshal(map[string]any{"address": "support@acme.test", "smtp_listen": "127.0.0.1:0", "outbound": "dir:" + dir})
	ch := New()
	if err := ch.Configure(context.Background(), sdk.ConfigureRequest{Config: raw}); err != nil {
		t.Fatalf("valid configuration: %v", err)
	}
	if err := ch.Start(context.Background()); err == nil {
		t.Fatal("Start after a validation-only Configure succeeded")
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("validation created the outbound directory")
	}
	raw, _ = json.Marshal(map[string]any{"address": ""})
	var fe sdk.FieldErrors
	if err := ch.Configure(context.Background(), sdk.ConfigureRequest{Config: raw}); !errors.As(err, &fe) {
		t.Fatalf("invalid configuration: %v", err)
	}
}
