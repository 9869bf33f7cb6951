// Command patchbay-plugin-line is the Patchbay channel plugin for LINE
// Official Accounts (LINE Messaging API): customers' 1:1 chat messages
// become tickets, agents' public replies go back as push messages.
// See docs/channels/line.md.
package main

import (
	"github.com/patchbayhq/patchbay/plugins/line/internal/linechan"
	"github.com/patchbayhq/patchbay/sdk"
)

func main() { sdk.Serve(linechan.New()) }
