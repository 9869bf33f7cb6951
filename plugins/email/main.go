// Command patchbay-plugin-email is Patchbay's email channel: inbound mail
// over SMTP, LMTP or IMAP, replies over SMTP or as .eml files. The core
// starts it; see docs/channels/email.md.
package main

import (
	"github.com/patchbayhq/patchbay/plugins/email/internal/emailchan"
	"github.com/patchbayhq/patchbay/sdk"
)

func main() { sdk.Serve(emailchan.New()) }
