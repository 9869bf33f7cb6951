package linechan

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/sdk"
)

func TestConfigure(t *testing.T) {
	tests := []struct {
		name       string
		config     string
		wantFields []string // invalid fields; nil means valid
		wantAPI    string
		wantData   string
	}{
		{"defaults", `{"channel_secret":"s3cr3t-value","channel_access_token":"t0ken-value"}`, nil, "https://api.line.me", "https://api-data.line.me"},
		{"loopback fakes", `{"channel_secret":"s","channel_access_token":"t","api_url":"http://127.0.0.1:9999/","data_api_url":"http://localhost:9998"}`, nil, "http://127.0.0.1:9999", "http://localhost:9998"},
		{"missing both secrets", `{}`, []string{"channel_secret", "channel_access_token"}, "", ""},
		{"blank secret", `{"channel_secret":"  ","channel_access_token":"t"}`, []string{"channel_secret"}, "", ""},
		{"plain http to a remote host", `{"channel_secret":"s","channel_access_token":"t","api_url":"http://api.line.me"}`, []string{"api_url"}, "", ""},
		{"relative data url", `{"channel_secret":"s","channel_access_token":"t","data_api_url":"api-data.line.me"}`, []string{"data_api_url"}, "", ""},
		{"url with credentials", `{"channel_secret":"s","channel_access_token":"t","api_url":"https://u:p@proxy.example"}`, []string{"api_url"}, "", ""},
		{"unknown field", `{"channel_secret":"s","channel_access_token":"t","webhook_secret":"x"}`, []string{"webhook_secret"}, "", ""},
		{"wrong type", `{"channel_secret":5,"channel_access_token":"t"}`, []string{"channel_secret"}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := &Channel{}
			err := ch.Configure(t.Context(), sdk.ConfigureRequest{Instance: "line", Config: json.RawMessage(tc.config), Host: newTestHost()})
			if tc.wantFields == nil {
				if err != nil {
					t.Fatalf("Configure: %v", err)
				}
				rt, _ := ch.runtime()
				if rt.cfg.APIURL != tc.wantAPI || rt.cfg.DataAPIURL != tc.wantData {
					t.Fatalf("urls %q %q, want %q %q", rt.cfg.APIURL, rt.cfg.DataAPIURL, tc.wantAPI, tc.wantData)
				}
				return
			}
			var fe sdk.FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want FieldErrors", err)
			}
			var got []string
			for _, f := range fe {
				got = append(got, f.Field)
			}
			if strings.Join(got, ",") != strings.Join(tc.wantFields, ",") {
				t.Fatalf("fields %v, want %v (%v)", got, tc.wantFields, err)
			}
			if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "t0ken") {
				t.Fatalf("secret in error: %v", err)
			}
			if _, rerr := ch.runtime(); rerr == nil {
				t.Fatal("invalid configuration was applied")
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	m, err := (&Channel{}).Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != "line" || !m.Capabilities.Webhooks || !m.Capabilities.AttachmentsIn {
		t.Fatalf("manifest %+v", m)
	}
	secret := map[string]bool{}
	for _, f := range m.ConfigFields {
		secret[f.Name] = f.Secret
	}
	want := map[string]bool{"channel_secret": true, "channel_access_token": true, "api_url": false, "data_api_url": false}
	for name, s := range want {
		got, ok := secret[name]
		if !ok || got != s {
			t.Errorf("field %s: present=%t secret=%t, want secret=%t", name, ok, got, s)
		}
	}
}

func TestStartReportsTokenState(t *testing.T) {
	h := newHarness(t)
	if err := h.ch.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := h.host.lastStatus(); s.State != sdk.StateConnected {
		t.Fatalf("status %+v, want connected", s)
	}
	bad := newHarness(t, func(r *sdk.ConfigureRequest) {
		var c map[string]string
		_ = json.Unmarshal(r.Config, &c)
		c["channel_access_token"] = "revoked-token"
		r.Config, _ = json.Marshal(c)
	})
	if err := bad.ch.Start(t.Context()); err != nil {
		t.Fatalf("Start must not fail on a bad token: %v", err)
	}
	if s := bad.host.lastStatus(); s.State != sdk.StateAuthFailed {
		t.Fatalf("status %+v, want auth_failed", s)
	}
	if strings.Contains(bad.logs.String(), "revoked-token") || strings.Contains(bad.host.lastStatus().Message, "revoked-token") {
		t.Fatal("token leaked")
	}
}

func TestSplitText(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		max     int
		msgs    int
		want    []string
		wantErr bool
	}{
		{"short", "hello", 10, 5, []string{"hello"}, false},
		{"blank", " \n\t", 10, 5, nil, false},
		{"break at newline", "aaaa bbbb\ncccc", 12, 5, []string{"aaaa bbbb", "cccc"}, false},
		{"break at space", "aaaaaaaa bbbb", 10, 5, []string{"aaaaaaaa", "bbbb"}, false},
		{"hard cut", "abcdefghij", 4, 5, []string{"abcd", "efgh", "ij"}, false},
		{"surrogate pairs count twice", "😀😀😀", 4, 5, []string{"😀😀", "😀"}, false},
		{"never splits a character", "a😀", 2, 5, []string{"a", "😀"}, false},
		{"too long", "abcdefghij", 2, 3, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := splitText(tc.text, tc.max, tc.msgs)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSanitizeFilename(t *testing.T) {
	tests := map[string]string{
		"invoice.pdf":            "invoice.pdf",
		"../../etc/passwd":       "passwd",
		`C:\Users\me\photo.jpg`:  "photo.jpg",
		"name\x00with\nctrl.txt": "namewithctrl.txt",
		"  .hidden.  ":           "hidden",
		"見積書.pdf":                "見積書.pdf",
		"":                       "",
	}
	for in, want := range tests {
		if got := sanitizeFilename(in); got != want {
			t.Errorf("sanitizeFilename(%q) = %q, want %q", in, got, want)
		}
	}
	long := strings.Repeat("あ", 100) + ".pdf"
	if got := sanitizeFilename(long); len(got) > 200 || !strings.HasSuffix(got, ".pdf") {
		t.Errorf("long name -> %q (%d bytes)", got, len(got))
	}
}
