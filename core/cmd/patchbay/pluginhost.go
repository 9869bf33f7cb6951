package main

import (
	"slices"

	"github.com/patchbayhq/patchbay/config"
	"github.com/patchbayhq/patchbay/core/pluginhost"
	"github.com/patchbayhq/patchbay/sdk"
)

// pluginhostOptions is what the plugin host needs from the configuration
// file: the channels with their plugin, config and secrets, and the webhook
// settings. Only the command knows both shapes, so the file's schema and
// the plugin host change independently.
func pluginhostOptions(cfg *config.Config) pluginhost.Options {
	o := pluginhost.Options{
		PluginDir:          cfg.PluginDir,
		PublicURL:          cfg.HTTP.PublicURL,
		MaxWebhookBytes:    cfg.HTTP.MaxWebhookBytes,
		MaxWebhookInFlight: cfg.HTTP.MaxWebhookInFlight,
		Channels:           make([]pluginhost.Channel, 0, len(cfg.Channels)),
	}
	for _, ch := range cfg.Channels {
		o.Channels = append(o.Channels, pluginhost.Channel{
			Name:         ch.Name,
			Plugin:       ch.Plugin,
			Command:      ch.Command,
			SHA256:       ch.SHA256,
			Brand:        ch.Brand,
			Attachments:  attachmentPolicy(ch.Attachments),
			Config:       ch.Config,
			SecretValues: ch.SecretValues,
			Redact:       ch.Redact,
		})
	}
	return o
}

// attachmentPolicy is a channel's attachments block as the policy the
// plugins and the inbound pipeline apply.
func attachmentPolicy(p config.AttachmentPolicy) sdk.AttachmentPolicy {
	return sdk.AttachmentPolicy{Allow: slices.Clone(p.Allow), MaxBytes: p.MaxBytes}
}
