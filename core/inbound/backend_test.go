package inbound

import "github.com/patchbayhq/patchbay/core/pluginhost"

// The compiler proves Service is the plugin host's Backend.
var _ pluginhost.Backend = (*Service)(nil)
