package wire

import (
	"context"
	"errors"
	"sync"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sdk "github.com/patchbayhq/patchbay/internal/wire/sdktypes"
	pb "github.com/patchbayhq/patchbay/proto/channel/v1"
)

// ChannelClient is the host's handle on one plugin's Channel service, with
// plain Go methods. Get it from a go-plugin client:
//
//	raw, err := rpcClient.Dispense(wire.PluginName)
//	ch := raw.(*wire.ChannelClient)
//
// Errors returned by the plugin or by the transport are *RemoteError values
// (status.Code works on them: codes.Unavailable means the plugin is gone).
// It is safe for concurrent use.
type ChannelClient struct {
	client   pb.ChannelClient
	broker   *plugin.GRPCBroker
	webhooks *muxClient[*pb.WebhookRequest, *pb.WebhookCall, *pb.WebhookResult]

	mu   sync.Mutex
	host *grpc.Server // the Host service served for the last successful Configure
}

func newChannelClient(conn grpc.ClientConnInterface, broker *plugin.GRPCBroker) *ChannelClient {
	client := pb.NewChannelClient(conn)
	return &ChannelClient{
		client: client,
		broker: broker,
		webhooks: newMuxClient("handle webhook",
			func(ctx context.Context) (bidiClient[*pb.WebhookCall, *pb.WebhookResult], error) {
				return client.Webhooks(ctx)
			},
			func(id uint64, timeout int64, cancel bool, req *pb.WebhookRequest) *pb.WebhookCall {
				return &pb.WebhookCall{Id: id, TimeoutNanos: timeout, Cancel: cancel, Request: req}
			}),
	}
}

// Describe returns the plugin's manifest, with the protocol version it
// announced.
func (c *ChannelClient) Describe(ctx context.Context) (sdk.Manifest, error) {
	resp, err := c.client.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return sdk.Manifest{}, fromStatus("describe", err)
	}
	return ManifestFromProto(resp.GetManifest()), nil
}

// Configure serves backend to the plugin as its Host service and sends it
// its configuration. Invalid configuration comes back as field errors
// (error nil); an error means the call itself failed. A nil backend gives the
// plugin a Host whose calls fail (enough to validate a configuration).
//
// The Host service is registered on the broker before the request is sent.
// It stays up until the next successful Configure or Close; after field
// errors or an error it is stopped at once.
func (c *ChannelClient) Configure(ctx context.Context, instance string, configJSON []byte, policy sdk.AttachmentPolicy, publicURL string, backend HostBackend) (sdk.FieldErrors, error) {
	var id uint32
	var srv *grpc.Server
	if backend != nil {
		var err error
		id, srv, err = c.serveHost(ctx, backend)
		if err != nil {
			return nil, err
		}
	}
	resp, err := c.client.Configure(ctx, &pb.ConfigureRequest{
		Instance:         instance,
		ConfigJson:       configJSON,
		HostBrokerId:     id,
		AttachmentPolicy: PolicyToProto(policy),
		PublicUrl:        publicURL,
	})
	fieldErrs := FieldErrorsFromProto(resp.GetFieldErrors())
	if err != nil || len(fieldErrs) > 0 {
		if srv != nil {
			srv.Stop()
		}
		if err != nil {
			return nil, fromStatus("configure", err)
		}
		return fieldErrs, nil
	}
	c.mu.Lock()
	old := c.host
	c.host = srv
	c.mu.Unlock()
	if old != nil {
		old.Stop()
	}
	return nil, nil
}

// serveHost starts the Host service for backend on a new broker id and
// returns once the broker listens on it and has sent the plugin the
// connection info.
func (c *ChannelClient) serveHost(ctx context.Context, backend HostBackend) (uint32, *grpc.Server, error) {
	id := c.broker.NextId()
	ready := make(chan *grpc.Server, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// AcceptAndServe calls the constructor only after the listener is
		// up and its address was sent down the broker stream; it serves
		// until the server is stopped or the plugin client is closed.
		c.broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
			s := NewHostServer(backend, opts)
			ready <- s
			return s
		})
	}()
	select {
	case s := <-ready:
		return id, s, nil
	case <-done:
		return 0, nil, errors.New("configure: the broker could not serve the host service")
	case <-ctx.Done():
		go func() {
			select {
			case s := <-ready:
				s.Stop()
			case <-done:
			}
		}()
		return 0, nil, ctx.Err()
	}
}

// Start asks the plugin to start its receivers.
func (c *ChannelClient) Start(ctx context.Context) error {
	_, err := c.client.Start(ctx, &pb.StartRequest{})
	return fromStatus("start", err)
}

// Stop asks the plugin to stop its receivers and finish in-flight work.
func (c *ChannelClient) Stop(ctx context.Context) error {
	_, err := c.client.Stop(ctx, &pb.StopRequest{})
	return fromStatus("stop", err)
}

// HandleWebhook forwards one provider request and returns the plugin's
// answer. Calls share one long-lived stream (Channel.Webhooks), opened on
// first use and reopened after it broke. ctx's deadline travels with the
// call and bounds the plugin's handling. When ctx ends first the error
// matches context.DeadlineExceeded or context.Canceled; when the plugin
// went away (or the stream broke) its status code is codes.Unavailable.
func (c *ChannelClient) HandleWebhook(ctx context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
	if req == nil {
		return nil, errors.New("handle webhook: nil request")
	}
	res, err := c.webhooks.call(ctx, WebhookRequestToProto(req))
	if err != nil {
		return nil, err
	}
	if res.GetResponse() == nil {
		return nil, &RemoteError{Op: "handle webhook", Status: status.New(codes.Internal, "the plugin sent a result without a response")}
	}
	return WebhookResponseFromProto(res.GetResponse()), nil
}

// Send asks the plugin to send one reply. A provider failure is a
// *sdk.SendError (check Retryable); any other error is a *RemoteError about
// the call itself (the plugin is down or failed), which a caller may retry.
func (c *ChannelClient) Send(ctx context.Context, msg *sdk.OutboundMessage) (*sdk.SendResult, error) {
	if msg == nil {
		return nil, errors.New("send: nil message")
	}
	resp, err := c.client.Send(ctx, OutboundToProto(msg))
	if err != nil {
		return nil, fromStatus("send", err)
	}
	res, sendErr := SendResultFromProto(resp)
	if sendErr != nil {
		return nil, sendErr
	}
	return res, nil
}

// Close ends the webhook stream (calls in flight fail with Unavailable)
// and stops the Host service served for the plugin. Killing the go-plugin
// client ends both too.
func (c *ChannelClient) Close() error {
	c.webhooks.Close()
	c.mu.Lock()
	srv := c.host
	c.host = nil
	c.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
	return nil
}
