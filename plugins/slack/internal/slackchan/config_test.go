package slackchan

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/plugins/slack/internal/fakeslack"
	"github.com/patchbayhq/patchbay/sdk"
)

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name   string
		cfg    string
		fields []string // fields with errors; nil means valid
	}{
		{"events mode", `{"signing_secret":"s3cr3t","bot_token":"xoxb-1"}`, nil},
		{"socket mode", `{"bot_token":"xoxb-1","app_token":"xapp-1","mode":"socket"}`, nil},
		{"socket mode without app_token", `{"bot_token":"xoxb-1","mode":"socket"}`, []string{"app_token"}},
		{"events mode without signing_secret", `{"bot_token":"xoxb-1"}`, []string{"signing_secret"}},
		{"user token instead of bot token", `{"signing_secret":"s","bot_token":"xoxp-1"}`, []string{"bot_token"}},
		{"missing bot token", `{"signing_secret":"s"}`, []string{"bot_token"}},
		{"bot token as app token", `{"bot_token":"xoxb-1","app_token":"xoxb-2","mode":"socket"}`, []string{"app_token"}},
		{"unknown mode", `{"signing_secret":"s","bot_token":"xoxb-1","mode":"rtm"}`, []string{"mode"}},
		{"api_url not http", `{"signing_secret":"s","bot_token":"xoxb-1","api_url":"ftp://x/"}`, []string{"api_url"}},
		{"api_url without host", `{"signing_secret":"s","bot_token":"xoxb-1","api_url":"http:///api"}`, []string{"api_url"}},
		{"unknown field", `{"signing_secret":"s","bot_token":"xoxb-1","verification_token":"x"}`, []string{"verification_token"}},
		{"wrong type", `{"signing_secret":"s","bot_token":42}`, []string{"bot_token"}},
		{"several at once", `{"bot_token":"nope","mode":"socket"}`, []string{"bot_token", "app_token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := New()
			err := ch.Configure(context.Background(), sdk.ConfigureRequest{Instance: "x", Config: json.RawMessage(tt.cfg), Host: newFakeHost()})
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("valid config rejected: %v", err)
				}
				return
			}
			var fe sdk.FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want sdk.FieldErrors", err)
			}
			var got []string
			for _, f := range fe {
				got = append(got, f.Field)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.fields))
			if !slices.Equal(got, want) {
				t.Errorf("fields %v, want %v", got, want)
			}
			for _, secret := range []string{"xoxb-1", "xoxp-1", "xoxb-2", "s3cr3t"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q reveals a secret", err)
				}
			}
		})
	}
}

func TestManifestMarksSecrets(t *testing.T) {
	m, err := New().Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != "slack" || !m.Capabilities.Webhooks || !m.Capabilities.AttachmentsIn || !m.Capabilities.AttachmentsOut {
		t.Errorf("manifest %+v", m)
	}
	secret := map[string]bool{}
	for _, f := range m.ConfigFields {
		secret[f.Name] = f.Secret
	}
	want := map[string]bool{"signing_secret": true, "bot_token": true, "app_token": true, "mode": false, "api_url": false}
	for name, s := range want {
		got, ok := secret[name]
		if !ok || got != s {
			t.Errorf("field %s: present=%v secret=%v, want secret=%v", name, ok, got, s)
		}
	}
}

func TestStartReportsStatus(t *testing.T) {
	tests := []struct {
		name      string
		authFails string
		want      string
	}{
		{"auth.test ok", "", sdk.StateConnected},
		{"invalid_auth", "invalid_auth", sdk.StateAuthFailed},
		{"account_inactive", "account_inactive", sdk.StateAuthFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, ModeEvents, nil)
			h.slack.SetAuthFailure(tt.authFails)
			h.start(t)
			if got := h.host.lastStatus().State; got != tt.want {
				t.Errorf("status %q, want %q", got, tt.want)
			}
			if calls := h.slack.CallsTo("auth.test"); len(calls) != 1 || calls[0].Token != fakeslack.BotToken {
				t.Errorf("auth.test calls %d", len(calls))
			}
		})
	}
}

func TestStartRetriesWhenSlackIsDown(t *testing.T) {
	h := newHarness(t, ModeEvents, nil)
	h.slack.Fail("auth.test", fakeslack.Failure{Status: 503})
	h.start(t)
	if got := h.host.lastStatus().State; got != sdk.StateDegraded {
		t.Errorf("status after a 503 %q, want degraded", got)
	}
	waitFor(t, "connected after the retry", func() bool { return h.host.lastStatus().State == sdk.StateConnected })
}

func TestStartBeforeConfigure(t *testing.T) {
	if err := New().Start(context.Background()); err == nil {
		t.Fatal("Start before Configure succeeded")
	}
}
