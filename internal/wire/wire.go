// Package wire carries the Patchbay plugin contract over go-plugin's gRPC:
// the handshake, the go-plugin plugin definition, one conversion function per
// message between proto types and the SDK's plain Go types, and the gRPC
// shims of both services on both sides.
//
// Plugin side (used by sdk.Serve): a Channel gRPC server wrapping an
// sdk.Channel, and an sdk.Host implemented over the Host service that the
// core serves back through go-plugin's GRPCBroker.
//
// Host side (used by core/pluginhost): ChannelClient, with plain Go methods,
// and a Host gRPC server built from a per-instance HostBackend.
//
// Attachments never travel in one message: they stream in ChunkSize pieces
// (UploadAttachment, ReadAttachment). Message limits are nevertheless raised
// to MaxMessageBytes on both sides so a large webhook body or raw payload
// fits.
package wire

import (
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	sdk "github.com/patchbayhq/patchbay/internal/wire/sdktypes"
)

// PluginName is the go-plugin name under which the channel plugin is
// served and dispensed.
const PluginName = "channel"

// Magic cookie of the handshake. A plugin binary started by hand (without the
// cookie in its environment) tells the user it is a plugin and exits.
const (
	MagicCookieKey   = "PATCHBAY_PLUGIN"
	MagicCookieValue = "channel-v1"
)

// MaxMessageBytes is the gRPC message size limit on both sides of every
// connection (channel and host services).
const MaxMessageBytes = 64 << 20

// WindowBytes is the HTTP/2 flow-control window, per stream and per
// connection, on both sides of every connection. A fixed window turns off
// gRPC's bandwidth estimator, which otherwise sends a PING (and gets its
// ack) after most messages of a request/response exchange and resizes
// windows with WINDOW_UPDATE frames: about a fifth of the allocations of a
// webhook with its Deliver. 1 MiB keeps a 64 KiB attachment chunk stream
// at full speed on a local socket and bounds what a peer may buffer per
// stream.
const WindowBytes = 1 << 20

// ChunkSize is the size of one attachment chunk on the wire.
const ChunkSize = 64 << 10

// InlineRawBytes is the largest raw payload that travels inside a Deliver
// call. A larger InboundMessage.Raw is streamed to the core first, like an
// attachment (StagedHeader.Raw), so its size is bounded by the channel's own
// limits and never by MaxMessageBytes.
const InlineRawBytes = 256 << 10

// Handshake is the go-plugin handshake shared by the SDK and the host. It is
// a value: treat it as a constant.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  sdk.ProtocolVersion,
	MagicCookieKey:   MagicCookieKey,
	MagicCookieValue: MagicCookieValue,
}

// GRPCDialOptions returns the dial options of every client connection: the
// host's plugin.ClientConfig.GRPCDialOptions and the plugin's broker dial to
// the Host service.
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageBytes),
			grpc.MaxCallSendMsgSize(MaxMessageBytes),
		),
		grpc.WithInitialWindowSize(WindowBytes),
		grpc.WithInitialConnWindowSize(WindowBytes),
	}
}

// StreamWorkers is the number of goroutines each gRPC server keeps to run
// incoming calls (grpc.NumStreamWorkers). Without them gRPC starts a new
// goroutine per call, whose stack then grows (morestack/copystack: ~8 % of
// the WhatsApp plugin's CPU under load); a worker keeps its grown stack.
// Calls beyond the workers still get a goroutine of their own, so a slow
// call never waits for a worker. 64 covers the webhook concurrency of the
// load generator (one HandleWebhook and one Deliver in flight per request).
const StreamWorkers = 64

// GRPCServerOptions returns the options added to every gRPC server: the
// plugin's Channel server and the host's Host server.
func GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.NumStreamWorkers(StreamWorkers),
		grpc.InitialWindowSize(WindowBytes),
		grpc.InitialConnWindowSize(WindowBytes),
	}
}

// NewGRPCServer builds a gRPC server with opts (go-plugin passes the TLS
// credentials) and the raised message limits. It fits
// plugin.ServeConfig.GRPCServer.
func NewGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	all := make([]grpc.ServerOption, 0, len(opts)+5)
	all = append(all, opts...)
	all = append(all, GRPCServerOptions()...)
	return grpc.NewServer(all...)
}
