// Package sdktypes defines the plain Go types of the Patchbay plugin contract.
//
// Plugin authors use them through package sdk, which declares every name
// here as an alias (sdk.Channel is sdktypes.Channel). They live in this
// leaf package so that both the SDK (sdk.Serve) and the wire shims in
// internal/wire, which the SDK imports, can name them without an import
// cycle. Read the documentation of package sdk first.
package sdktypes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
)

// ProtocolVersion is the version of the plugin protocol this SDK speaks. The
// core refuses plugins built for another version at the handshake.
// Version 2 carries HandleWebhook and Deliver on long-lived multiplexed
// streams (Channel.Webhooks, Host.Deliveries) instead of one RPC per call.
const ProtocolVersion = 2

// Channel is what a plugin author implements: one messaging channel
// (Slack, WhatsApp, email…). One plugin process serves one channel instance.
//
// The host calls Describe first, then Configure, then Start. HandleWebhook
// and Send may be called concurrently from many goroutines once Configure
// succeeded. Stop is called before the process is ended.
type Channel interface {
	// Describe returns the plugin's manifest. It must not depend on
	// configuration.
	Describe(ctx context.Context) (Manifest, error)
	// Configure validates and applies the instance configuration. Invalid
	// configuration is reported by returning FieldErrors (possibly wrapped);
	// any other error is an internal failure.
	Configure(ctx context.Context, req ConfigureRequest) error
	// Start begins long-running receivers (Socket Mode, SMTP, IMAP polling).
	// It must return once they are running; they run until Stop. ctx bounds
	// Start itself only: do not tie the receivers' lifetime to it.
	Start(ctx context.Context) error
	// Stop ends the receivers and waits for in-flight work to finish.
	Stop(ctx context.Context) error
	// HandleWebhook answers one provider HTTP request forwarded by the core
	// from /hooks/<instance>/…. A handler that stores messages calls
	// Host.Deliver before it answers, and answers 5xx when Deliver fails so
	// that the provider retries.
	HandleWebhook(ctx context.Context, req *WebhookRequest) (*WebhookResponse, error)
	// Send delivers one public reply to the provider. A failure is reported
	// as a *SendError (see Retryable and Permanent) so the core knows whether
	// to retry. Send is called at least once per reply; IdempotencyKey is the
	// same on every attempt for one reply.
	Send(ctx context.Context, msg *OutboundMessage) (*SendResult, error)
}

// Manifest describes a plugin to the core and to operators.
type Manifest struct {
	Kind    string // e.g. "slack"; the plugin binary is patchbay-plugin-<kind>
	Version string // the plugin's own version
	// ProtocolVersion is the plugin protocol the plugin speaks. The SDK
	// fills it in (with ProtocolVersion) on the way out; leave it zero.
	ProtocolVersion int
	DisplayName     string
	Description     string
	Capabilities    Capabilities
	ConfigFields    []ConfigField
}

// Capabilities says what a channel can carry.
type Capabilities struct {
	AttachmentsIn      bool
	AttachmentsOut     bool
	MaxAttachmentBytes int64
	Threads            bool
	HTML               bool
	// ReplyWindow is how long after the customer's last message a free-form
	// reply may be sent (WhatsApp: 24h). Zero means no window.
	ReplyWindow time.Duration
	// Webhooks is true when the channel receives provider webhooks on
	// /hooks/<instance>.
	Webhooks bool
	// WebhookTimeout is how long the provider waits for a webhook answer
	// (Slack: 3 s). When the plugin has not answered by then — it hangs, or
	// Deliver is stuck — the core answers 503 with Retry-After itself, so
	// the provider retries instead of waiting on a dead connection. Zero
	// means the core's default (10 s).
	WebhookTimeout time.Duration
}

// ConfigField documents one key of the channel's config block.
type ConfigField struct {
	Name        string
	Type        string // "string", "bool", "int", "duration", "object", "list"
	Required    bool
	Secret      bool // never logged, never returned by the API
	Description string
	Default     string
}

// ConfigureRequest carries an instance's configuration.
type ConfigureRequest struct {
	// Instance is the channel instance name (the `channel "<name>"` label).
	Instance string
	// Config is the channel's config block, as JSON.
	Config json.RawMessage
	// Host is the way back to the core, for this instance only.
	Host Host
	// Attachments is the channel's attachment policy, enforced by the core;
	// a plugin may use it to skip downloads that would be rejected anyway.
	Attachments AttachmentPolicy
	// PublicURL is the external base URL of /hooks/<instance>, when the
	// operator configured one.
	PublicURL string
	// Logger writes to the core's log, tagged with the instance name.
	Logger hclog.Logger
}

// Decode unmarshals the config JSON into v, rejecting unknown fields, and
// turns type errors into FieldErrors.
func (r ConfigureRequest) Decode(v any) error {
	dec := json.NewDecoder(bytes.NewReader(r.Config))
	dec.DisallowUnknownFields()
	if len(r.Config) == 0 {
		return nil
	}
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return FieldErrors{{Field: te.Field, Message: fmt.Sprintf("must be a %s", te.Type)}}
		}
		if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
			return FieldErrors{{Field: strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`), Message: "unknown field"}}
		}
		return FieldErrors{{Field: "", Message: err.Error()}}
	}
	if dec.More() {
		return FieldErrors{{Field: "", Message: "unexpected data after the configuration object"}}
	}
	return nil
}

// AttachmentPolicy is the channel's attachment allowlist and size limit.
type AttachmentPolicy struct {
	Allow    []string // lower-case extensions with the dot, e.g. ".pdf"
	MaxBytes int64
}

// Allows reports whether a file of that name and size passes the policy. The
// core checks again; this is an optimisation for plugins.
func (p AttachmentPolicy) Allows(filename string, size int64) bool {
	if p.MaxBytes > 0 && size > p.MaxBytes {
		return false
	}
	if len(p.Allow) == 0 {
		return true
	}
	name := strings.ToLower(filename)
	for _, ext := range p.Allow {
		if strings.HasSuffix(name, strings.ToLower(ext)) {
			return true
		}
	}
	return false
}

// FieldError is one invalid configuration field.
type FieldError struct {
	Field   string
	Message string
}

// FieldErrors is returned by Configure when the configuration is invalid.
type FieldErrors []FieldError

// Error lists every field error in one line.
func (e FieldErrors) Error() string {
	parts := make([]string, 0, len(e))
	for _, f := range e {
		if f.Field == "" {
			parts = append(parts, f.Message)
			continue
		}
		parts = append(parts, f.Field+": "+f.Message)
	}
	return "invalid configuration: " + strings.Join(parts, "; ")
}

// WebhookRequest is one provider HTTP request.
type WebhookRequest struct {
	Method     string
	Path       string // the part after /hooks/<instance>; "/" at least
	RawQuery   string
	Header     http.Header
	Body       []byte
	RemoteAddr string
}

// WebhookResponse is the answer to the provider.
type WebhookResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// ErrNotFound is wrapped by Host calls that name something the core does
// not have (an attachment id). Check it with errors.Is.
var ErrNotFound = errors.New("not found")

// Party is a person on the provider's side: the author of an inbound message
// or the recipient of a reply.
type Party struct {
	// ExternalID is the provider's id of the person: the identity value
	// (lower-cased email address, "T123:U456", WhatsApp id, LINE user id).
	ExternalID string
	// IdentityType is the identity kind ("email", "slack", "whatsapp",
	// "line"…); empty means the plugin's kind.
	IdentityType string
	Name         string
	Email        string
	Phone        string
}

// InboundMessage is one message received from the provider.
type InboundMessage struct {
	// ExternalID is the provider's message id; the core stores one comment
	// per (instance, ExternalID) however often it is delivered.
	ExternalID string
	// ConversationKey groups messages into one conversation (Slack IM
	// channel, WhatsApp user, LINE user, email thread root).
	ConversationKey string
	// ReplyTo lists provider message ids this message answers (email
	// In-Reply-To and References); any one known to the core threads it.
	ReplyTo []string
	Author  Party
	Subject string
	Text    string
	HTML    string
	// SentAt is the provider's own timestamp: when the provider received
	// the message, not a time its sender wrote (email uses the time of
	// receipt, not the Date header). Zero, or more than 5 minutes in the
	// future, means the time the core receives it.
	SentAt time.Time
	// Raw is the raw provider payload, kept for audit and retrievable
	// through the API. Any size the channel accepts is kept: the SDK streams
	// a large one to the core like an attachment and the core stores it in
	// chunks.
	Raw            []byte
	RawContentType string
	Attachments    []Attachment
	// TicketHint names a ticket the message refers to (email subject token
	// or signed plus-address). A verified hint (the plugin checked a
	// signature) threads the message; an unverified one only when the
	// author is the ticket's requester.
	TicketHint         uint64
	TicketHintVerified bool
	// AutoSubmitted marks automatic mail (RFC 3834) or bot messages: it is
	// stored but never answered automatically.
	AutoSubmitted bool
	// Metadata is free-form provider data shown with the comment.
	Metadata map[string]string
	// AuthorVerified says the channel authenticated Author: the provider
	// signed the webhook or socket event that named them (Slack, WhatsApp,
	// LINE), or, for email, a trusted relay reported a DKIM, SPF or DMARC
	// pass aligned with the From domain. The core lets only a verified
	// author write as an agent or administrator; an unverified message
	// whose author is one becomes an internal note marked as from an
	// unverified sender.
	AuthorVerified bool
	// HeaderThreading says ReplyTo and ConversationKey come from content
	// the sender wrote (email Message-ID, In-Reply-To, References), not from
	// the provider. The core then threads the message into an existing
	// ticket as a public comment only when its author is the ticket's
	// requester or a participant (someone with an earlier public comment on
	// it), or when TicketHintVerified names that ticket; anyone else's
	// message is added as an internal note marked as from an unverified
	// sender.
	HeaderThreading bool
	// CC lists the people the author copied (email To and Cc addresses
	// other than the channel's own). When the message speaks publicly on
	// its ticket (it opens it, or comes from the requester or a
	// participant), the core records them as the ticket's participants
	// (end users, created when new), so their own replies in the thread are
	// public comments too. Agents and administrators are never recorded.
	CC []Party
}

// Attachment is a file travelling with a message. Open is called when the
// file is streamed, possibly more than once (a retried Deliver).
type Attachment struct {
	// ID is the core's id of a stored attachment (set on outbound files).
	ID          string
	Filename    string
	ContentType string
	Size        int64 // -1 when unknown
	// SHA256 (hex) is checked by the core when set.
	SHA256 string
	Open   func(ctx context.Context) (io.ReadCloser, error)
}

// BytesAttachment returns an attachment whose content is in memory.
func BytesAttachment(filename, contentType string, data []byte) Attachment {
	return Attachment{
		Filename:    filename,
		ContentType: contentType,
		Size:        int64(len(data)),
		Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		},
	}
}

// Receipt is the core's answer to Deliver: the message is durable.
type Receipt struct {
	TicketID  uint64
	CommentID uint64
	// Duplicate is true when the message had been delivered before; the
	// receipt then names the existing comment.
	Duplicate bool
	// Rejected lists attachments the core refused (type or size), with the
	// reason; the message itself was stored.
	Rejected []RejectedAttachment
}

// RejectedAttachment names a refused file.
type RejectedAttachment struct {
	Filename string
	Reason   string
}

// OutboundMessage is one public reply to send.
type OutboundMessage struct {
	// IdempotencyKey is the same on every attempt for one reply; pass it to
	// the provider where it supports one (LINE X-Line-Retry-Key).
	IdempotencyKey  string
	TicketID        uint64
	CommentID       uint64
	ConversationKey string
	Recipient       Party
	Subject         string
	Text            string
	HTML            string
	// ThreadExternalIDs are the provider ids of the ticket's messages, oldest
	// first (email References).
	ThreadExternalIDs []string
	// LastInboundAt is when the customer last wrote in this conversation
	// (WhatsApp's 24-hour window); zero when unknown.
	LastInboundAt time.Time
	Attachments   []Attachment
	// Author is the agent who wrote the reply.
	Author Party
	// AutoReply marks a message sent by rules rather than by a person.
	AutoReply bool
}

// SendResult is a successful send.
type SendResult struct {
	// ExternalID is the provider's id of the sent message.
	ExternalID string
}

// SendError is a failed send. Retryable errors are retried by the core with
// backoff (at least RetryAfter when set); others mark the reply failed with
// Code and Message shown to agents.
type SendError struct {
	Code       string
	Message    string
	Retryable  bool
	RetryAfter time.Duration
	Err        error
}

// Error returns "code: message".
func (e *SendError) Error() string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Code != "" {
		return e.Code + ": " + msg
	}
	return msg
}

// Unwrap returns the underlying error, if any.
func (e *SendError) Unwrap() error { return e.Err }

// Retryable returns a SendError the core will retry, after at least
// retryAfter when it is positive.
func Retryable(code string, err error, retryAfter time.Duration) *SendError {
	return &SendError{Code: code, Message: errString(err), Retryable: true, RetryAfter: retryAfter, Err: err}
}

// Permanent returns a SendError the core will not retry.
func Permanent(code string, err error) *SendError {
	return &SendError{Code: code, Message: errString(err), Err: err}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// DeliveryUpdate is a provider receipt for a sent message (WhatsApp statuses).
type DeliveryUpdate struct {
	ExternalID string
	Status     string // "sent", "delivered", "read", "failed"
	Error      string
	At         time.Time
}

// Status is the channel's connection state, shown in GET /api/v1/channels.
type Status struct {
	State   string // "connected", "auth_failed", "degraded", "disconnected"
	Message string
}

// Connection states reported with Host.ReportStatus.
const (
	StateConnected    = "connected"
	StateAuthFailed   = "auth_failed"
	StateDegraded     = "degraded"
	StateDisconnected = "disconnected"
)

// Host is the core, as seen by one plugin instance. Every call is scoped to
// that instance.
type Host interface {
	// Deliver stores an inbound message durably and returns only after the
	// core's synced commit. Attachments are streamed first. An error means
	// nothing was stored: answer the provider so that it retries.
	Deliver(ctx context.Context, msg *InboundMessage) (*Receipt, error)
	// UpdateDelivery records a delivery receipt for an outbound message
	// identified by its provider id. found is false for an unknown id.
	UpdateDelivery(ctx context.Context, u DeliveryUpdate) (found bool, err error)
	// OpenAttachment streams a stored attachment (for outbound files).
	OpenAttachment(ctx context.Context, id string) (io.ReadCloser, error)
	// GetState, SetState and DeleteState keep small per-instance values
	// (IMAP UIDs, cursors) durably in the core.
	GetState(ctx context.Context, key string) (value []byte, found bool, err error)
	SetState(ctx context.Context, key string, value []byte) error
	DeleteState(ctx context.Context, key string) error
	// ReportStatus tells the core the channel's connection state.
	ReportStatus(ctx context.Context, s Status) error
}
