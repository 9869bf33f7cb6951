package slackchan

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/patchbayhq/patchbay/sdk"
)

// Modes of receiving events.
const (
	// ModeEvents receives the Events API on the core's /hooks/<instance>.
	ModeEvents = "events"
	// ModeSocket opens a Socket Mode websocket to Slack (no public URL).
	ModeSocket = "socket"
)

// DefaultAPIURL is Slack's Web API base.
const DefaultAPIURL = "https://slack.com/api/"

// Config is the channel's config block.
type Config struct {
	// SigningSecret verifies Events API requests (v0 signatures).
	SigningSecret string `json:"signing_secret"`
	// BotToken (xoxb-…) calls the Web API and downloads files.
	BotToken string `json:"bot_token"`
	// AppToken (xapp-…) opens Socket Mode connections.
	AppToken string `json:"app_token"`
	// Mode is "events" (default) or "socket".
	Mode string `json:"mode"`
	// APIURL is the Web API base, default https://slack.com/api/.
	APIURL string `json:"api_url"`
}

// parseConfig decodes and validates a config block. Every problem is
// reported as a field error; secrets never appear in messages.
func parseConfig(req sdk.ConfigureRequest) (Config, error) {
	var c Config
	if err := req.Decode(&c); err != nil {
		return Config{}, err
	}
	if c.Mode == "" {
		c.Mode = ModeEvents
	}
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	var errs sdk.FieldErrors
	add := func(field, format string, args ...any) {
		errs = append(errs, sdk.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	switch c.Mode {
	case ModeEvents, ModeSocket:
	default:
		add("mode", "must be %q or %q", ModeEvents, ModeSocket)
	}
	switch {
	case c.BotToken == "":
		add("bot_token", "is required")
	case !strings.HasPrefix(c.BotToken, "xoxb-"):
		add("bot_token", "must be a bot token (starting with xoxb-)")
	}
	if c.Mode == ModeEvents && c.SigningSecret == "" {
		add("signing_secret", "is required in events mode")
	}
	if c.SigningSecret != "" && strings.TrimSpace(c.SigningSecret) != c.SigningSecret {
		add("signing_secret", "must not have leading or trailing spaces")
	}
	switch {
	case c.AppToken == "" && c.Mode == ModeSocket:
		add("app_token", "is required in socket mode")
	case c.AppToken != "" && !strings.HasPrefix(c.AppToken, "xapp-"):
		add("app_token", "must be an app-level token (starting with xapp-)")
	}
	u, err := url.Parse(c.APIURL)
	switch {
	case err != nil:
		add("api_url", "is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		add("api_url", "must be an http or https URL")
	case u.Host == "":
		add("api_url", "must have a host")
	case u.RawQuery != "" || u.Fragment != "":
		add("api_url", "must not have a query or fragment")
	}
	if len(errs) > 0 {
		return Config{}, errs
	}
	if !strings.HasSuffix(c.APIURL, "/") {
		c.APIURL += "/"
	}
	return c, nil
}

// configFields documents the config block in the manifest.
func configFields() []sdk.ConfigField {
	return []sdk.ConfigField{
		{Name: "signing_secret", Type: "string", Secret: true, Description: "Slack app signing secret; verifies Events API requests (required in events mode)."},
		{Name: "bot_token", Type: "string", Required: true, Secret: true, Description: "Bot User OAuth token (xoxb-…)."},
		{Name: "app_token", Type: "string", Secret: true, Description: "App-level token (xapp-…) with connections:write; required in socket mode."},
		{Name: "mode", Type: "string", Default: ModeEvents, Description: `"events" (Events API on /hooks/<channel>) or "socket" (Socket Mode, no public URL).`},
		{Name: "api_url", Type: "string", Default: DefaultAPIURL, Description: "Slack Web API base URL (tests, proxies)."},
	}
}
