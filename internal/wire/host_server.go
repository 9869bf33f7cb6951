package wire

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/patchbayhq/patchbay/proto/channel/v1"
)

// hostServer is the host side of the Host service for one instance: it
// serves a HostBackend to the plugin over the broker.
type hostServer struct {
	pb.UnimplementedHostServer
	backend HostBackend
}

// NewHostServer returns a gRPC server with the Host service of backend
// registered, built with opts plus the raised message limits. ChannelClient
// uses it on the broker; it is exported for hosts that serve it themselves.
func NewHostServer(backend HostBackend, opts []grpc.ServerOption) *grpc.Server {
	s := NewGRPCServer(opts)
	pb.RegisterHostServer(s, &hostServer{backend: backend})
	return s
}

// Deliver serves the Host RPC of the same name from the instance's HostBackend.
func (s *hostServer) Deliver(ctx context.Context, req *pb.DeliverRequest) (*pb.DeliverResponse, error) {
	if req.GetMessage() == nil {
		return nil, status.Error(codes.InvalidArgument, "deliver: no message")
	}
	msg, ids := InboundFromProto(req.GetMessage())
	r, err := s.backend.Deliver(ctx, msg, ids)
	if err != nil {
		return nil, toStatus(err)
	}
	if r == nil {
		return nil, status.Error(codes.Internal, "deliver: the core returned no receipt")
	}
	return ReceiptToProto(r), nil
}

// Deliveries serves the multiplexed form of Deliver: each call frame is
// handled like one Deliver RPC, in its own context bounded by the frame's
// budget.
func (s *hostServer) Deliveries(stream grpc.BidiStreamingServer[pb.DeliverCall, pb.DeliverResult]) error {
	return serveMux(stream, func(ctx context.Context, c *pb.DeliverCall) *pb.DeliverResult {
		resp, err := s.Deliver(ctx, c.GetRequest())
		if err != nil {
			return &pb.DeliverResult{Id: c.GetId(), Error: callStatus(err)}
		}
		return &pb.DeliverResult{Id: c.GetId(), Response: resp}
	})
}

// UploadAttachment serves the Host RPC of the same name from the instance's HostBackend.
func (s *hostServer) UploadAttachment(stream grpc.ClientStreamingServer[pb.AttachmentChunk, pb.UploadAttachmentResponse]) error {
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return status.Error(codes.InvalidArgument, "upload attachment: empty stream")
	}
	if err != nil {
		return err
	}
	if first.GetHeader() == nil {
		return status.Error(codes.InvalidArgument, "upload attachment: the first chunk carries no header")
	}
	h := StagedHeaderFromProto(first.GetHeader())
	if h.Size < -1 {
		return status.Errorf(codes.InvalidArgument, "upload attachment: invalid size %d", h.Size)
	}
	r := newUploadReader(stream.Recv, first.GetData(), h)
	r.n = int64(len(first.GetData()))
	if h.Size >= 0 && r.n > h.Size {
		return status.Errorf(codes.InvalidArgument, "upload attachment: %q is longer than its declared size %d", h.Filename, h.Size)
	}
	staged, err := s.backend.StageAttachment(stream.Context(), h, r)
	if err != nil {
		return toStatus(err)
	}
	return stream.SendAndClose(StagedToProto(staged))
}

// ReadAttachment serves the Host RPC of the same name from the instance's HostBackend.
func (s *hostServer) ReadAttachment(req *pb.ReadAttachmentRequest, stream grpc.ServerStreamingServer[pb.AttachmentChunk]) error {
	rc, err := s.backend.OpenAttachment(stream.Context(), req.GetId())
	if err != nil {
		return toStatus(err)
	}
	defer func() { _ = rc.Close() }()
	// The first chunk always goes out, with an (empty) header, so that the
	// plugin's OpenAttachment learns at once whether the file exists.
	err = sendChunks(rc, &pb.AttachmentHeader{Size: -1}, stream.Send)
	return toStatus(err)
}

// UpdateDelivery serves the Host RPC of the same name from the instance's HostBackend.
func (s *hostServer) UpdateDelivery(ctx context.Context, req *pb.UpdateDeliveryRequest) (*pb.UpdateDeliveryResponse, error) {
	found, err := s.backend.UpdateDelivery(ctx, DeliveryUpdateFromProto(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.UpdateDeliveryResponse{Found: found}, nil
}

// GetState serves the Host RPC of the same name from the instance's HostBackend.
func (s *hostServer) GetState(ctx context.Context, req *pb.GetStateRequest) (*pb.GetStateResponse, error) {
	v, found, err := s.backend.GetState(ctx, req.GetKey())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.GetStateResponse{Value: v, Found: found}, nil
}

// SetState serves the Host RPC of the same name from the instance's HostBackend.
func (s *hostServer) SetState(ctx context.Context, req *pb.SetStateRequest) (*pb.SetStateResponse, error) {
	if err := s.backend.SetState(ctx, req.GetKey(), req.GetValue()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.SetStateResponse{}, nil
}

// DeleteState serves the Host RPC of the same name from the instance's HostBackend.
func (s *hostServer) DeleteState(ctx context.Context, req *pb.DeleteStateRequest) (*pb.DeleteStateResponse, error) {
	if err := s.backend.DeleteState(ctx, req.GetKey()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.DeleteStateResponse{}, nil
}

// ReportStatus serves the Host RPC of the same name from the instance's HostBackend.
func (s *hostServer) ReportStatus(ctx context.Context, req *pb.ReportStatusRequest) (*pb.ReportStatusResponse, error) {
	if err := s.backend.ReportStatus(ctx, StatusFromProto(req)); err != nil {
		return nil, toStatus(err)
	}
	return &pb.ReportStatusResponse{}, nil
}
