// Command envplugin reports, in its manifest's description, two variables
// of its environment; the kit's test checks it inherits nothing.
package main

import (
	"context"
	"os"

	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest/internal/refchannel"
)

type envChannel struct{ *refchannel.Channel }

// Describe reports the environment the plugin sees, in the manifest description.
func (envChannel) Describe(context.Context) (sdk.Manifest, error) {
	return sdk.Manifest{Kind: "env", Version: "1", Description: "GIVEN=" + os.Getenv("GIVEN") + ";CHANNELTEST_CORE_SECRET=" + os.Getenv("CHANNELTEST_CORE_SECRET")}, nil
}

func main() { sdk.Serve(envChannel{refchannel.New()}) }
