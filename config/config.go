// Package config loads Patchbay's HCL configuration file: the data and plugin
// directories, the HTTP listener, ticket and outbox settings, and one
// `channel "<name>"` block per channel instance whose inner `config` block is
// handed to that channel's plugin as JSON.
//
// Secrets are written as env("NAME") so that they never sit in the file; a
// missing variable is an error naming it, and env("NAME", "default") gives a
// fallback. Every error names the file, the line and the field.
package config

import (
	"encoding/json"
	"net/netip"
	"time"
)

// Defaults applied when the file leaves a setting out.
const (
	DefaultDataDir         = "./data"
	DefaultPluginDir       = "./bin/plugins"
	DefaultListen          = "127.0.0.1:8080"
	DefaultMaxWebhookBytes = 1 << 20
	DefaultMaxBodyBytes    = 1 << 20
	DefaultAutoCloseAfter  = 96 * time.Hour
	DefaultMaxAttempts     = 20
	DefaultMaxBackoff      = 10 * time.Minute
	DefaultMaxAttachmentMB = 20
	// DefaultRateLimitPerMinute is the sustained request rate one API
	// token may use (a safety net against a runaway script, not a quota).
	DefaultRateLimitPerMinute = 3000
	// DefaultRateLimitBurst is how many requests a token may send at once
	// above the sustained rate.
	DefaultRateLimitBurst = 600

	DefaultBodyReadTimeout    = 30 * time.Second
	DefaultUploadReadTimeout  = 10 * time.Minute
	DefaultMaxWebhookInFlight = 128
	DefaultMaxStreamsPerToken = 8
	DefaultStreamWriteTimeout = 10 * time.Second
	DefaultMaxFailedAuth      = 20
)

// DefaultAttachmentAllow is the attachment allowlist used when a channel
// does not set attachments.allow.
var DefaultAttachmentAllow = []string{".pdf", ".png", ".jpeg", ".jpg", ".gif", ".txt"}

// RedactedValue replaces secret values in Redacted output.
const RedactedValue = "(redacted)"

// Config is a loaded, validated configuration. Paths are absolute.
type Config struct {
	// Path is the absolute path of the file the configuration came from.
	Path      string
	DataDir   string
	PluginDir string
	HTTP      HTTP
	Tickets   Tickets
	Outbox    Outbox
	// RateLimit limits the API requests of each token.
	RateLimit RateLimit
	// OutgoingWebhooks configures the rules engine's webhook calls.
	OutgoingWebhooks OutgoingWebhooks
	// Channels are in file order; names are unique.
	Channels []Channel
}

// HTTP configures the one public HTTP listener.
type HTTP struct {
	// Listen is the host:port to listen on.
	Listen string
	// PublicURL is the external base URL (e.g. https://help.acme.test), used
	// to tell plugins where /hooks/<channel> is reachable. Empty: unknown.
	PublicURL string
	// MaxWebhookBytes caps a provider webhook body (413 beyond it).
	MaxWebhookBytes int64
	// MaxBodyBytes caps an API request body (413 beyond it).
	MaxBodyBytes int64
	// BodyReadTimeout is how long a client has to send a whole request
	// body, API call or provider webhook, once its headers arrived (408
	// beyond it, and the connection is closed).
	BodyReadTimeout time.Duration
	// UploadReadTimeout replaces BodyReadTimeout for file uploads (POST
	// /api/v1/attachments), which are larger.
	UploadReadTimeout time.Duration
	// MaxWebhookInFlight caps the webhook requests of one channel being
	// read or handled at once; more answer 503 with Retry-After.
	MaxWebhookInFlight int
	// MaxStreamsPerToken caps the event streams one token keeps open; one
	// more answers 429.
	MaxStreamsPerToken int
	// StreamWriteTimeout ends an event stream whose client has not taken
	// a write within this time (a stalled reader).
	StreamWriteTimeout time.Duration
	// MaxFailedAuth is how many failed authentications one client address
	// may make per minute; beyond it the address's authenticated requests
	// answer 429 with Retry-After until the budget refills.
	MaxFailedAuth int
	// TrustedProxies are the networks of reverse proxies whose
	// X-Forwarded-For names the client address (for the failed-auth
	// limit); empty: the TCP peer is the client.
	TrustedProxies []netip.Prefix
}

// OutgoingWebhooks configures where the rules engine's webhooks may call.
type OutgoingWebhooks struct {
	// AllowNetworks are networks a webhook may reach although they are
	// loopback, private, link-local, unique-local or unspecified (refused
	// by default: server-side request forgery).
	AllowNetworks []netip.Prefix
}

// RateLimit configures the per-token API request limit (a token bucket per
// token: RequestsPerMinute refill, Burst capacity). Requests over it answer
// 429 with Retry-After.
type RateLimit struct {
	// RequestsPerMinute is the sustained rate; 0 turns the limit off.
	RequestsPerMinute int
	// Burst is how many requests a token may send at once.
	Burst int
}

// Tickets configures ticket lifecycle settings.
type Tickets struct {
	// AutoCloseAfter is how long a solved ticket stays solved before it is
	// closed.
	AutoCloseAfter time.Duration
}

// Outbox configures delivery of public replies.
type Outbox struct {
	// MaxAttempts is how often a retryable send is tried before the reply is
	// marked failed.
	MaxAttempts int
	// MaxBackoff caps the wait between two attempts.
	MaxBackoff time.Duration
	// Workers is how many replies are sent at once (0: the outbox's
	// default, DefaultOutboxWorkers). Throughput is at most Workers divided
	// by the provider's latency.
	Workers int
	// ChannelWorkers is the most replies one channel instance sends at
	// once, so that a slow provider leaves workers to the other channels
	// (0: the outbox's default — every worker with one channel, three
	// quarters of them with several). At most Workers.
	ChannelWorkers int
}

// DefaultOutboxWorkers is the outbox's default number of concurrent sends
// (core/outbox.DefaultWorkers; config does not import the core).
const DefaultOutboxWorkers = 128

// Channel is one channel instance: a `channel "<name>"` block.
type Channel struct {
	// Name is the instance name: /hooks/<name>, ticket.channel.
	Name string
	// Plugin is the plugin kind; the binary is patchbay-plugin-<kind> in
	// the plugin directory unless Command is set.
	Plugin string
	// Command is an explicit path to the plugin binary (absolute).
	Command string
	// SHA256 pins the plugin binary's checksum (lower-case hex); empty: no pin.
	SHA256 string
	// Brand is the brand tickets of this channel belong to.
	Brand string
	// Attachments is the inbound attachment allowlist and size limit.
	Attachments AttachmentPolicy
	// Config is the inner config block as a JSON object.
	Config json.RawMessage
	// SecretFields lists the config keys (dotted paths) whose values came
	// from env(); Redacted hides them.
	SecretFields []string
	// Line is the line of the channel block in the file.
	Line int

	redacted json.RawMessage
}

// AttachmentPolicy is a channel's inbound attachment allowlist and size
// limit as the file states it (the attachments block). The command hands it
// to the plugin host and the inbound pipeline as their own policy type, so
// the file's schema does not depend on the plugin API.
type AttachmentPolicy struct {
	// Allow lists the accepted extensions, lower case with the dot
	// (".pdf"); empty: any.
	Allow []string
	// MaxBytes caps one attachment (max_size_mb, in bytes).
	MaxBytes int64
}

// Redacted returns a copy of the configuration that is safe to print or log:
// every config value that came from env() is replaced by RedactedValue, so
// is the literal string value of a key that names a secret (bot_token,
// signing_secret, password, api_key…), and passwords in URL values are
// masked.
func (c *Config) Redacted() *Config {
	out := *c
	out.Channels = make([]Channel, len(c.Channels))
	for i, ch := range c.Channels {
		ch.Config = hideSecretNamed(ch.redacted)
		if ch.Config == nil {
			ch.Config = json.RawMessage("{}")
		}
		ch.SecretFields = append([]string(nil), ch.SecretFields...)
		out.Channels[i] = ch
	}
	return &out
}

// Channel returns the channel with that name.
func (c *Config) Channel(name string) (Channel, bool) {
	for _, ch := range c.Channels {
		if ch.Name == name {
			return ch, true
		}
	}
	return Channel{}, false
}

// RedactedConfig returns the channel's config block with secrets hidden.
func (ch Channel) RedactedConfig() json.RawMessage {
	if ch.redacted == nil {
		return json.RawMessage("{}")
	}
	return ch.redacted
}
