package inbound

import (
	"context"
	"io"

	"github.com/patchbayhq/patchbay/sdk"
)

// backend is pluginhost.Backend as written in docs/ARCHITECTURE.md, with
// this package's StagedHeader/Staged standing in for the wire types: the
// compiler proves Service has exactly that method set.
type backend interface {
	StageAttachment(ctx context.Context, instance string, h StagedHeader, r io.Reader) (Staged, error)
	Deliver(ctx context.Context, instance string, msg *sdk.InboundMessage, attachmentIDs []string) (*sdk.Receipt, error)
	UpdateDelivery(ctx context.Context, instance string, u sdk.DeliveryUpdate) (bool, error)
	OpenAttachment(ctx context.Context, instance, id string) (io.ReadCloser, error)
	GetState(ctx context.Context, instance, key string) ([]byte, bool, error)
	SetState(ctx context.Context, instance, key string, value []byte) error
	DeleteState(ctx context.Context, instance, key string) error
}

var _ backend = (*Service)(nil)
