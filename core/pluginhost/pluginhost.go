// Package pluginhost launches, supervises and talks to channel plugins: one
// go-plugin subprocess per channel instance, found as
// patchbay-plugin-<kind> in the plugin directory (or an explicit command),
// checked against an optional sha256 pin, started in its own process group
// with a minimal environment, and restarted with capped exponential backoff
// whenever it exits or stops answering health checks.
//
// The Manager routes provider webhooks (/hooks/<channel>/…) and outbound
// replies (Send) to the plugin of the right instance, and serves each
// plugin the Host calls for its own instance only, backed by a Backend.
package pluginhost

import (
	"context"
	"errors"
	"io"

	"github.com/patchbayhq/patchbay/internal/wire"
	"github.com/patchbayhq/patchbay/sdk"
)

// Backend is what the host needs from the rest of the core: durable
// delivery, attachment staging and per-instance state. core/inbound.Service
// implements it. Every call names the instance; the host never lets one
// plugin name another's.
type Backend interface {
	// StageAttachment stores one inbound file for a following Deliver,
	// after checking it against the instance's policy. A rejected file is
	// recorded (name + reason) but its bytes are not kept.
	StageAttachment(ctx context.Context, instance string, h StagedHeader, r io.Reader) (Staged, error)
	// Deliver commits one inbound message with a synced write, then answers.
	Deliver(ctx context.Context, instance string, msg *sdk.InboundMessage, attachmentIDs []string) (*sdk.Receipt, error)
	// UpdateDelivery records a provider delivery receipt.
	UpdateDelivery(ctx context.Context, instance string, u sdk.DeliveryUpdate) (bool, error)
	// OpenAttachment streams a stored attachment.
	OpenAttachment(ctx context.Context, instance, id string) (io.ReadCloser, error)
	// GetState, SetState and DeleteState keep small per-instance values.
	GetState(ctx context.Context, instance, key string) ([]byte, bool, error)
	SetState(ctx context.Context, instance, key string, value []byte) error
	DeleteState(ctx context.Context, instance, key string) error
}

// Errors returned by the Manager.
var (
	// ErrUnknownChannel: no channel instance of that name is configured.
	ErrUnknownChannel = errors.New("unknown channel")
	// ErrUnavailable: the channel's plugin is not running right now
	// (starting, restarting, failed or stopped); retry later.
	ErrUnavailable = errors.New("channel plugin unavailable")
	// ErrChecksumMismatch: the plugin binary does not match the channel's
	// sha256 pin; the channel is refused.
	ErrChecksumMismatch = errors.New("plugin binary does not match the configured sha256")
	// ErrPluginNotFound: no plugin binary for the channel's kind.
	ErrPluginNotFound = errors.New("plugin binary not found")
	// ErrIncompatible: the plugin speaks another protocol version (or is
	// not a Patchbay channel plugin); it is refused at the handshake.
	ErrIncompatible = errors.New("plugin protocol version not supported")
)

// Channel states shown in ChannelInfo.State.
const (
	StateStarting   = "starting"
	StateRunning    = "running"
	StateRestarting = "restarting"
	StateFailed     = "failed"
	StateStopped    = "stopped"
)

// ChannelInfo describes one channel instance for the API and operators.
type ChannelInfo struct {
	Name, Plugin, Brand string
	// State is one of StateStarting, StateRunning, StateRestarting,
	// StateFailed, StateStopped.
	State string
	// Status is the connection state last reported by the plugin.
	Status sdk.Status
	// Manifest is the plugin's Describe answer (zero until it first ran).
	Manifest sdk.Manifest
	// Restarts counts restarts after the first start.
	Restarts int
	// LastError is the last launch, configure or crash error; secrets are
	// never part of it.
	LastError   string
	Attachments sdk.AttachmentPolicy
}

// StagedHeader describes one inbound attachment before its bytes.
type StagedHeader = wire.StagedHeader

// Staged is the outcome of staging one attachment.
type Staged = wire.Staged
