package wire

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sdk "github.com/patchbayhq/patchbay/internal/wire/sdktypes"
	pb "github.com/patchbayhq/patchbay/proto/channel/v1"
)

// This file holds one function per message from SDK types to proto types.
// Each is the exact inverse of its namesake in fromproto.go; empty slices
// and maps travel as nothing and come back nil, zero times and durations
// travel as unset fields.

// ManifestToProto converts a manifest. The protocol version is always this
// SDK's, whatever m says.
func ManifestToProto(m sdk.Manifest) *pb.Manifest {
	fields := make([]*pb.ConfigField, 0, len(m.ConfigFields))
	for _, f := range m.ConfigFields {
		fields = append(fields, ConfigFieldToProto(f))
	}
	return &pb.Manifest{
		Kind:            m.Kind,
		Version:         m.Version,
		ProtocolVersion: sdk.ProtocolVersion,
		DisplayName:     m.DisplayName,
		Description:     m.Description,
		Capabilities:    CapabilitiesToProto(m.Capabilities),
		ConfigFields:    fields,
	}
}

// CapabilitiesToProto converts a channel's capabilities.
func CapabilitiesToProto(c sdk.Capabilities) *pb.Capabilities {
	return &pb.Capabilities{
		AttachmentsIn:      c.AttachmentsIn,
		AttachmentsOut:     c.AttachmentsOut,
		MaxAttachmentBytes: c.MaxAttachmentBytes,
		Threads:            c.Threads,
		Html:               c.HTML,
		ReplyWindow:        durationToProto(c.ReplyWindow),
		WebhookTimeout:     durationToProto(c.WebhookTimeout),
		Webhooks:           c.Webhooks,
	}
}

// ConfigFieldToProto converts one documented config key.
func ConfigFieldToProto(f sdk.ConfigField) *pb.ConfigField {
	return &pb.ConfigField{
		Name:        f.Name,
		Type:        f.Type,
		Required:    f.Required,
		Secret:      f.Secret,
		Description: f.Description,
		Default:     f.Default,
	}
}

// PolicyToProto converts an attachment policy.
func PolicyToProto(p sdk.AttachmentPolicy) *pb.AttachmentPolicy {
	return &pb.AttachmentPolicy{Allow: p.Allow, MaxBytes: p.MaxBytes}
}

// FieldErrorsToProto converts configuration field errors.
func FieldErrorsToProto(errs sdk.FieldErrors) []*pb.FieldError {
	if len(errs) == 0 {
		return nil
	}
	out := make([]*pb.FieldError, 0, len(errs))
	for _, e := range errs {
		out = append(out, &pb.FieldError{Field: e.Field, Message: e.Message})
	}
	return out
}

// HeaderToProto converts HTTP headers, sorted by name so that the encoding
// is deterministic. The values are shared with h, not copied; the entries
// come from one allocation (a webhook carries a dozen headers).
func HeaderToProto(h http.Header) []*pb.Header {
	if len(h) == 0 {
		return nil
	}
	entries := make([]pb.Header, len(h))
	out := make([]*pb.Header, 0, len(h))
	for name, values := range h {
		e := &entries[len(out)]
		e.Name, e.Values = name, values
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *pb.Header) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// WebhookRequestToProto converts a forwarded provider request.
func WebhookRequestToProto(r *sdk.WebhookRequest) *pb.WebhookRequest {
	return &pb.WebhookRequest{
		Method:     r.Method,
		Path:       r.Path,
		RawQuery:   r.RawQuery,
		Headers:    HeaderToProto(r.Header),
		Body:       r.Body,
		RemoteAddr: r.RemoteAddr,
	}
}

// WebhookResponseToProto converts the plugin's answer to the provider.
func WebhookResponseToProto(r *sdk.WebhookResponse) *pb.WebhookResponse {
	return &pb.WebhookResponse{
		Status:  int32(r.Status),
		Headers: HeaderToProto(r.Header),
		Body:    r.Body,
	}
}

// PartyToProto converts a person on the provider's side.
func PartyToProto(p sdk.Party) *pb.Party {
	return &pb.Party{
		ExternalId:   p.ExternalID,
		IdentityType: p.IdentityType,
		Name:         p.Name,
		Email:        p.Email,
		Phone:        p.Phone,
	}
}

// InboundToProto converts an inbound message whose attachments were staged
// as attachmentIDs (msg.Attachments themselves do not travel here).
func InboundToProto(m *sdk.InboundMessage, attachmentIDs []string) *pb.InboundMessage {
	var meta map[string]string
	if len(m.Metadata) > 0 {
		meta = m.Metadata
	}
	return &pb.InboundMessage{
		ExternalId:         m.ExternalID,
		ConversationKey:    m.ConversationKey,
		ReplyTo:            m.ReplyTo,
		Author:             PartyToProto(m.Author),
		Subject:            m.Subject,
		Text:               m.Text,
		Html:               m.HTML,
		SentAt:             timeToProto(m.SentAt),
		Raw:                m.Raw,
		RawContentType:     m.RawContentType,
		AttachmentIds:      attachmentIDs,
		TicketHint:         m.TicketHint,
		TicketHintVerified: m.TicketHintVerified,
		AutoSubmitted:      m.AutoSubmitted,
		Metadata:           meta,
		AuthorVerified:     m.AuthorVerified,
		HeaderThreading:    m.HeaderThreading,
		Cc:                 partiesToProto(m.CC),
	}
}

func partiesToProto(ps []sdk.Party) []*pb.Party {
	if len(ps) == 0 {
		return nil
	}
	out := make([]*pb.Party, len(ps))
	for i, p := range ps {
		out[i] = PartyToProto(p)
	}
	return out
}

// ReceiptToProto converts the core's answer to Deliver. Rejected files do
// not travel: the plugin side knows them from staging.
func ReceiptToProto(r *sdk.Receipt) *pb.DeliverResponse {
	return &pb.DeliverResponse{TicketId: r.TicketID, CommentId: r.CommentID, Duplicate: r.Duplicate}
}

// OutboundToProto converts a reply to send, with its idempotency key.
func OutboundToProto(m *sdk.OutboundMessage) *pb.SendRequest {
	refs := make([]*pb.AttachmentRef, 0, len(m.Attachments))
	for _, a := range m.Attachments {
		refs = append(refs, AttachmentRefToProto(a))
	}
	if len(refs) == 0 {
		refs = nil
	}
	return &pb.SendRequest{
		IdempotencyKey: m.IdempotencyKey,
		Message: &pb.OutboundMessage{
			TicketId:          m.TicketID,
			CommentId:         m.CommentID,
			ConversationKey:   m.ConversationKey,
			Recipient:         PartyToProto(m.Recipient),
			Subject:           m.Subject,
			Text:              m.Text,
			Html:              m.HTML,
			ThreadExternalIds: m.ThreadExternalIDs,
			LastInboundAt:     timeToProto(m.LastInboundAt),
			Attachments:       refs,
			Author:            PartyToProto(m.Author),
			AutoReply:         m.AutoReply,
		},
	}
}

// AttachmentRefToProto converts a stored attachment to its reference (id
// and metadata; the bytes stream separately).
func AttachmentRefToProto(a sdk.Attachment) *pb.AttachmentRef {
	return &pb.AttachmentRef{Id: a.ID, Filename: a.Filename, ContentType: a.ContentType, Size: a.Size}
}

// SendResultToProto converts a send outcome: a result, or a SendError.
func SendResultToProto(r *sdk.SendResult, e *sdk.SendError) *pb.SendResponse {
	out := &pb.SendResponse{}
	if r != nil {
		out.ExternalId = r.ExternalID
	}
	if e != nil {
		out.Error = SendErrorToProto(e)
	}
	return out
}

// SendErrorToProto converts a failed send. The wrapped Go error does not
// travel; its text does, as Message when Message is empty.
func SendErrorToProto(e *sdk.SendError) *pb.SendError {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	return &pb.SendError{
		Code:       e.Code,
		Message:    msg,
		Retryable:  e.Retryable,
		RetryAfter: durationToProto(e.RetryAfter),
	}
}

// DeliveryUpdateToProto converts a provider delivery receipt.
func DeliveryUpdateToProto(u sdk.DeliveryUpdate) *pb.UpdateDeliveryRequest {
	return &pb.UpdateDeliveryRequest{
		ExternalId: u.ExternalID,
		Status:     u.Status,
		Error:      u.Error,
		At:         timeToProto(u.At),
	}
}

// StatusToProto converts a connection state report.
func StatusToProto(s sdk.Status) *pb.ReportStatusRequest {
	return &pb.ReportStatusRequest{State: s.State, Message: s.Message}
}

// StagedHeaderToProto converts the header of an attachment upload.
func StagedHeaderToProto(h StagedHeader) *pb.AttachmentHeader {
	return &pb.AttachmentHeader{Filename: h.Filename, ContentType: h.ContentType, Size: h.Size, Sha256: h.SHA256, Raw: h.Raw}
}

// StagedToProto converts the outcome of an attachment upload.
func StagedToProto(s Staged) *pb.UploadAttachmentResponse {
	return &pb.UploadAttachmentResponse{Id: s.ID, Rejected: s.Rejected, Reason: s.Reason, Size: s.Size}
}

func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func durationToProto(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}
