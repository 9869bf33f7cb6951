package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/config"
)

// The plugin host gets every setting of a channel the file holds, and the
// channel's secrets as the configuration knows them: env() values and,
// once the manifest names them, literal values of secret fields.
func TestPluginhostOptions(t *testing.T) {
	src := `
plugin_dir = "/opt/plugins"
http {
  public_url            = "https://help.acme.test"
  max_webhook_bytes     = 4096
  max_webhook_in_flight = 7
}
channel "support" {
  plugin  = "email"
  command = "/usr/local/bin/mailer"
  sha256  = "` + strings.Repeat("ab", 32) + `"
  brand   = "acme"
  attachments {
    allow       = [".pdf"]
    max_size_mb = 3
  }
  config {
    password = env("MAIL_PASSWORD")
    api_key  = "literal-key"
    host     = "smtp.acme.test"
  }
}
`
	env := map[string]string{"MAIL_PASSWORD": "from-the-env"}
	cfg, err := config.Parse([]byte(src), "patchbay.hcl", config.Options{
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		BaseDir:   "/base",
	})
	if err != nil {
		t.Fatal(err)
	}
	o := pluginhostOptions(cfg)

	// Every field is filled: a field added to the options and forgotten
	// here fails this check.
	nonZero := func(name string, v reflect.Value) {
		for i := range v.NumField() {
			if v.Field(i).IsZero() {
				t.Errorf("%s.%s is not filled from the configuration", name, v.Type().Field(i).Name)
			}
		}
	}
	nonZero("Options", reflect.ValueOf(o))
	if len(o.Channels) != 1 {
		t.Fatalf("channels = %+v", o.Channels)
	}
	ch := o.Channels[0]
	nonZero("Channel", reflect.ValueOf(ch))

	if o.PluginDir != "/opt/plugins" || o.PublicURL != "https://help.acme.test" || o.MaxWebhookBytes != 4096 || o.MaxWebhookInFlight != 7 {
		t.Errorf("options = %+v", o)
	}
	want := cfg.Channels[0]
	if ch.Name != "support" || ch.Plugin != "email" || ch.Command != want.Command || ch.SHA256 != want.SHA256 || ch.Brand != "acme" {
		t.Errorf("channel = %+v", ch)
	}
	if !slices.Equal(ch.Attachments.Allow, []string{".pdf"}) || ch.Attachments.MaxBytes != 3<<20 || string(ch.Config) != string(want.Config) {
		t.Errorf("attachments %+v config %s, want %+v %s", ch.Attachments, ch.Config, want.Attachments, want.Config)
	}

	if got := ch.SecretValues(); !slices.Contains(got, "from-the-env") || slices.Contains(got, "literal-key") {
		t.Errorf("secrets = %q, want the env() value only", got)
	}
	if got := ch.SecretValues("api_key"); !slices.Contains(got, "literal-key") {
		t.Errorf("secrets with the manifest's field = %q", got)
	}
	msg := "auth failed for from-the-env and literal-key"
	if got := ch.Redact(msg, "api_key"); strings.Contains(got, "from-the-env") || strings.Contains(got, "literal-key") || !strings.Contains(got, config.RedactedValue) {
		t.Errorf("redacted = %q", got)
	}
}
