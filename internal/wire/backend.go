package wire

import (
	"context"
	"io"

	sdk "github.com/patchbayhq/patchbay/internal/wire/sdktypes"
)

// StagedHeader describes one inbound attachment as the plugin announced it,
// before its bytes.
type StagedHeader struct {
	Filename    string
	ContentType string
	// SHA256 (hex) is optional. When set, the wire checks it as the bytes
	// arrive: the reader given to StageAttachment fails at the end of a
	// stream whose digest differs.
	SHA256 string
	// Size is -1 when unknown. When known, the reader fails on a stream
	// that is longer or shorter.
	Size int64
	// Raw marks the upload of a message's raw payload (sent as a stream
	// when it is too large to travel inside Deliver). The core keeps it as
	// the raw payload of the comment whose Deliver names its id, outside
	// the attachment policy; Filename is empty and ContentType is the
	// message's RawContentType.
	Raw bool
}

// Staged is the outcome of staging one attachment.
type Staged struct {
	// ID names the staged file in a following Deliver. A rejected file may
	// still have an ID, so that Deliver records it (name and reason) with
	// the message.
	ID string
	// Rejected is true when the core refused the file (type or size);
	// Reason says why, for people.
	Rejected bool
	Reason   string
	// Size is the number of bytes received.
	Size int64
}

// HostBackend is the core for one channel instance, as the Host gRPC server
// needs it. core/pluginhost adapts its multi-instance Backend to it.
//
// Errors wrapping sdk.ErrNotFound reach the plugin as not found; any other
// error reaches the plugin as an error with the same message, so do not put
// secrets in them.
type HostBackend interface {
	// StageAttachment reads one inbound file from r (which fails when the
	// stream breaks or does not match h.Size or h.SHA256) and stages it for
	// a following Deliver, or rejects it. It may stop reading early when it
	// rejects the file.
	StageAttachment(ctx context.Context, h StagedHeader, r io.Reader) (Staged, error)
	// Deliver commits one inbound message durably, with the staged
	// attachments, and answers. An error means nothing was stored; the
	// plugin's Host.Deliver returns an error and the plugin answers its
	// provider so that it retries.
	Deliver(ctx context.Context, msg *sdk.InboundMessage, attachmentIDs []string) (*sdk.Receipt, error)
	// UpdateDelivery records a provider receipt for a sent message.
	UpdateDelivery(ctx context.Context, u sdk.DeliveryUpdate) (found bool, err error)
	// OpenAttachment opens a stored attachment for streaming to the plugin.
	OpenAttachment(ctx context.Context, id string) (io.ReadCloser, error)
	// GetState, SetState and DeleteState keep the instance's small values.
	GetState(ctx context.Context, key string) (value []byte, found bool, err error)
	SetState(ctx context.Context, key string, value []byte) error
	DeleteState(ctx context.Context, key string) error
	// ReportStatus records the channel's connection state.
	ReportStatus(ctx context.Context, s sdk.Status) error
}
