package config

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testEnv(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func parse(t *testing.T, src string, env map[string]string) (*Config, error) {
	t.Helper()
	return Parse([]byte(src), "test.hcl", Options{LookupEnv: testEnv(env), BaseDir: "/base"})
}

func TestParseDefaults(t *testing.T) {
	cfg, err := parse(t, `channel "a" { plugin = "email" }`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/base/data" || cfg.PluginDir != "/base/bin/plugins" {
		t.Errorf("dirs = %q %q", cfg.DataDir, cfg.PluginDir)
	}
	want := HTTP{Listen: DefaultListen, MaxWebhookBytes: 1 << 20, MaxBodyBytes: 1 << 20,
		BodyReadTimeout: 30 * time.Second, UploadReadTimeout: 10 * time.Minute, MaxWebhookInFlight: 128,
		MaxStreamsPerToken: 8, StreamWriteTimeout: 10 * time.Second, MaxFailedAuth: 20}
	if !reflect.DeepEqual(cfg.HTTP, want) || cfg.OutgoingWebhooks.AllowNetworks != nil {
		t.Errorf("http = %+v", cfg.HTTP)
	}
	if cfg.Tickets.AutoCloseAfter != 96*time.Hour || cfg.Outbox.MaxAttempts != 20 || cfg.Outbox.MaxBackoff != 10*time.Minute {
		t.Errorf("tickets/outbox = %+v %+v", cfg.Tickets, cfg.Outbox)
	}
	ch := cfg.Channels[0]
	if !reflect.DeepEqual(ch.Attachments.Allow, []string{".pdf", ".png", ".jpeg", ".jpg", ".gif", ".txt"}) || ch.Attachments.MaxBytes != 20<<20 {
		t.Errorf("attachments = %+v", ch.Attachments)
	}
	if string(ch.Config) != "{}" || ch.Line != 1 {
		t.Errorf("config = %s line %d", ch.Config, ch.Line)
	}
}

func TestParseFull(t *testing.T) {
	src := `
data_dir   = "/var/lib/patchbay"
plugin_dir = "plugins"
http {
  listen            = ":9000"
  public_url        = "https://help.acme.test/"
  max_webhook_bytes = 2048
  max_body_bytes    = 4096
  body_read_timeout     = "5s"
  upload_read_timeout   = "2m"
  max_webhook_in_flight = 16
  max_streams_per_token = 3
  stream_write_timeout  = "4s"
  max_failed_auth       = 7
  trusted_proxies       = ["10.0.0.0/8", "192.168.1.7", "::ffff:172.16.0.0/108"]
}
outgoing_webhooks { allow_networks = ["127.0.0.1/32", "fd00::/8"] }
tickets { auto_close_after = "48h" }
outbox {
  max_attempts = 5
  max_backoff  = "1m"
  workers      = 64
  channel_workers = 16
}
channel "it-help" {
  plugin  = "slack"
  command = "./custom/slack"
  sha256  = "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
  brand   = "acme"
  attachments {
    allow       = [".PDF", ".zip"]
    max_size_mb = 5
  }
  config {
    signing_secret = env("SIGNING")
    bot_token      = env("MISSING_TOKEN", "fallback")
    api_url        = "http://127.0.0.1:1234"
    retries        = 3
    ratio          = 0.5
    enabled        = true
    scopes         = ["a", "b"]
    nested         = { k = "v" }
    relay          = "smtp://user:pa55@relay:587"
    tls {
      cert = "c.pem"
      key  = env("TLS_KEY")
    }
    route "a" { to = "x" }
    route "b" { to = "y" }
    mailbox { name = "INBOX" }
    mailbox { name = "Sent" }
  }
}`
	cfg, err := parse(t, src, map[string]string{"SIGNING": "s3cr3t", "TLS_KEY": "k3y"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/var/lib/patchbay" || cfg.PluginDir != "/base/plugins" {
		t.Errorf("dirs = %q %q", cfg.DataDir, cfg.PluginDir)
	}
	wantHTTP := HTTP{Listen: ":9000", PublicURL: "https://help.acme.test", MaxWebhookBytes: 2048, MaxBodyBytes: 4096,
		BodyReadTimeout: 5 * time.Second, UploadReadTimeout: 2 * time.Minute, MaxWebhookInFlight: 16,
		MaxStreamsPerToken: 3, StreamWriteTimeout: 4 * time.Second, MaxFailedAuth: 7,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("172.16.0.0/12")}}
	if !reflect.DeepEqual(cfg.HTTP, wantHTTP) {
		t.Errorf("http = %+v", cfg.HTTP)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("fd00::/8")}; !reflect.DeepEqual(cfg.OutgoingWebhooks.AllowNetworks, want) {
		t.Errorf("outgoing_webhooks.allow_networks = %v, want %v", cfg.OutgoingWebhooks.AllowNetworks, want)
	}
	if cfg.Tickets.AutoCloseAfter != 48*time.Hour || cfg.Outbox != (Outbox{MaxAttempts: 5, MaxBackoff: time.Minute, Workers: 64, ChannelWorkers: 16}) {
		t.Errorf("tickets/outbox = %+v %+v", cfg.Tickets, cfg.Outbox)
	}
	ch := cfg.Channels[0]
	if ch.Name != "it-help" || ch.Plugin != "slack" || ch.Command != "/base/custom/slack" || ch.Brand != "acme" ||
		ch.SHA256 != "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789" {
		t.Errorf("channel = %+v", ch)
	}
	if !reflect.DeepEqual(ch.Attachments.Allow, []string{".pdf", ".zip"}) || ch.Attachments.MaxBytes != 5<<20 {
		t.Errorf("attachments = %+v", ch.Attachments)
	}
	var got map[string]any
	if err := json.Unmarshal(ch.Config, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"signing_secret": "s3cr3t", "bot_token": "fallback", "api_url": "http://127.0.0.1:1234",
		"retries": 3.0, "ratio": 0.5, "enabled": true, "scopes": []any{"a", "b"},
		"nested": map[string]any{"k": "v"}, "relay": "smtp://user:pa55@relay:587",
		"tls":     map[string]any{"cert": "c.pem", "key": "k3y"},
		"route":   map[string]any{"a": map[string]any{"to": "x"}, "b": map[string]any{"to": "y"}},
		"mailbox": []any{map[string]any{"name": "INBOX"}, map[string]any{"name": "Sent"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config JSON:\n got %v\nwant %v", got, want)
	}
	wantSecrets := []string{"bot_token", "signing_secret", "tls.key"}
	secrets := append([]string(nil), ch.SecretFields...)
	sortStrings(secrets)
	if !reflect.DeepEqual(secrets, wantSecrets) {
		t.Errorf("secret fields = %v, want %v", secrets, wantSecrets)
	}

	red := cfg.Redacted()
	redJSON := string(red.Channels[0].Config)
	for _, secret := range []string{"s3cr3t", "k3y", "fallback", "pa55"} {
		if strings.Contains(redJSON, secret) {
			t.Errorf("redacted config leaks %q: %s", secret, redJSON)
		}
	}
	if !strings.Contains(redJSON, `"relay":"smtp://user:(redacted)@relay:587"`) || !strings.Contains(redJSON, `"api_url":"http://127.0.0.1:1234"`) {
		t.Errorf("redacted config = %s", redJSON)
	}
	if !strings.Contains(string(cfg.Channels[0].Config), "s3cr3t") {
		t.Error("Redacted modified the original")
	}
	// A secret-named key written literally is hidden too; other keys stay.
	lit, err := parse(t, "channel \"a\" {\n plugin = \"x\"\n config {\n  bot_token = \"xoxb-literal\"\n  team_id = \"T1\"\n }\n}", nil)
	if err != nil {
		t.Fatal(err)
	}
	if red := string(lit.Redacted().Channels[0].Config); strings.Contains(red, "xoxb-literal") || !strings.Contains(red, `"team_id":"T1"`) {
		t.Errorf("literal secret display = %s", red)
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		env  map[string]string
		want []string // substrings of the error
	}{
		{"syntax", "data_dir = \n", nil, []string{"test.hcl:1"}},
		{"unknown top-level", "nope = 1\n", nil, []string{"test.hcl:1", `"nope"`}},
		{"unknown channel field", "channel \"a\" {\n  plugin = \"x\"\n  colour = \"red\"\n}\n", nil, []string{"test.hcl:3", `"colour"`}},
		{"unknown http field", "http {\n listn = \"x\"\n}", nil, []string{"test.hcl:2", `"listn"`}},
		{"missing plugin", "channel \"a\" {\n}\n", nil, []string{"test.hcl:1", `"plugin" is required`}},
		{"duplicate channel", "channel \"a\" { plugin = \"x\" }\nchannel \"a\" { plugin = \"y\" }\n", nil, []string{"test.hcl:2", "already defined at line 1"}},
		{"bad channel name", `channel "Has Space" { plugin = "x" }`, nil, []string{"test.hcl:1", "Invalid channel name"}},
		{"slash in name", `channel "a/b" { plugin = "x" }`, nil, []string{"Invalid channel name"}},
		{"bad plugin kind", `channel "a" { plugin = "../evil" }`, nil, []string{"Invalid plugin kind", `channel "a": plugin`}},
		{"missing env", "channel \"a\" {\n plugin = \"x\"\n config {\n  token = env(\"NOPE_TOKEN\")\n }\n}", nil, []string{"test.hcl:4", "NOPE_TOKEN", "is not set", "config.token"}},
		{"env too many args", `channel "a" {
plugin = "x"
config { t = env("A", "b", "c") }
}`, nil, []string{"test.hcl:3", "at most one default"}},
		{"bad sha", `channel "a" {
plugin = "x"
sha256 = "abc"
}`, nil, []string{"test.hcl:3", `channel "a": sha256`}},
		{"bad duration", "tickets {\n auto_close_after = \"soon\"\n}", nil, []string{"test.hcl:2", "tickets.auto_close_after"}},
		{"negative duration", `outbox { max_backoff = "-1s" }`, nil, []string{"outbox.max_backoff"}},
		{"zero attempts", `outbox { max_attempts = 0 }`, nil, []string{"outbox.max_attempts", "between 1 and"}},
		{"zero workers", `outbox { workers = 0 }`, nil, []string{"outbox.workers", "between 1 and"}},
		{"zero channel workers", `outbox { channel_workers = 0 }`, nil, []string{"outbox.channel_workers", "between 1 and"}},
		{"channel workers above workers", "outbox {\n workers = 8\n channel_workers = 9\n}", nil, []string{"test.hcl:3", "outbox.channel_workers (9) must not exceed outbox.workers (8)"}},
		{"channel workers above the default workers", `outbox { channel_workers = 129 }`, nil, []string{"outbox.channel_workers (129) must not exceed outbox.workers (128)"}},
		{"fractional bytes", `http { max_webhook_bytes = 1.5 }`, nil, []string{"http.max_webhook_bytes", "whole number"}},
		{"string bytes", `http { max_body_bytes = "1MB" }`, nil, []string{"http.max_body_bytes", "must be a number"}},
		{"bad public url", `http { public_url = "help.acme.test" }`, nil, []string{"http.public_url"}},
		{"bad body read timeout", `http { body_read_timeout = "0s" }`, nil, []string{"http.body_read_timeout", "positive duration"}},
		{"zero streams per token", `http { max_streams_per_token = 0 }`, nil, []string{"http.max_streams_per_token", "between 1 and"}},
		{"zero in-flight webhooks", `http { max_webhook_in_flight = 0 }`, nil, []string{"http.max_webhook_in_flight", "between 1 and"}},
		{"bad trusted proxy", `http { trusted_proxies = ["10.0.0.0/33"] }`, nil, []string{"http.trusted_proxies", "CIDR"}},
		{"trusted proxies not a list", `http { trusted_proxies = "10.0.0.0/8" }`, nil, []string{"http.trusted_proxies", "must be a list"}},
		{"bad allowed network", "outgoing_webhooks {\n allow_networks = [\"localhost\"]\n}", nil, []string{"test.hcl:2", "outgoing_webhooks.allow_networks", `"localhost"`}},
		{"unknown outgoing_webhooks field", "outgoing_webhooks {\n allow = []\n}", nil, []string{"test.hcl:2", `"allow"`}},
		{"bad extension", `channel "a" {
plugin = "x"
attachments { allow = ["pdf"] }
}`, nil, []string{"test.hcl:3", "not an extension"}},
		{"huge attachment limit", `channel "a" {
plugin = "x"
attachments { max_size_mb = 999999 }
}`, nil, []string{`channel "a": attachments.max_size_mb`}},
		{"allow not list", `channel "a" {
plugin = "x"
attachments { allow = ".pdf" }
}`, nil, []string{"must be a list"}},
		{"duplicate http", "http {}\nhttp {}\n", nil, []string{"test.hcl:2", "Duplicate http block"}},
		{"duplicate config", `channel "a" {
plugin = "x"
config {}
config {}
}`, nil, []string{"test.hcl:4", "Duplicate config block"}},
		{"attr and block clash", `channel "a" {
plugin = "x"
config {
 tls = 1
 tls { a = 1 }
}
}`, nil, []string{"test.hcl:5", "config.tls"}},
		{"duplicate labelled block", `channel "a" {
plugin = "x"
config {
 r "a" { }
 r "a" { }
}
}`, nil, []string{"test.hcl:5", "config.r.a is defined twice"}},
		{"mixed label counts", `channel "a" {
plugin = "x"
config {
 r "a" { }
 r { }
}
}`, nil, []string{"test.hcl:5", "same number of labels"}},
		{"variables not allowed", `channel "a" {
plugin = "x"
config { t = var.x }
}`, nil, []string{"test.hcl:3"}},
		{"several errors reported", "channel \"a\" {\n plugin = \"x\"\n bogus = 1\n}\noutbox { max_attempts = -1 }\n", nil, []string{"test.hcl:3", "test.hcl:5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse(t, tt.src, tt.env)
			if err == nil {
				t.Fatalf("no error; config = %+v", cfg)
			}
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("error %T is not *config.Error: %v", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseSecretNotInErrors(t *testing.T) {
	// A secret used where it is invalid must not be echoed.
	for _, src := range []string{
		`http { max_body_bytes = env("S") }`,
		`http { public_url = env("S") }`,
		`tickets { auto_close_after = env("S") }`,
		"channel \"a\" {\n plugin = env(\"S\")\n}",
		"channel \"a\" {\n plugin = \"x\"\n sha256 = env(\"S\")\n}",
		"channel \"a\" {\n plugin = \"x\"\n attachments {\n  allow = [env(\"S\")]\n }\n}",
	} {
		_, err := parse(t, src, map[string]string{"S": "Hunter 2!"})
		if err == nil {
			t.Errorf("%s: no error", src)
			continue
		}
		if strings.Contains(err.Error(), "Hunter 2!") {
			t.Errorf("error leaks the secret: %v", err)
		}
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.hcl")
	if err := os.WriteFile(path, []byte("data_dir = \"d\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if cfg.Path != path || cfg.DataDir != filepath.Join(wd, "d") {
		t.Errorf("path %q data_dir %q", cfg.Path, cfg.DataDir)
	}
	if _, err := Load(filepath.Join(dir, "missing.hcl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestDefaultConfig keeps config/patchbay.hcl loadable.
func TestDefaultConfig(t *testing.T) {
	cfg, err := Load("patchbay.hcl")
	if err != nil {
		t.Fatal(err)
	}
	ch, ok := cfg.Channel("support")
	if !ok || ch.Plugin != "email" || ch.Brand != "acme" {
		t.Fatalf("support channel = %+v", ch)
	}
	var c map[string]string
	if err := json.Unmarshal(ch.Config, &c); err != nil {
		t.Fatal(err)
	}
	if c["smtp_listen"] != "127.0.0.1:2525" || c["address"] != "support@acme.test" || c["outbound"] != "dir:./data/outbound-mail" {
		t.Errorf("config = %v", c)
	}
	if cfg.HTTP.Listen != "127.0.0.1:8080" {
		t.Errorf("listen = %q", cfg.HTTP.Listen)
	}
}
