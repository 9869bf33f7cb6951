package emailchan

import (
	"testing"

	"github.com/patchbayhq/patchbay/plugins/email/internal/fakemail"
	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
)

// TestConformance runs the SDK's contract suite against the channel in
// process, through the real gRPC plugin boundary.
func TestConformance(t *testing.T) {
	channeltest.Run(t, fakemail.Target(t, func() sdk.Channel { return New() }, ""))
}
