package pluginhost

import (
	"encoding/json"

	"github.com/patchbayhq/patchbay/sdk"
)

// defaultMaxWebhookBytes caps a webhook request body when
// Options.MaxWebhookBytes is zero.
const defaultMaxWebhookBytes = 1 << 20

// defaultMaxWebhookInFlight caps the webhook requests of one channel being
// read or handled at once when Options.MaxWebhookInFlight is zero.
const defaultMaxWebhookInFlight = 128

// Options is what a Manager (and Validate) needs to run plugins: the
// channel instances and the few host settings that shape them. The command
// fills it from the operator's configuration file (core/cmd/patchbay), so
// the file's schema and the plugin host change independently.
type Options struct {
	// PluginDir holds the patchbay-plugin-<kind> binaries.
	PluginDir string
	// PublicURL is the server's external base URL; a channel's webhook URL,
	// given to its plugin, is PublicURL/hooks/<name>. Empty: unknown, the
	// plugin gets no public URL.
	PublicURL string
	// MaxWebhookBytes caps a webhook request body (default 1 MiB); a longer one is refused with 413.
	MaxWebhookBytes int64
	// MaxWebhookInFlight caps one channel's webhook requests being read or
	// handled at once (default 128).
	MaxWebhookInFlight int
	// Channels are the instances to run, one plugin process each; names
	// must be unique.
	Channels []Channel
}

// Channel is one channel instance: which plugin runs it and the
// configuration the plugin gets.
type Channel struct {
	// Name is the instance name: /hooks/<name>, ticket.channel.
	Name string
	// Plugin is the plugin kind; the binary is patchbay-plugin-<kind> in
	// Options.PluginDir unless Command is set.
	Plugin string
	// Command is an explicit path to the plugin binary; empty: by kind.
	Command string
	// SHA256 pins the plugin binary's checksum (lower-case hex); empty: no
	// pin.
	SHA256 string
	// Brand is the brand tickets of this channel belong to.
	Brand string
	// Attachments is the inbound attachment allowlist and size limit the
	// plugin is configured with.
	Attachments sdk.AttachmentPolicy
	// Config is the plugin's configuration, a JSON object.
	Config json.RawMessage
	// SecretValues returns the channel's secret values: those the
	// configuration file marks secret plus every string under the named
	// config fields (those the plugin's manifest marks secret). The host
	// hands them to the secret sink (WithSecretSink). Nil: none.
	SecretValues func(secretFields ...string) []string
	// Redact returns s without the channel's secret values (as
	// SecretValues, with the named fields). The host applies it to every
	// text from the plugin it shows operators. Nil: s unchanged.
	Redact func(s string, secretFields ...string) string
}

// secretValues is SecretValues, or nothing when unset.
func (c Channel) secretValues(secretFields ...string) []string {
	if c.SecretValues == nil {
		return nil
	}
	return c.SecretValues(secretFields...)
}

// redact is Redact, or s unchanged when unset.
func (c Channel) redact(s string, secretFields ...string) string {
	if c.Redact == nil {
		return s
	}
	return c.Redact(s, secretFields...)
}

// webhookURL is the public URL of channel name's webhooks, or "".
func (o Options) webhookURL(name string) string {
	if o.PublicURL == "" {
		return ""
	}
	return o.PublicURL + "/hooks/" + name
}
