package sdk

import (
	"time"

	"github.com/patchbayhq/patchbay/internal/wire/sdktypes"
)

// The contract's types are defined in internal/wire/sdktypes so that the
// SDK and the wire shims it imports can share them without an import cycle.
// Every name below is an alias: sdk.Channel and sdktypes.Channel are the same
// type. Field documentation is on the definitions (your editor shows it;
// `go doc github.com/patchbayhq/patchbay/internal/wire/sdktypes` prints it).

// ProtocolVersion is the version of the plugin protocol this SDK speaks. The
// core refuses plugins built for another version at the handshake.
const ProtocolVersion = sdktypes.ProtocolVersion

// Channel is what a plugin author implements: one messaging channel
// (Slack, WhatsApp, email…). One plugin process serves one channel instance.
//
// The host calls Describe first, then Configure, then Start. HandleWebhook
// and Send may be called concurrently from many goroutines once Configure
// succeeded. Stop is called before the process is ended.
//
//   - Describe(ctx) (Manifest, error): the manifest; must not depend on configuration.
//   - Configure(ctx, ConfigureRequest) error: validate and apply; invalid
//     configuration is reported as FieldErrors.
//   - Start(ctx) error: begin long-running receivers; return once running.
//   - Stop(ctx) error: end them and wait for in-flight work.
//   - HandleWebhook(ctx, *WebhookRequest) (*WebhookResponse, error): answer
//     one provider request; call Host.Deliver before answering and answer
//     5xx when it fails.
//   - Send(ctx, *OutboundMessage) (*SendResult, error): deliver one public
//     reply; report failures as *SendError.
type Channel = sdktypes.Channel

// Host is the core, as seen by one plugin instance; every call is scoped to
// that instance. It arrives in ConfigureRequest.Host.
//
//   - Deliver stores an inbound message durably (attachments streamed first)
//     and returns after the core's synced commit. An error means nothing was
//     stored: answer the provider so that it retries.
//   - UpdateDelivery records a provider receipt for a sent message.
//   - OpenAttachment streams a stored attachment (outbound files); an unknown
//     id gives an error wrapping ErrNotFound.
//   - GetState, SetState, DeleteState keep small per-instance values.
//   - ReportStatus sets the connection state shown to operators.
type Host = sdktypes.Host

// Manifest describes a plugin to the core and to operators.
type Manifest = sdktypes.Manifest

// Capabilities says what a channel can carry.
type Capabilities = sdktypes.Capabilities

// ConfigField documents one key of the channel's config block.
type ConfigField = sdktypes.ConfigField

// ConfigureRequest carries an instance's configuration: instance name,
// config JSON (use its Decode method), the Host, the attachment policy, the
// public URL of /hooks/<instance> and a logger.
type ConfigureRequest = sdktypes.ConfigureRequest

// AttachmentPolicy is the channel's attachment allowlist and size limit,
// enforced by the core.
type AttachmentPolicy = sdktypes.AttachmentPolicy

// FieldError is one invalid configuration field.
type FieldError = sdktypes.FieldError

// FieldErrors is returned by Configure when the configuration is invalid.
type FieldErrors = sdktypes.FieldErrors

// WebhookRequest is one provider HTTP request forwarded by the core.
type WebhookRequest = sdktypes.WebhookRequest

// WebhookResponse is the answer to the provider.
type WebhookResponse = sdktypes.WebhookResponse

// Party is a person on the provider's side: the author of an inbound message
// or the recipient of a reply.
type Party = sdktypes.Party

// InboundMessage is one message received from the provider.
type InboundMessage = sdktypes.InboundMessage

// Attachment is a file travelling with a message. Open is called when the
// file is streamed, possibly more than once (a retried Deliver).
type Attachment = sdktypes.Attachment

// Receipt is the core's answer to Deliver: the message is durable.
type Receipt = sdktypes.Receipt

// RejectedAttachment names a file the core refused, with the reason.
type RejectedAttachment = sdktypes.RejectedAttachment

// OutboundMessage is one public reply to send.
type OutboundMessage = sdktypes.OutboundMessage

// SendResult is a successful send.
type SendResult = sdktypes.SendResult

// SendError is a failed send. Retryable errors are retried by the core with
// backoff (at least RetryAfter when set); others mark the reply failed with
// Code and Message shown to agents.
type SendError = sdktypes.SendError

// DeliveryUpdate is a provider receipt for a sent message (WhatsApp statuses).
type DeliveryUpdate = sdktypes.DeliveryUpdate

// Status is the channel's connection state, shown in GET /api/v1/channels.
type Status = sdktypes.Status

// Connection states reported with Host.ReportStatus.
const (
	StateConnected    = sdktypes.StateConnected
	StateAuthFailed   = sdktypes.StateAuthFailed
	StateDegraded     = sdktypes.StateDegraded
	StateDisconnected = sdktypes.StateDisconnected
)

// ErrNotFound is wrapped by Host calls that name something the core does not
// have (an attachment id). Check it with errors.Is.
var ErrNotFound = sdktypes.ErrNotFound

// BytesAttachment returns an attachment whose content is in memory.
func BytesAttachment(filename, contentType string, data []byte) Attachment {
	return sdktypes.BytesAttachment(filename, contentType, data)
}

// Retryable returns a SendError the core will retry, after at least
// retryAfter when it is positive.
func Retryable(code string, err error, retryAfter time.Duration) *SendError {
	return sdktypes.Retryable(code, err, retryAfter)
}

// Permanent returns a SendError the core will not retry.
func Permanent(code string, err error) *SendError {
	return sdktypes.Permanent(code, err)
}
