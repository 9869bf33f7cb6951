package pluginhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/patchbayhq/patchbay/internal/wire"
	"github.com/patchbayhq/patchbay/sdk"
)

// configureArgs is what Configure sends to a plugin.
type configureArgs struct {
	Instance    string
	Config      json.RawMessage
	Attachments sdk.AttachmentPolicy
	PublicURL   string
}

// channelConn is the host's side of one running plugin.
type channelConn interface {
	Describe(ctx context.Context) (sdk.Manifest, error)
	// Configure returns sdk.FieldErrors for invalid configuration.
	Configure(ctx context.Context, args configureArgs) error
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	HandleWebhook(ctx context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResponse, error)
	Send(ctx context.Context, msg *sdk.OutboundMessage) (*sdk.SendResult, error)
	// Ping is a gRPC health check bounded by ctx.
	Ping(ctx context.Context) error
}

// wireConn adapts wire.ChannelClient to channelConn.
type wireConn struct {
	*wire.ChannelClient
	grpc *grpc.ClientConn
	host wire.HostBackend
}

// Configure serves the Host for this instance and configures the plugin;
// field errors come back as sdk.FieldErrors.
func (c *wireConn) Configure(ctx context.Context, a configureArgs) error {
	fe, err := c.ChannelClient.Configure(ctx, a.Instance, a.Config, a.Attachments, a.PublicURL, c.host)
	if err != nil {
		return err
	}
	if len(fe) > 0 {
		return fe
	}
	return nil
}

// Ping runs go-plugin's gRPC health check, bounded by ctx (go-plugin's own
// Ping has no deadline and would hang on a stopped process).
func (c *wireConn) Ping(ctx context.Context) error {
	_, err := grpc_health_v1.NewHealthClient(c.grpc).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	return err
}

// startSession launches the binary at path and dispenses its Channel
// client, with host serving the Host calls of this instance.
func startSession(path, pin string, logger hclog.Logger, host wire.HostBackend, startTimeout time.Duration) (*session, error) {
	client, cmd, err := newClient(path, pin, logger, startTimeout)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*session, error) {
		client.Kill()
		return nil, err
	}
	_, err = client.Start()
	pid := 0
	if cmd.Process != nil {
		pid = cmd.Process.Pid
	}
	if err != nil {
		killGroup(pid)
		return fail(launchError(path, err))
	}
	rpc, err := client.Client()
	if err != nil {
		killGroup(pid)
		return fail(launchError(path, err))
	}
	gc, ok := rpc.(*plugin.GRPCClient)
	if !ok {
		killGroup(pid)
		return fail(fmt.Errorf("plugin %s: not a gRPC plugin", path))
	}
	raw, err := rpc.Dispense(wire.PluginName)
	if err != nil {
		killGroup(pid)
		return fail(launchError(path, err))
	}
	cc, ok := raw.(*wire.ChannelClient)
	if !ok {
		killGroup(pid)
		return fail(errors.New("plugin: unexpected client type"))
	}
	return &session{
		client:  client,
		conn:    &wireConn{ChannelClient: cc, grpc: gc.Conn, host: host},
		pid:     pid,
		started: time.Now(),
	}, nil
}
