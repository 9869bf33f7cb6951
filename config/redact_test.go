package config

import (
	"strings"
	"testing"
)

func TestChannelRedact(t *testing.T) {
	src := `
channel "it" {
  plugin = "slack"
  config {
    signing_secret = env("SIGN")
    bot_token      = "xoxb-literal-token"
    outbound       = "smtp://user:p4ss%2Fword@relay.test:587"
    team           = "T123"
    auth           = "literal-auth-value"
    nested {
      keys  = [env("K1")]
      plain = "plain-value"
    }
  }
}`
	cfg, err := parse(t, src, map[string]string{"SIGN": "sign-secret-1", "K1": "listed-secret"})
	if err != nil {
		t.Fatal(err)
	}
	ch := cfg.Channels[0]
	text := "auth failed: sign-secret-1 / xoxb-literal-token / p4ss/word / p4ss%2Fword / listed-secret / team T123 / plain-value / literal-auth-value"
	tests := []struct {
		name   string
		fields []string
		gone   []string
		kept   []string
	}{
		{"env and URL passwords", nil,
			[]string{"sign-secret-1", "p4ss/word", "p4ss%2Fword", "listed-secret"},
			[]string{"T123", "plain-value", "literal-auth-value", "xoxb-literal-token"}},
		{"plus manifest secret fields", []string{"bot_token"},
			[]string{"sign-secret-1", "xoxb-literal-token"},
			[]string{"T123", "plain-value", "literal-auth-value"}},
		{"plus manifest secret fields", []string{"auth"},
			[]string{"sign-secret-1", "literal-auth-value"},
			[]string{"T123", "plain-value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ch.Redact(text, append(tt.fields, "no_such_field")...)
			for _, s := range tt.gone {
				if strings.Contains(got, s) {
					t.Errorf("%q still in %q", s, got)
				}
			}
			for _, s := range tt.kept {
				if !strings.Contains(got, s) {
					t.Errorf("%q removed from %q", s, got)
				}
			}
			if !strings.Contains(got, RedactedValue) {
				t.Errorf("no %s marker in %q", RedactedValue, got)
			}
		})
	}
	// Too short to be scrubbed from free text.
	cfg, err = parse(t, "channel \"a\" {\n plugin = \"x\"\n config {\n  token = env(\"S\")\n }\n}", map[string]string{"S": "abc"})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Channels[0].Redact("abc def", "token"); got != "abc def" {
		t.Errorf("short value scrubbed: %q", got)
	}
	// A channel without config has no secrets.
	if got := (Channel{}).Redact("nothing here"); got != "nothing here" {
		t.Errorf("empty channel: %q", got)
	}
}
