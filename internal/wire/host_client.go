package wire

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sdk "github.com/patchbayhq/patchbay/internal/wire/sdktypes"
	pb "github.com/patchbayhq/patchbay/proto/channel/v1"
)

// hostClient is the plugin's sdk.Host: the Host service the core serves
// back through the broker. A nil client (no host service) fails every call
// with ErrNoHost.
type hostClient struct {
	c       pb.HostClient
	deliver *muxClient[*pb.DeliverRequest, *pb.DeliverCall, *pb.DeliverResult]
}

var _ sdk.Host = (*hostClient)(nil)

// NewHostClient returns an sdk.Host that calls the Host service over c (nil:
// every call fails with ErrNoHost). Deliver calls share one long-lived
// stream (Host.Deliveries), opened on first use and reopened after it
// broke; the other calls are unary RPCs (attachments stream).
func NewHostClient(c pb.HostClient) sdk.Host {
	if c == nil {
		return &hostClient{}
	}
	return &hostClient{
		c: c,
		deliver: newMuxClient("deliver",
			func(ctx context.Context) (bidiClient[*pb.DeliverCall, *pb.DeliverResult], error) {
				return c.Deliveries(ctx)
			},
			func(id uint64, timeout int64, cancel bool, req *pb.DeliverRequest) *pb.DeliverCall {
				return &pb.DeliverCall{Id: id, TimeoutNanos: timeout, Cancel: cancel, Request: req}
			}),
	}
}

// Deliver streams each attachment with UploadAttachment, then calls Deliver
// with the staged ids. Files the core refused are listed in
// Receipt.Rejected; the message is stored without them.
func (h *hostClient) Deliver(ctx context.Context, msg *sdk.InboundMessage) (*sdk.Receipt, error) {
	if h.c == nil {
		return nil, ErrNoHost
	}
	if msg == nil {
		return nil, errors.New("deliver: nil message")
	}
	var ids []string
	var rejected []sdk.RejectedAttachment
	for i, a := range msg.Attachments {
		st, err := h.upload(ctx, a)
		if err != nil {
			return nil, fmt.Errorf("deliver: attachment %d (%q): %w", i, a.Filename, err)
		}
		if st.Rejected {
			rejected = append(rejected, sdk.RejectedAttachment{Filename: a.Filename, Reason: st.Reason})
		}
		if st.ID != "" {
			ids = append(ids, st.ID)
		}
	}
	pm := InboundToProto(msg, ids)
	if len(msg.Raw) > InlineRawBytes {
		// A large raw payload streams like an attachment (so no Deliver
		// frame carries megabytes, and none nears the gRPC message limit);
		// the core keeps it as the comment's raw payload.
		raw := sdk.BytesAttachment("", msg.RawContentType, msg.Raw)
		st, err := h.uploadAs(ctx, raw, true)
		if err != nil {
			return nil, fmt.Errorf("deliver: raw payload: %w", err)
		}
		pm.Raw = nil
		if st.ID != "" {
			pm.AttachmentIds = append(pm.AttachmentIds, st.ID)
		}
	}
	res, err := h.deliver.call(ctx, &pb.DeliverRequest{Message: pm})
	if err != nil {
		return nil, err
	}
	if res.GetResponse() == nil {
		return nil, &RemoteError{Op: "deliver", Status: status.New(codes.Internal, "the core sent a result without a receipt")}
	}
	r := ReceiptFromProto(res.GetResponse())
	r.Rejected = rejected
	return r, nil
}

// upload streams one attachment in ChunkSize chunks.
func (h *hostClient) upload(ctx context.Context, a sdk.Attachment) (Staged, error) {
	return h.uploadAs(ctx, a, false)
}

// uploadAs streams one attachment, or with raw the message's raw payload.
func (h *hostClient) uploadAs(ctx context.Context, a sdk.Attachment, raw bool) (Staged, error) {
	if a.Open == nil {
		return Staged{}, errors.New("attachment has no Open function")
	}
	rc, err := a.Open(ctx)
	if err != nil {
		return Staged{}, fmt.Errorf("open: %w", err)
	}
	defer func() { _ = rc.Close() }()
	// Cancelling the stream's context on a read error tells the core the
	// upload is incomplete; it then stages nothing.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := h.c.UploadAttachment(ctx)
	if err != nil {
		return Staged{}, fromStatus("upload attachment", err)
	}
	size := a.Size
	if size < 0 {
		size = -1
	}
	header := StagedHeaderToProto(StagedHeader{Filename: a.Filename, ContentType: a.ContentType, SHA256: a.SHA256, Size: size, Raw: raw})
	err = sendChunks(rc, header, stream.Send)
	if err != nil && !errors.Is(err, io.EOF) {
		// io.EOF from Send means the core answered early (a rejection);
		// the answer, or the real error, comes from CloseAndRecv.
		if _, ok := status.FromError(err); ok {
			return Staged{}, fromStatus("upload attachment", err)
		}
		return Staged{}, err
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return Staged{}, fromStatus("upload attachment", err)
	}
	return StagedFromProto(resp), nil
}

// OpenAttachment streams a stored attachment. The reader lives as long as
// ctx; Close it when done.
func (h *hostClient) OpenAttachment(ctx context.Context, id string) (io.ReadCloser, error) {
	if h.c == nil {
		return nil, ErrNoHost
	}
	ctx, cancel := context.WithCancel(ctx)
	stream, err := h.c.ReadAttachment(ctx, &pb.ReadAttachmentRequest{Id: id})
	if err != nil {
		cancel()
		return nil, fromStatus("read attachment "+id, err)
	}
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		cancel()
		return nil, fmt.Errorf("read attachment %s: the core sent nothing", id)
	}
	if err != nil {
		cancel()
		return nil, fromStatus("read attachment "+id, err)
	}
	return &downloadReader{recv: stream.Recv, cancel: cancel, id: id, buf: first.GetData()}, nil
}

// UpdateDelivery implements sdk.Host over the Host gRPC service.
func (h *hostClient) UpdateDelivery(ctx context.Context, u sdk.DeliveryUpdate) (bool, error) {
	if h.c == nil {
		return false, ErrNoHost
	}
	resp, err := h.c.UpdateDelivery(ctx, DeliveryUpdateToProto(u))
	if err != nil {
		return false, fromStatus("update delivery", err)
	}
	return resp.GetFound(), nil
}

// GetState implements sdk.Host over the Host gRPC service.
func (h *hostClient) GetState(ctx context.Context, key string) ([]byte, bool, error) {
	if h.c == nil {
		return nil, false, ErrNoHost
	}
	resp, err := h.c.GetState(ctx, &pb.GetStateRequest{Key: key})
	if err != nil {
		return nil, false, fromStatus("get state", err)
	}
	return resp.GetValue(), resp.GetFound(), nil
}

// SetState implements sdk.Host over the Host gRPC service.
func (h *hostClient) SetState(ctx context.Context, key string, value []byte) error {
	if h.c == nil {
		return ErrNoHost
	}
	_, err := h.c.SetState(ctx, &pb.SetStateRequest{Key: key, Value: value})
	return fromStatus("set state", err)
}

// DeleteState implements sdk.Host over the Host gRPC service.
func (h *hostClient) DeleteState(ctx context.Context, key string) error {
	if h.c == nil {
		return ErrNoHost
	}
	_, err := h.c.DeleteState(ctx, &pb.DeleteStateRequest{Key: key})
	return fromStatus("delete state", err)
}

// ReportStatus implements sdk.Host over the Host gRPC service.
func (h *hostClient) ReportStatus(ctx context.Context, s sdk.Status) error {
	if h.c == nil {
		return ErrNoHost
	}
	_, err := h.c.ReportStatus(ctx, StatusToProto(s))
	return fromStatus("report status", err)
}
