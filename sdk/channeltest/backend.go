package channeltest

import (
	"context"
	"fmt"
	"io"

	"github.com/patchbayhq/patchbay/internal/wire"
	"github.com/patchbayhq/patchbay/sdk"
)

// staged is an attachment received by UploadAttachment, waiting for the
// Deliver that references it.
type staged struct {
	file     File
	rejected string
}

// backend serves a FakeHost as the Host service, the way the core does:
// files are staged (checked against the policy) by UploadAttachment and
// picked up by Deliver.
type backend struct{ h *FakeHost }

var _ wire.HostBackend = backend{}

// StageAttachment implements wire.HostBackend for the fake host.
func (b backend) StageAttachment(ctx context.Context, hd wire.StagedHeader, r io.Reader) (wire.Staged, error) {
	h := b.h
	reason := h.check(hd.Filename, max(hd.Size, 0))
	var data []byte
	if reason == "" {
		limit := h.Policy().MaxBytes
		var err error
		if limit > 0 {
			data, err = io.ReadAll(io.LimitReader(r, limit+1))
		} else {
			data, err = io.ReadAll(r)
		}
		if err != nil {
			return wire.Staged{}, err
		}
		reason = h.check(hd.Filename, int64(len(data)))
		if reason != "" {
			data = nil
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextID++
	id := fmt.Sprintf("staged-%d", h.nextID)
	h.staged[id] = staged{file: File{Filename: hd.Filename, ContentType: hd.ContentType, Data: data}, rejected: reason}
	return wire.Staged{ID: id, Rejected: reason != "", Reason: reason, Size: int64(len(data))}, nil
}

// Deliver implements wire.HostBackend for the fake host.
func (b backend) Deliver(ctx context.Context, msg *sdk.InboundMessage, ids []string) (*sdk.Receipt, error) {
	h := b.h
	var files []File
	var rejected []sdk.RejectedAttachment
	h.mu.Lock()
	for _, id := range ids {
		s, ok := h.staged[id]
		if !ok {
			h.mu.Unlock()
			return nil, fmt.Errorf("channeltest: deliver: no staged attachment %q", id)
		}
		delete(h.staged, id)
		if s.rejected != "" {
			rejected = append(rejected, sdk.RejectedAttachment{Filename: s.file.Filename, Reason: s.rejected})
			continue
		}
		files = append(files, s.file)
	}
	h.mu.Unlock()
	return h.commit(msg, files, rejected)
}

// UpdateDelivery implements wire.HostBackend for the fake host.
func (b backend) UpdateDelivery(ctx context.Context, u sdk.DeliveryUpdate) (bool, error) {
	return b.h.UpdateDelivery(ctx, u)
}

// OpenAttachment implements wire.HostBackend for the fake host.
func (b backend) OpenAttachment(ctx context.Context, id string) (io.ReadCloser, error) {
	return b.h.OpenAttachment(ctx, id)
}

// GetState implements wire.HostBackend for the fake host.
func (b backend) GetState(ctx context.Context, key string) ([]byte, bool, error) {
	return b.h.GetState(ctx, key)
}

// SetState implements wire.HostBackend for the fake host.
func (b backend) SetState(ctx context.Context, key string, value []byte) error {
	return b.h.SetState(ctx, key, value)
}

// DeleteState implements wire.HostBackend for the fake host.
func (b backend) DeleteState(ctx context.Context, key string) error {
	return b.h.DeleteState(ctx, key)
}

// ReportStatus implements wire.HostBackend for the fake host.
func (b backend) ReportStatus(ctx context.Context, s sdk.Status) error {
	return b.h.ReportStatus(ctx, s)
}
