// Command patchbay-plugin-whatsapp is the WhatsApp Business Platform (Cloud
// API) channel plugin for Patchbay. The core starts it; see
// docs/channels/whatsapp.md.
package main

import (
	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/whatsappchan"
	"github.com/patchbayhq/patchbay/sdk"
)

func main() { sdk.Serve(whatsappchan.New()) }
