package inbound

import (
	"strings"

	"github.com/patchbayhq/patchbay/internal/wire"
	"github.com/patchbayhq/patchbay/sdk"
)

// StagedHeader describes a file a plugin is about to stream (the wire's
// type, shared with pluginhost.Backend).
type StagedHeader = wire.StagedHeader

// Staged is the answer to StageAttachment: the staged id to pass to
// Deliver, or a rejection with its reason.
type Staged = wire.Staged

// Instance is what the service needs to know about one channel instance.
type Instance struct {
	Name  string // the `channel "<name>"` label
	Kind  string // plugin kind: via of its tickets, default identity type
	Brand string
	// Attachments is the instance's policy. A nil Allow means the default
	// allowlist (DefaultAllow); MaxBytes 0 means DefaultMaxBytes.
	Attachments sdk.AttachmentPolicy
}

// Attachment policy defaults, used when a channel's config sets none
// (the README's configuration example shows them).
var DefaultAllow = []string{".pdf", ".png", ".jpeg", ".jpg", ".gif", ".txt"}

// DefaultMaxBytes is the default attachment size limit (20 MiB).
const DefaultMaxBytes = 20 << 20

func (i Instance) policy() sdk.AttachmentPolicy {
	p := i.Attachments
	if p.Allow == nil {
		p.Allow = DefaultAllow
	}
	if p.MaxBytes <= 0 {
		p.MaxBytes = DefaultMaxBytes
	}
	allow := make([]string, len(p.Allow))
	for n, ext := range p.Allow {
		ext = strings.ToLower(strings.TrimSpace(ext))
		if !strings.HasPrefix(ext, ".") {
			ext = "." + ext
		}
		allow[n] = ext
	}
	p.Allow = allow
	return p
}
