package linechan

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/patchbayhq/patchbay/sdk"
)

// Default LINE API hosts. Media content is served from a separate data host.
const (
	defaultAPIURL     = "https://api.line.me"
	defaultDataAPIURL = "https://api-data.line.me"
)

// config is the channel's config block.
type config struct {
	ChannelSecret      string `json:"channel_secret"`
	ChannelAccessToken string `json:"channel_access_token"`
	APIURL             string `json:"api_url"`
	DataAPIURL         string `json:"data_api_url"`
}

// configFields documents config for the manifest.
func configFields() []sdk.ConfigField {
	return []sdk.ConfigField{
		{Name: "channel_secret", Type: "string", Required: true, Secret: true,
			Description: "Channel secret from the LINE Developers console (Basic settings); verifies X-Line-Signature and signs file links."},
		{Name: "channel_access_token", Type: "string", Required: true, Secret: true,
			Description: "Long-lived channel access token (Messaging API tab); used for push, profile and content calls."},
		{Name: "api_url", Type: "string", Default: defaultAPIURL,
			Description: "Base URL of the Messaging API (push, profile, bot info)."},
		{Name: "data_api_url", Type: "string", Default: defaultDataAPIURL,
			Description: "Base URL of the Messaging API data host (message content downloads)."},
	}
}

// parseConfig decodes and validates the config block. Errors are
// sdk.FieldErrors naming each bad field; secrets never appear in them.
func parseConfig(req sdk.ConfigureRequest) (config, error) {
	var c config
	if err := req.Decode(&c); err != nil {
		return config{}, err
	}
	c.ChannelSecret = strings.TrimSpace(c.ChannelSecret)
	c.ChannelAccessToken = strings.TrimSpace(c.ChannelAccessToken)
	if c.APIURL == "" {
		c.APIURL = defaultAPIURL
	}
	if c.DataAPIURL == "" {
		c.DataAPIURL = defaultDataAPIURL
	}
	var errs sdk.FieldErrors
	if c.ChannelSecret == "" {
		errs = append(errs, sdk.FieldError{Field: "channel_secret", Message: "is required"})
	}
	if c.ChannelAccessToken == "" {
		errs = append(errs, sdk.FieldError{Field: "channel_access_token", Message: "is required"})
	}
	if msg := checkBaseURL(c.APIURL); msg != "" {
		errs = append(errs, sdk.FieldError{Field: "api_url", Message: msg})
	}
	if msg := checkBaseURL(c.DataAPIURL); msg != "" {
		errs = append(errs, sdk.FieldError{Field: "data_api_url", Message: msg})
	}
	if len(errs) > 0 {
		return config{}, errs
	}
	c.APIURL = strings.TrimRight(c.APIURL, "/")
	c.DataAPIURL = strings.TrimRight(c.DataAPIURL, "/")
	return c, nil
}

// checkBaseURL returns why raw is not a usable API base URL, or "". The
// access token travels to it, so plain http is accepted only for loopback
// hosts (tests, local proxies).
func checkBaseURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Sprintf("must be an absolute URL such as %s", defaultAPIURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "must not carry credentials, a query or a fragment"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if isLoopback(u.Hostname()) {
			return ""
		}
		return "must use https (http is accepted only for loopback hosts)"
	default:
		return "must use https"
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
