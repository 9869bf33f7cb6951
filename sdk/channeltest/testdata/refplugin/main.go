// Command refplugin serves the reference channel as a plugin binary, for the
// conformance kit's binary-mode test.
package main

import (
	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest/internal/refchannel"
)

func main() { sdk.Serve(refchannel.New()) }
