package whatsappchan

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/graph"
	"github.com/patchbayhq/patchbay/sdk"
)

// Config is the channel's config block.
type Config struct {
	// PhoneNumberID is the business phone number's id in the Cloud API
	// (not the phone number itself).
	PhoneNumberID string `json:"phone_number_id"`
	// AccessToken is a system user access token with whatsapp_business_messaging.
	AccessToken string `json:"access_token"`
	// AppSecret is the Meta app's secret; it signs webhooks.
	AppSecret string `json:"app_secret"`
	// VerifyToken is the token typed into the webhook settings in the App
	// Dashboard, echoed back in the subscription handshake.
	VerifyToken string `json:"verify_token"`
	// APIURL is the Graph API base including the version.
	APIURL string `json:"api_url"`
	// Template is sent instead of a free-form reply outside the 24-hour
	// customer service window.
	Template *TemplateConfig `json:"template"`
}

// TemplateConfig names an approved message template.
type TemplateConfig struct {
	Name     string `json:"name"`
	Language string `json:"language"`
	// BodyParameter passes the agent's reply text as the template body's
	// single variable ({{1}}). Off: the template is sent without
	// parameters.
	BodyParameter bool `json:"body_parameter"`
}

// UnmarshalJSON accepts the template as an object or, as HCL blocks are
// sometimes rendered, as a one-element list of objects.
func (t *TemplateConfig) UnmarshalJSON(b []byte) error {
	type plain TemplateConfig
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var list []json.RawMessage
		if err := json.Unmarshal(b, &list); err != nil {
			return err
		}
		if len(list) != 1 {
			return sdk.FieldErrors{{Field: "template", Message: "must be a single block"}}
		}
		b = list[0]
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*t = TemplateConfig(p)
	return nil
}

// configFields documents the config block in the manifest.
func configFields() []sdk.ConfigField {
	return []sdk.ConfigField{
		{Name: "phone_number_id", Type: "string", Required: true, Description: "ID of the business phone number in the WhatsApp Cloud API (WhatsApp > API Setup in the App Dashboard), not the number itself."},
		{Name: "access_token", Type: "string", Required: true, Secret: true, Description: "System user access token with the whatsapp_business_messaging permission."},
		{Name: "app_secret", Type: "string", Required: true, Secret: true, Description: "The Meta app's secret (App settings > Basic); verifies the X-Hub-Signature-256 of every webhook."},
		{Name: "verify_token", Type: "string", Required: true, Secret: true, Description: "Any string you choose; type the same one as the Verify token in the app's webhook settings."},
		{Name: "api_url", Type: "string", Description: "Graph API base URL including the version.", Default: graph.DefaultBaseURL},
		{Name: "template", Type: "object", Description: "Approved template sent when a reply falls outside the 24-hour window: { name, language, body_parameter }. Without it such replies fail with window_closed."},
	}
}

// validate fills defaults and returns every problem at once.
func (c *Config) validate() error {
	var errs sdk.FieldErrors
	c.PhoneNumberID = strings.TrimSpace(c.PhoneNumberID)
	require := func(field, v string) {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, sdk.FieldError{Field: field, Message: "is required"})
		}
	}
	require("phone_number_id", c.PhoneNumberID)
	require("access_token", c.AccessToken)
	require("app_secret", c.AppSecret)
	require("verify_token", c.VerifyToken)
	if c.PhoneNumberID != "" && strings.ContainsAny(c.PhoneNumberID, "/?#+ ") {
		errs = append(errs, sdk.FieldError{Field: "phone_number_id", Message: "must be the numeric phone number id from the App Dashboard, not a phone number"})
	}
	if c.APIURL == "" {
		c.APIURL = graph.DefaultBaseURL
	}
	if u, err := url.Parse(c.APIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		errs = append(errs, sdk.FieldError{Field: "api_url", Message: "must be an http(s) URL such as " + graph.DefaultBaseURL})
	}
	if t := c.Template; t != nil {
		t.Name = strings.TrimSpace(t.Name)
		t.Language = strings.TrimSpace(t.Language)
		if t.Name == "" {
			errs = append(errs, sdk.FieldError{Field: "template.name", Message: "is required when a template is configured"})
		}
		if t.Language == "" {
			errs = append(errs, sdk.FieldError{Field: "template.language", Message: "is required when a template is configured (e.g. en_US)"})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
