// Package sdk is what a Patchbay channel plugin imports.
//
// A channel plugin connects one messaging provider (Slack, WhatsApp, LINE,
// email, or your own) to the Patchbay core. It is a separate program that
// the core starts, one process per channel instance, and talks to over gRPC;
// this package hides all of that. You write a type that implements Channel
// and a main that is one call:
//
//	func main() { sdk.Serve(&MyChannel{}) }
//
// Build it as patchbay-plugin-<kind> and put it in the core's plugin_dir.
//
// # Lifecycle
//
// The core calls Describe (your Manifest), then Configure with the instance's
// config block as JSON and a Host, then Start. From then on it calls
// HandleWebhook for every request to /hooks/<instance>/… and Send for every
// public reply, concurrently. Stop comes before the process ends. A plugin
// that crashes or stops answering is restarted and configured again.
//
// # Receiving: Host.Deliver
//
// Every received message goes to the core through Host.Deliver, which
// returns only after the core has stored it durably. Acknowledge the
// provider only after Deliver returned without error; when it fails, answer
// so that the provider retries (HTTP 503 to a webhook, SMTP 451). Deliver is
// idempotent on InboundMessage.ExternalID: a redelivered message is stored
// once and the receipt says Duplicate.
//
// Attachments stream to the core in 64 KiB chunks before the message; the
// core checks each against the channel's policy and lists refused files in
// Receipt.Rejected (the message is stored anyway).
//
// # Sending: Send and SendError
//
// Send delivers one reply and returns the provider's message id. Report a
// provider failure as a *SendError: Retryable (429, 5xx, network) makes the
// core try again with backoff (at least RetryAfter), Permanent marks the
// reply failed with its Code and Message shown to agents. Any other error is
// treated as retryable. IdempotencyKey is the same on every attempt for one
// reply. Outbound attachments stream from the core when you call their Open.
//
// # Configuration errors
//
// Configure reports invalid configuration as FieldErrors; the method
// ConfigureRequest.Decode produces them for unknown fields and wrong types.
// `patchbay validate` prints them. Never put a secret in an error or a log
// line.
//
// # Testing
//
// Package sdk/channeltest runs the contract suite against your channel, in
// process through the real gRPC boundary or as a built binary, with a fake
// core that records deliveries and can be told to fail.
package sdk
