package pluginhost

import (
	"context"
	"errors"
	"io"

	"github.com/patchbayhq/patchbay/sdk"
)

// ErrNoBackend answers Host calls that need the store when a plugin runs
// without a core behind it (patchbay validate, patchbay plugins, or a
// Manager built with a nil Backend).
var ErrNoBackend = errors.New("the core's store is not available in this mode")

// hostBackend is the Host side of one instance: the Backend with the
// instance name bound, so a plugin can only ever reach its own instance,
// plus ReportStatus kept in memory.
type hostBackend struct {
	in *instance
}

func newHostBackend(in *instance) *hostBackend { return &hostBackend{in: in} }

func (h *hostBackend) backend() (Backend, error) {
	if h.in.backend == nil {
		return nil, ErrNoBackend
	}
	return h.in.backend, nil
}

// StageAttachment implements wire.HostBackend for this instance.
func (h *hostBackend) StageAttachment(ctx context.Context, hdr StagedHeader, r io.Reader) (Staged, error) {
	b, err := h.backend()
	if err != nil {
		return Staged{}, err
	}
	return b.StageAttachment(ctx, h.in.ch.Name, hdr, r)
}

// Deliver implements wire.HostBackend for this instance.
func (h *hostBackend) Deliver(ctx context.Context, msg *sdk.InboundMessage, attachmentIDs []string) (*sdk.Receipt, error) {
	b, err := h.backend()
	if err != nil {
		return nil, err
	}
	return b.Deliver(ctx, h.in.ch.Name, msg, attachmentIDs)
}

// UpdateDelivery implements wire.HostBackend for this instance.
func (h *hostBackend) UpdateDelivery(ctx context.Context, u sdk.DeliveryUpdate) (bool, error) {
	b, err := h.backend()
	if err != nil {
		return false, err
	}
	return b.UpdateDelivery(ctx, h.in.ch.Name, u)
}

// OpenAttachment implements wire.HostBackend for this instance.
func (h *hostBackend) OpenAttachment(ctx context.Context, id string) (io.ReadCloser, error) {
	b, err := h.backend()
	if err != nil {
		return nil, err
	}
	return b.OpenAttachment(ctx, h.in.ch.Name, id)
}

// GetState implements wire.HostBackend for this instance.
func (h *hostBackend) GetState(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := h.backend()
	if err != nil {
		return nil, false, err
	}
	return b.GetState(ctx, h.in.ch.Name, key)
}

// SetState implements wire.HostBackend for this instance.
func (h *hostBackend) SetState(ctx context.Context, key string, value []byte) error {
	b, err := h.backend()
	if err != nil {
		return err
	}
	return b.SetState(ctx, h.in.ch.Name, key, value)
}

// DeleteState implements wire.HostBackend for this instance.
func (h *hostBackend) DeleteState(ctx context.Context, key string) error {
	b, err := h.backend()
	if err != nil {
		return err
	}
	return b.DeleteState(ctx, h.in.ch.Name, key)
}

// ReportStatus implements wire.HostBackend for this instance.
func (h *hostBackend) ReportStatus(_ context.Context, s sdk.Status) error {
	// Log what was kept, never the message as the plugin sent it: it may
	// echo a secret (a provider's error quoting the token).
	kept := h.in.setStatus(s)
	h.in.logger.Info("plugin reported status", "state", kept.State, "message", kept.Message)
	return nil
}
