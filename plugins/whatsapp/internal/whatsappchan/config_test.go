package whatsappchan

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/graph"
	"github.com/patchbayhq/patchbay/sdk"
)

func TestDescribe(t *testing.T) {
	m, err := New().Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != "whatsapp" || m.Version == "" {
		t.Errorf("kind/version = %q/%q", m.Kind, m.Version)
	}
	c := m.Capabilities
	if c.ReplyWindow != 24*time.Hour || !c.AttachmentsIn || !c.AttachmentsOut || !c.Webhooks || c.MaxAttachmentBytes != 100<<20 {
		t.Errorf("capabilities = %+v", c)
	}
	secrets := map[string]bool{}
	required := map[string]bool{}
	for _, f := range m.ConfigFields {
		secrets[f.Name] = f.Secret
		required[f.Name] = f.Required
		if f.Description == "" {
			t.Errorf("field %s undocumented", f.Name)
		}
	}
	for _, name := range []string{"access_token", "app_secret", "verify_token"} {
		if !secrets[name] {
			t.Errorf("%s not marked secret", name)
		}
	}
	for _, name := range []string{"phone_number_id", "access_token", "app_secret", "verify_token"} {
		if !required[name] {
			t.Errorf("%s not marked required", name)
		}
	}
	if secrets["phone_number_id"] || required["api_url"] || required["template"] {
		t.Errorf("optional/public fields mis-marked")
	}
}

func TestConfigure(t *testing.T) {
	full := `"phone_number_id":"1065","access_token":"tok","app_secret":"sec","verify_token":"vt"`
	tests := []struct {
		name       string
		config     string
		wantFields []string // fields with errors; nil means valid
	}{
		{"minimal", `{` + full + `}`, nil},
		{"with template", `{` + full + `,"template":{"name":"hello_again","language":"en_US"}}`, nil},
		{"template as HCL block list", `{` + full + `,"template":[{"name":"hello_again","language":"en_US","body_parameter":true}]}`, nil},
		{"api_url", `{` + full + `,"api_url":"http://127.0.0.1:9999/v24.0"}`, nil},
		{"empty", `{}`, []string{"access_token", "app_secret", "phone_number_id", "verify_token"}},
		{"blank values", `{"phone_number_id":" ","access_token":"","app_secret":"","verify_token":""}`, []string{"access_token", "app_secret", "phone_number_id", "verify_token"}},
		{"phone number instead of id", `{"phone_number_id":"+1 555 0100","access_token":"tok","app_secret":"sec","verify_token":"vt"}`, []string{"phone_number_id"}},
		{"bad api_url", `{` + full + `,"api_url":"graph.facebook.com"}`, []string{"api_url"}},
		{"template without language", `{` + full + `,"template":{"name":"x"}}`, []string{"template.language"}},
		{"template without name", `{` + full + `,"template":{"language":"en"}}`, []string{"template.name"}},
		{"unknown field", `{` + full + `,"phone":"1"}`, []string{"phone"}},
		{"wrong type", `{"phone_number_id":1065,"access_token":"tok","app_secret":"sec","verify_token":"vt"}`, []string{"phone_number_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := New()
			err := ch.Configure(context.Background(), sdk.ConfigureRequest{Instance: "wa", Config: []byte(tt.config), Host: newTestHost()})
			if tt.wantFields == nil {
				if err != nil {
					t.Fatalf("Configure: %v", err)
				}
				rt := ch.rt.Load()
				if tt.name == "minimal" && rt.cfg.APIURL != graph.DefaultBaseURL {
					t.Errorf("api_url default = %q", rt.cfg.APIURL)
				}
				return
			}
			var fe sdk.FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not FieldErrors", err)
			}
			var got []string
			for _, f := range fe {
				got = append(got, f.Field)
			}
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(tt.wantFields, ",") {
				t.Errorf("fields = %v, want %v (%v)", got, tt.wantFields, err)
			}
			for _, secret := range []string{"tok", "sec"} {
				if strings.Contains(err.Error(), `"`+secret+`"`) {
					t.Errorf("error echoes a secret: %v", err)
				}
			}
			if ch.rt.Load() != nil {
				t.Errorf("an invalid configuration was applied")
			}
		})
	}
}

func TestUnconfiguredChannel(t *testing.T) {
	ch := New()
	resp, err := ch.HandleWebhook(context.Background(), &sdk.WebhookRequest{Method: "POST", Path: "/"})
	if err != nil || resp.Status != 503 {
		t.Fatalf("webhook before Configure: %v %v", resp, err)
	}
	_, err = ch.Send(context.Background(), &sdk.OutboundMessage{Text: "x"})
	if se := sendErr(t, err); !se.Retryable {
		t.Fatalf("send before Configure: %+v", se)
	}
}

func TestStartReportsConnection(t *testing.T) {
	h := newHarness(t)
	if err := h.ch.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := h.host.Statuses(); len(st) != 1 || st[0].State != sdk.StateConnected || !strings.Contains(st[0].Message, "Patchbay Test") {
		t.Fatalf("statuses = %+v", st)
	}

	bad := newHarness(t)
	bad.graph.SetToken("another-token")
	if err := bad.ch.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := bad.host.Statuses(); len(st) != 1 || st[0].State != sdk.StateAuthFailed {
		t.Fatalf("statuses = %+v, want auth_failed", st)
	}

	down := newHarness(t)
	down.graph.Close()
	if err := down.ch.Start(context.Background()); err != nil {
		t.Fatalf("Start must not fail when the API is unreachable: %v", err)
	}
	if st := down.host.Statuses(); len(st) != 1 || st[0].State != sdk.StateDegraded {
		t.Fatalf("statuses = %+v, want degraded", st)
	}
	if err := h.ch.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}
