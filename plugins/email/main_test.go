package main

import (
	"testing"

	"github.com/patchbayhq/patchbay/internal/e2etest"

	"github.com/patchbayhq/patchbay/plugins/email/internal/fakemail"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
)

// TestBinaryConformance builds patchbay-plugin-email and runs the SDK's
// contract suite against the binary, launched as the core launches it.
func TestBinaryConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	bin, err := e2etest.PluginBinary(t.TempDir(), "email")
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Run(t, fakemail.Target(t, nil, bin))
}
