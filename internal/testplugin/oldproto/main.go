// Command oldproto is a go-plugin binary that announces another plugin
// protocol version (99) than the core speaks, for the host's handshake
// tests. The core must refuse it at the handshake, before any call.
package main

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"

	"github.com/patchbayhq/patchbay/internal/wire"
	"github.com/patchbayhq/patchbay/sdk"
)

var errRefused = errors.New("oldproto: never reached: the handshake must fail first")

// channel is never called: the handshake fails first.
type channel struct{}

// Describe implements sdk.Channel; it is never called.
func (channel) Describe(context.Context) (sdk.Manifest, error) { return sdk.Manifest{}, errRefused }

// Configure implements sdk.Channel; it is never called.
func (channel) Configure(context.Context, sdk.ConfigureRequest) error { return errRefused }

// Start implements sdk.Channel; it is never called.
func (channel) Start(context.Context) error { return errRefused }

// Stop implements sdk.Channel; it is never called.
func (channel) Stop(context.Context) error { return nil }

// Send implements sdk.Channel; it is never called.
func (channel) Send(context.Context, *sdk.OutboundMessage) (*sdk.SendResult, error) {
	return nil, errRefused
}

// HandleWebhook implements sdk.Channel; it is never called.
func (channel) HandleWebhook(context.Context, *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
	return nil, errRefused
}

func main() {
	hs := wire.Handshake
	hs.ProtocolVersion = 99
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: hs,
		Plugins:         wire.ServerPlugins(channel{}, nil),
		GRPCServer:      wire.NewGRPCServer,
	})
}
