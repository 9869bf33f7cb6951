package sdk

import (
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/patchbayhq/patchbay/internal/wire"
)

// LogLevelEnv names the environment variable the core sets to choose the
// plugin's log level ("trace", "debug", "info", "warn", "error"; default
// "info").
const LogLevelEnv = "PATCHBAY_PLUGIN_LOG_LEVEL"

// Serve serves ch as a Patchbay channel plugin and returns when the core
// ends the plugin. It is the whole of a plugin's main:
//
//	func main() { sdk.Serve(&MyChannel{}) }
//
// Serve speaks go-plugin's handshake and gRPC protocol on stdin/stdout, so
// the plugin must print nothing to stdout. Logs go to stderr as hclog JSON,
// which the core re-logs with the channel's name; use the Logger in
// ConfigureRequest. Started by hand (not by the core), the binary says it is
// a plugin and exits with status 1.
func Serve(ch Channel) {
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       "plugin",
		Level:      hclog.LevelFromString(envOr(LogLevelEnv, "info")),
		Output:     os.Stderr,
		JSONFormat: true,
	})
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         wire.ServerPlugins(ch, logger),
		GRPCServer:      wire.NewGRPCServer,
		Logger:          logger,
	})
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
