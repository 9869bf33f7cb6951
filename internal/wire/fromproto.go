package wire

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sdk "github.com/patchbayhq/patchbay/internal/wire/sdktypes"
	pb "github.com/patchbayhq/patchbay/proto/channel/v1"
)

// This file holds one function per message from proto types to SDK types,
// each the inverse of its namesake in toproto.go. A nil message converts to
// the zero value.

// Opener opens a stored attachment by id; it gives outbound attachments
// their Open function.
type Opener func(ctx context.Context, id string) (io.ReadCloser, error)

// ManifestFromProto converts a manifest, keeping the protocol version the
// plugin announced.
func ManifestFromProto(p *pb.Manifest) sdk.Manifest {
	if p == nil {
		return sdk.Manifest{}
	}
	var fields []sdk.ConfigField
	for _, f := range p.GetConfigFields() {
		fields = append(fields, ConfigFieldFromProto(f))
	}
	return sdk.Manifest{
		Kind:            p.GetKind(),
		Version:         p.GetVersion(),
		ProtocolVersion: int(p.GetProtocolVersion()),
		DisplayName:     p.GetDisplayName(),
		Description:     p.GetDescription(),
		Capabilities:    CapabilitiesFromProto(p.GetCapabilities()),
		ConfigFields:    fields,
	}
}

// CapabilitiesFromProto converts a channel's capabilities.
func CapabilitiesFromProto(p *pb.Capabilities) sdk.Capabilities {
	return sdk.Capabilities{
		AttachmentsIn:      p.GetAttachmentsIn(),
		AttachmentsOut:     p.GetAttachmentsOut(),
		MaxAttachmentBytes: p.GetMaxAttachmentBytes(),
		Threads:            p.GetThreads(),
		HTML:               p.GetHtml(),
		ReplyWindow:        durationFromProto(p.GetReplyWindow()),
		WebhookTimeout:     durationFromProto(p.GetWebhookTimeout()),
		Webhooks:           p.GetWebhooks(),
	}
}

// ConfigFieldFromProto converts one documented config key.
func ConfigFieldFromProto(p *pb.ConfigField) sdk.ConfigField {
	return sdk.ConfigField{
		Name:        p.GetName(),
		Type:        p.GetType(),
		Required:    p.GetRequired(),
		Secret:      p.GetSecret(),
		Description: p.GetDescription(),
		Default:     p.GetDefault(),
	}
}

// PolicyFromProto converts an attachment policy.
func PolicyFromProto(p *pb.AttachmentPolicy) sdk.AttachmentPolicy {
	return sdk.AttachmentPolicy{Allow: nilIfEmpty(p.GetAllow()), MaxBytes: p.GetMaxBytes()}
}

// FieldErrorsFromProto converts configuration field errors; none gives nil.
func FieldErrorsFromProto(p []*pb.FieldError) sdk.FieldErrors {
	if len(p) == 0 {
		return nil
	}
	out := make(sdk.FieldErrors, 0, len(p))
	for _, e := range p {
		out = append(out, sdk.FieldError{Field: e.GetField(), Message: e.GetMessage()})
	}
	return out
}

// HeaderFromProto converts HTTP headers; names are kept as sent (the host
// sends them canonical, as net/http parsed them).
func HeaderFromProto(p []*pb.Header) http.Header {
	if len(p) == 0 {
		return nil
	}
	h := make(http.Header, len(p))
	for _, e := range p {
		// The values slice of a decoded message is not used elsewhere:
		// keep it rather than copy it. A repeated name (not sent by this
		// package) appends to a fresh slice.
		if prev, ok := h[e.GetName()]; ok {
			h[e.GetName()] = append(slices.Clip(prev), e.GetValues()...)
			continue
		}
		h[e.GetName()] = e.GetValues()
	}
	return h
}

// WebhookRequestFromProto converts a forwarded provider request.
func WebhookRequestFromProto(p *pb.WebhookRequest) *sdk.WebhookRequest {
	return &sdk.WebhookRequest{
		Method:     p.GetMethod(),
		Path:       p.GetPath(),
		RawQuery:   p.GetRawQuery(),
		Header:     HeaderFromProto(p.GetHeaders()),
		Body:       nilIfEmpty(p.GetBody()),
		RemoteAddr: p.GetRemoteAddr(),
	}
}

// WebhookResponseFromProto converts the plugin's answer to the provider.
func WebhookResponseFromProto(p *pb.WebhookResponse) *sdk.WebhookResponse {
	return &sdk.WebhookResponse{
		Status: int(p.GetStatus()),
		Header: HeaderFromProto(p.GetHeaders()),
		Body:   nilIfEmpty(p.GetBody()),
	}
}

// PartyFromProto converts a person on the provider's side.
func PartyFromProto(p *pb.Party) sdk.Party {
	return sdk.Party{
		ExternalID:   p.GetExternalId(),
		IdentityType: p.GetIdentityType(),
		Name:         p.GetName(),
		Email:        p.GetEmail(),
		Phone:        p.GetPhone(),
	}
}

// InboundFromProto converts an inbound message and returns the staged
// attachment ids it references (msg.Attachments stays nil).
func InboundFromProto(p *pb.InboundMessage) (*sdk.InboundMessage, []string) {
	var meta map[string]string
	if len(p.GetMetadata()) > 0 {
		meta = p.GetMetadata()
	}
	return &sdk.InboundMessage{
		ExternalID:         p.GetExternalId(),
		ConversationKey:    p.GetConversationKey(),
		ReplyTo:            nilIfEmpty(p.GetReplyTo()),
		Author:             PartyFromProto(p.GetAuthor()),
		Subject:            p.GetSubject(),
		Text:               p.GetText(),
		HTML:               p.GetHtml(),
		SentAt:             timeFromProto(p.GetSentAt()),
		Raw:                nilIfEmpty(p.GetRaw()),
		RawContentType:     p.GetRawContentType(),
		TicketHint:         p.GetTicketHint(),
		TicketHintVerified: p.GetTicketHintVerified(),
		AutoSubmitted:      p.GetAutoSubmitted(),
		Metadata:           meta,
		AuthorVerified:     p.GetAuthorVerified(),
		HeaderThreading:    p.GetHeaderThreading(),
		CC:                 partiesFromProto(p.GetCc()),
	}, nilIfEmpty(p.GetAttachmentIds())
}

// ReceiptFromProto converts the core's answer to Deliver (Rejected is
// filled by the caller from the staging results).
func ReceiptFromProto(p *pb.DeliverResponse) *sdk.Receipt {
	return &sdk.Receipt{TicketID: p.GetTicketId(), CommentID: p.GetCommentId(), Duplicate: p.GetDuplicate()}
}

// OutboundFromProto converts a reply to send. Its attachments get an Open
// that streams them through open.
func OutboundFromProto(p *pb.SendRequest, open Opener) *sdk.OutboundMessage {
	m := p.GetMessage()
	var atts []sdk.Attachment
	for _, ref := range m.GetAttachments() {
		atts = append(atts, AttachmentRefFromProto(ref, open))
	}
	return &sdk.OutboundMessage{
		IdempotencyKey:    p.GetIdempotencyKey(),
		TicketID:          m.GetTicketId(),
		CommentID:         m.GetCommentId(),
		ConversationKey:   m.GetConversationKey(),
		Recipient:         PartyFromProto(m.GetRecipient()),
		Subject:           m.GetSubject(),
		Text:              m.GetText(),
		HTML:              m.GetHtml(),
		ThreadExternalIDs: nilIfEmpty(m.GetThreadExternalIds()),
		LastInboundAt:     timeFromProto(m.GetLastInboundAt()),
		Attachments:       atts,
		Author:            PartyFromProto(m.GetAuthor()),
		AutoReply:         m.GetAutoReply(),
	}
}

// errNoOpener is returned by Open of an attachment received without a way
// to stream it (no Host yet).
var errNoOpener = errors.New("attachment cannot be opened: the channel has no host connection")

// AttachmentRefFromProto converts an attachment reference; Open streams the
// file through open.
func AttachmentRefFromProto(p *pb.AttachmentRef, open Opener) sdk.Attachment {
	id := p.GetId()
	return sdk.Attachment{
		ID:          id,
		Filename:    p.GetFilename(),
		ContentType: p.GetContentType(),
		Size:        p.GetSize(),
		Open: func(ctx context.Context) (io.ReadCloser, error) {
			if open == nil {
				return nil, errNoOpener
			}
			return open(ctx, id)
		},
	}
}

// SendResultFromProto converts a send outcome. A failed send gives a nil
// result and a *sdk.SendError.
func SendResultFromProto(p *pb.SendResponse) (*sdk.SendResult, *sdk.SendError) {
	if p.GetError() != nil {
		return nil, SendErrorFromProto(p.GetError())
	}
	return &sdk.SendResult{ExternalID: p.GetExternalId()}, nil
}

// SendErrorFromProto converts a failed send.
func SendErrorFromProto(p *pb.SendError) *sdk.SendError {
	return &sdk.SendError{
		Code:       p.GetCode(),
		Message:    p.GetMessage(),
		Retryable:  p.GetRetryable(),
		RetryAfter: durationFromProto(p.GetRetryAfter()),
	}
}

// DeliveryUpdateFromProto converts a provider delivery receipt.
func DeliveryUpdateFromProto(p *pb.UpdateDeliveryRequest) sdk.DeliveryUpdate {
	return sdk.DeliveryUpdate{
		ExternalID: p.GetExternalId(),
		Status:     p.GetStatus(),
		Error:      p.GetError(),
		At:         timeFromProto(p.GetAt()),
	}
}

// StatusFromProto converts a connection state report.
func StatusFromProto(p *pb.ReportStatusRequest) sdk.Status {
	return sdk.Status{State: p.GetState(), Message: p.GetMessage()}
}

// StagedHeaderFromProto converts the header of an attachment upload.
func StagedHeaderFromProto(p *pb.AttachmentHeader) StagedHeader {
	return StagedHeader{Filename: p.GetFilename(), ContentType: p.GetContentType(), Size: p.GetSize(), SHA256: p.GetSha256(), Raw: p.GetRaw()}
}

// StagedFromProto converts the outcome of an attachment upload.
func StagedFromProto(p *pb.UploadAttachmentResponse) Staged {
	return Staged{ID: p.GetId(), Rejected: p.GetRejected(), Reason: p.GetReason(), Size: p.GetSize()}
}

func timeFromProto(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

func durationFromProto(d *durationpb.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.AsDuration()
}

func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}

func partiesFromProto(ps []*pb.Party) []sdk.Party {
	if len(ps) == 0 {
		return nil
	}
	out := make([]sdk.Party, len(ps))
	for i, p := range ps {
		out[i] = PartyFromProto(p)
	}
	return out
}
