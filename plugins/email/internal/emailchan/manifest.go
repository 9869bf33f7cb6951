package emailchan

import (
	"strconv"

	"github.com/patchbayhq/patchbay/sdk"
)

// Version is the plugin's own version.
const Version = "0.1.0"

// manifest is what Describe returns; it does not depend on configuration.
func manifest() sdk.Manifest {
	return sdk.Manifest{
		Kind:        "email",
		Version:     Version,
		DisplayName: "Email",
		Description: "Inbound mail over SMTP, LMTP (behind a site MTA) or IMAP polling; replies over SMTP or written as .eml files.",
		Capabilities: sdk.Capabilities{
			AttachmentsIn:      true,
			AttachmentsOut:     true,
			MaxAttachmentBytes: DefaultMaxMessageMB << 20,
			Threads:            true,
			HTML:               true,
		},
		ConfigFields: []sdk.ConfigField{
			{Name: "address", Type: "string", Required: true, Description: "The support address (support@example.com). Mail to it or to a plus-address of it is accepted; replies are sent from it."},
			{Name: "from_name", Type: "string", Description: "Display name on outbound mail; default: the display name in address, else the replying agent's name."},
			{Name: "smtp_listen", Type: "string", Description: "Inbound SMTP listener, host:port (127.0.0.1:2525) or unix:/path. One of smtp_listen and imap is required."},
			{Name: "lmtp", Type: "bool", Description: "Speak LMTP instead of SMTP on smtp_listen, for a site MTA (Postfix) in front.", Default: "false"},
			{Name: "max_message_mb", Type: "int", Description: "Largest accepted message, attachments included (SMTP answers 552 above it).", Default: strconv.Itoa(DefaultMaxMessageMB)},
			{Name: "imap", Type: "object", Description: "Poll a mailbox: imap { url, username, password, mailbox, poll_interval }."},
			{Name: "imap.url", Type: "string", Description: "imaps://host:993 (implicit TLS) or imap://host:143 (STARTTLS; ?tls=none for plaintext on a trusted network)."},
			{Name: "imap.username", Type: "string", Description: "IMAP login."},
			{Name: "imap.password", Type: "string", Secret: true, Description: "IMAP password."},
			{Name: "imap.mailbox", Type: "string", Description: "Mailbox to poll.", Default: DefaultIMAPMailbox},
			{Name: "imap.poll_interval", Type: "duration", Description: "Time between polls.", Default: DefaultIMAPPollInterval.String()},
			{Name: "outbound", Type: "string", Secret: true, Description: "Where replies go: smtp://user:pass@host:587 (STARTTLS when offered), smtps://user:pass@host:465 (implicit TLS) or dir:PATH (.eml files). Without it, replies fail permanently."},
			{Name: "token_secret", Type: "string", Secret: true, Description: "HMAC key (16+ characters) signing the ticket plus-addresses set as Reply-To. Default: a random key generated on first start and kept in the channel's state."},
			{Name: "trusted_relays", Type: "list", Description: "Authserv-ids (RFC 8601) of the relays whose Authentication-Results header is believed: a DKIM, SPF or DMARC pass for the From domain in the topmost such header verifies the sender, which an agent's address needs to write as that agent. Set it only when mail reaches the channel through those relays alone."},
		},
	}
}
