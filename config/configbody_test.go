package config

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestParseMultiLabelConfigBlocks: blocks with two labels nest one object
// per label, side by side under a shared first label; a secret inside is
// listed by its full dotted path and hidden in the redacted value; a
// single nested block inside a labelled one stays an object.
func TestParseMultiLabelConfigBlocks(t *testing.T) {
	src := `channel "a" {
  plugin = "x"
  config {
    route "eu" "mail" {
      key = env("EU_KEY")
      tls { ca = "eu.pem" }
    }
    route "eu" "chat" { key = "plain" }
    route "us" "mail" { }
  }
}`
	cfg, err := parse(t, src, map[string]string{"EU_KEY": "eu-s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	ch := cfg.Channels[0]
	var got map[string]any
	if err := json.Unmarshal(ch.Config, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"route": map[string]any{
		"eu": map[string]any{
			"mail": map[string]any{"key": "eu-s3cret", "tls": map[string]any{"ca": "eu.pem"}},
			"chat": map[string]any{"key": "plain"},
		},
		"us": map[string]any{"mail": map[string]any{}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config JSON:\n got %v\nwant %v", got, want)
	}
	if !slices.Equal(ch.SecretFields, []string{"route.eu.mail.key"}) {
		t.Errorf("secret fields = %v", ch.SecretFields)
	}
	red := string(cfg.Redacted().Channels[0].Config)
	if strings.Contains(red, "eu-s3cret") || !strings.Contains(red, `"chat":{"key":"plain"}`) || !strings.Contains(red, RedactedValue) {
		t.Errorf("redacted config = %s", red)
	}
}

// TestParseDuplicateMultiLabelConfigBlock: the same two labels twice is
// an error naming the block's full path and line.
func TestParseDuplicateMultiLabelConfigBlock(t *testing.T) {
	src := `channel "a" {
  plugin = "x"
  config {
    route "eu" "mail" { }
    route "eu" "chat" { }
    route "eu" "mail" { }
  }
}`
	_, err := parse(t, src, nil)
	if err == nil || !strings.Contains(err.Error(), "test.hcl:6") || !strings.Contains(err.Error(), "config.route.eu.mail is defined twice") {
		t.Fatalf("error = %v", err)
	}
}
