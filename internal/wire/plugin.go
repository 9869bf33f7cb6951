package wire

import (
	"context"
	"errors"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	sdk "github.com/patchbayhq/patchbay/internal/wire/sdktypes"
	pb "github.com/patchbayhq/patchbay/proto/channel/v1"
)

// ChannelPlugin is the go-plugin plugin.GRPCPlugin of a channel. The plugin
// side sets Impl (and Logger); the host side leaves both empty and gets a
// *ChannelClient from Dispense.
type ChannelPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the channel served by the plugin process.
	Impl sdk.Channel
	// Logger is given to the channel (ConfigureRequest.Logger) and logs
	// recovered panics.
	Logger hclog.Logger
}

var _ plugin.GRPCPlugin = (*ChannelPlugin)(nil)

// GRPCServer registers the Channel service (plugin side).
func (p *ChannelPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("wire: ChannelPlugin.Impl is nil")
	}
	pb.RegisterChannelServer(s, newChannelServer(p.Impl, broker, p.Logger))
	return nil
}

// GRPCClient returns a *ChannelClient (host side).
func (p *ChannelPlugin) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return newChannelClient(conn, broker), nil
}

// ServerPlugins is the plugin set a plugin process serves.
func ServerPlugins(impl sdk.Channel, logger hclog.Logger) plugin.PluginSet {
	return plugin.PluginSet{PluginName: &ChannelPlugin{Impl: impl, Logger: logger}}
}

// ClientPlugins is the plugin set a host dispenses from.
func ClientPlugins() plugin.PluginSet {
	return plugin.PluginSet{PluginName: &ChannelPlugin{}}
}
