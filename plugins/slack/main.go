// Command patchbay-plugin-slack is Patchbay's Slack direct-message channel
// plugin. It is started by the core; see docs/channels/slack.md.
package main

import (
	"github.com/patchbayhq/patchbay/plugins/slack/internal/slackchan"
	"github.com/patchbayhq/patchbay/sdk"
)

func main() { sdk.Serve(slackchan.New()) }
