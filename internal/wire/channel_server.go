package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sdk "github.com/patchbayhq/patchbay/internal/wire/sdktypes"
	pb "github.com/patchbayhq/patchbay/proto/channel/v1"
)

// channelServer is the plugin side of the Channel service: it wraps the
// author's sdk.Channel.
type channelServer struct {
	pb.UnimplementedChannelServer
	impl   sdk.Channel
	broker *plugin.GRPCBroker
	logger hclog.Logger

	mu   sync.Mutex
	host sdk.Host
	conn *grpc.ClientConn // the broker connection behind host, if any
}

func newChannelServer(impl sdk.Channel, broker *plugin.GRPCBroker, logger hclog.Logger) *channelServer {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &channelServer{impl: impl, broker: broker, logger: logger, host: NewHostClient(nil)}
}

// recoverPanic turns a panic in the author's code into an Internal error for
// this call instead of ending the plugin process.
func (s *channelServer) recoverPanic(op string, err *error) {
	if r := recover(); r != nil {
		s.logger.Error("plugin panic", "call", op, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*err = status.Errorf(codes.Internal, "plugin panic: %v", r)
	}
}

// Describe serves the Channel RPC of the same name by calling the plugin's sdk.Channel.
func (s *channelServer) Describe(ctx context.Context, _ *pb.DescribeRequest) (resp *pb.DescribeResponse, err error) {
	defer s.recoverPanic("describe", &err)
	m, err := s.impl.Describe(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.DescribeResponse{Manifest: ManifestToProto(m)}, nil
}

// Configure serves the Channel RPC of the same name by calling the plugin's sdk.Channel.
func (s *channelServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (resp *pb.ConfigureResponse, err error) {
	defer s.recoverPanic("configure", &err)
	// The host registered its Host service on the broker before sending
	// this request, so the connection info is already on its way. Dialing
	// does not block on the network: the connection is made on first use.
	host := NewHostClient(nil)
	var conn *grpc.ClientConn
	if id := req.GetHostBrokerId(); id != 0 {
		conn, err = s.broker.DialWithOptions(id, GRPCDialOptions()...)
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "connect to the host service: %v", err)
		}
		host = NewHostClient(pb.NewHostClient(conn))
	}
	closeConn := func() {
		if conn != nil {
			_ = conn.Close()
		}
	}
	creq := sdk.ConfigureRequest{
		Instance:    req.GetInstance(),
		Config:      json.RawMessage(req.GetConfigJson()),
		Host:        host,
		Attachments: PolicyFromProto(req.GetAttachmentPolicy()),
		PublicURL:   req.GetPublicUrl(),
		Logger:      s.logger.With("instance", req.GetInstance()),
	}
	if err := s.impl.Configure(ctx, creq); err != nil {
		closeConn()
		var fe sdk.FieldErrors
		if errors.As(err, &fe) {
			if len(fe) == 0 {
				fe = sdk.FieldErrors{{Message: "invalid configuration"}}
			}
			return &pb.ConfigureResponse{FieldErrors: FieldErrorsToProto(fe)}, nil
		}
		return nil, toStatus(err)
	}
	s.mu.Lock()
	old := s.conn
	s.host, s.conn = host, conn
	s.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return &pb.ConfigureResponse{}, nil
}

// Start serves the Channel RPC of the same name by calling the plugin's sdk.Channel.
func (s *channelServer) Start(ctx context.Context, _ *pb.StartRequest) (resp *pb.StartResponse, err error) {
	defer s.recoverPanic("start", &err)
	if err := s.impl.Start(ctx); err != nil {
		return nil, toStatus(err)
	}
	return &pb.StartResponse{}, nil
}

// Stop serves the Channel RPC of the same name by calling the plugin's sdk.Channel.
func (s *channelServer) Stop(ctx context.Context, _ *pb.StopRequest) (resp *pb.StopResponse, err error) {
	defer s.recoverPanic("stop", &err)
	if err := s.impl.Stop(ctx); err != nil {
		return nil, toStatus(err)
	}
	return &pb.StopResponse{}, nil
}

// HandleWebhook serves the Channel RPC of the same name by calling the plugin's sdk.Channel.
func (s *channelServer) HandleWebhook(ctx context.Context, req *pb.WebhookRequest) (resp *pb.WebhookResponse, err error) {
	defer s.recoverPanic("handle webhook", &err)
	r, err := s.impl.HandleWebhook(ctx, WebhookRequestFromProto(req))
	if err != nil {
		return nil, toStatus(err)
	}
	if r == nil {
		return nil, status.Error(codes.Internal, "the plugin returned no response")
	}
	out := WebhookResponseToProto(r)
	if out.Status == 0 {
		out.Status = http.StatusOK
	}
	return out, nil
}

// Webhooks serves the multiplexed form of HandleWebhook: each call frame is
// handled like one HandleWebhook RPC, in its own context bounded by the
// frame's budget.
func (s *channelServer) Webhooks(stream grpc.BidiStreamingServer[pb.WebhookCall, pb.WebhookResult]) error {
	return serveMux(stream, func(ctx context.Context, c *pb.WebhookCall) *pb.WebhookResult {
		if c.GetRequest() == nil {
			return &pb.WebhookResult{Id: c.GetId(), Error: &pb.CallStatus{Code: int32(codes.InvalidArgument), Message: "no request"}}
		}
		resp, err := s.HandleWebhook(ctx, c.GetRequest())
		if err != nil {
			return &pb.WebhookResult{Id: c.GetId(), Error: callStatus(err)}
		}
		return &pb.WebhookResult{Id: c.GetId(), Response: resp}
	})
}

// Send reports every failure as data: a *sdk.SendError as it is, any other
// error as a retryable SendError with code "plugin_error" (a transient
// fault is the safe assumption: the core retries with backoff and, after its
// last attempt, marks the reply failed).
func (s *channelServer) Send(ctx context.Context, req *pb.SendRequest) (resp *pb.SendResponse, err error) {
	defer s.recoverPanic("send", &err)
	s.mu.Lock()
	host := s.host
	s.mu.Unlock()
	msg := OutboundFromProto(req, func(ctx context.Context, id string) (io.ReadCloser, error) {
		return host.OpenAttachment(ctx, id)
	})
	res, err := s.impl.Send(ctx, msg)
	if err != nil {
		var se *sdk.SendError
		if !errors.As(err, &se) {
			se = &sdk.SendError{Code: "plugin_error", Message: err.Error(), Retryable: true, Err: err}
		}
		return SendResultToProto(nil, se), nil
	}
	return SendResultToProto(res, nil), nil
}
