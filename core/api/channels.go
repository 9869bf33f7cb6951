package api

import (
	"net/http"
	"time"

	"github.com/patchbayhq/patchbay/core/outbox"

	"github.com/patchbayhq/patchbay/sdk"
)

// ChannelInfo is one channel instance as the API shows it. It has the
// fields of pluginhost.ChannelInfo, same names, types and order, so that
// the command converts one to the other with api.ChannelInfo(c) (see the
// package doc) and the API does not depend on the plugin host. Keep them in
// step.
type ChannelInfo struct {
	Name, Plugin, Brand string
	// State is the supervisor's state: "starting", "running",
	// "restarting", "failed", "stopped".
	State string
	// Status is the connection state last reported by the plugin.
	Status      sdk.Status
	Manifest    sdk.Manifest
	Restarts    int
	LastError   string
	Attachments sdk.AttachmentPolicy
}

// ChannelLister lists channel instances, sorted by name.
type ChannelLister interface {
	Channels() []ChannelInfo
}

// ChannelsFunc adapts a function to ChannelLister.
type ChannelsFunc func() []ChannelInfo

// Channels calls f.
func (f ChannelsFunc) Channels() []ChannelInfo { return f() }

// channelJSON is the wire shape of a channel. It carries no configuration:
// secrets never leave the core.
type channelJSON struct {
	Name         string           `json:"name"`
	Plugin       string           `json:"plugin"`
	Brand        string           `json:"brand,omitempty"`
	State        string           `json:"state"`
	Status       channelStatus    `json:"status"`
	Version      string           `json:"version,omitempty"`
	Capabilities capabilitiesJSON `json:"capabilities"`
	Attachments  attachmentPolicy `json:"attachments"`
	Restarts     int              `json:"restarts"`
	LastError    string           `json:"last_error,omitempty"`
	// Degraded: the channel's last sends all failed (see Outbox).
	Degraded bool        `json:"degraded"`
	Outbox   *outboxJSON `json:"outbox,omitempty"`
}

// outboxJSON is a channel's reply queue.
type outboxJSON struct {
	Depth               int        `json:"depth"`
	WaitingForPlugin    int        `json:"waiting_for_plugin"`
	OldestPendingAt     *time.Time `json:"oldest_pending_at"`
	Failed              int        `json:"failed"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	LastError           string     `json:"last_error,omitempty"`
	LastErrorAt         *time.Time `json:"last_error_at,omitempty"`
}

func toOutboxJSON(st outbox.ChannelStatus) *outboxJSON {
	o := &outboxJSON{Depth: st.Depth, WaitingForPlugin: st.Waiting, Failed: st.Failed, ConsecutiveFailures: st.ConsecutiveFailures, LastError: st.LastError}
	if !st.OldestPending.IsZero() {
		t := st.OldestPending.UTC()
		o.OldestPendingAt = &t
	}
	if !st.LastErrorAt.IsZero() {
		t := st.LastErrorAt.UTC()
		o.LastErrorAt = &t
	}
	return o
}

type channelStatus struct {
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
}

type capabilitiesJSON struct {
	AttachmentsIn      bool  `json:"attachments_in"`
	AttachmentsOut     bool  `json:"attachments_out"`
	MaxAttachmentBytes int64 `json:"max_attachment_bytes,omitempty"`
	Threads            bool  `json:"threads"`
	HTML               bool  `json:"html"`
	ReplyWindowSeconds int64 `json:"reply_window_seconds,omitempty"`
	Webhooks           bool  `json:"webhooks"`
}

type attachmentPolicy struct {
	Allow    []string `json:"allow"`
	MaxBytes int64    `json:"max_bytes,omitempty"`
}

func toChannelJSON(c ChannelInfo) channelJSON {
	caps := c.Manifest.Capabilities
	allow := c.Attachments.Allow
	if allow == nil {
		allow = []string{}
	}
	return channelJSON{
		Name:    c.Name,
		Plugin:  c.Plugin,
		Brand:   c.Brand,
		State:   c.State,
		Status:  channelStatus{State: c.Status.State, Message: c.Status.Message},
		Version: c.Manifest.Version,
		Capabilities: capabilitiesJSON{
			AttachmentsIn:      caps.AttachmentsIn,
			AttachmentsOut:     caps.AttachmentsOut,
			MaxAttachmentBytes: caps.MaxAttachmentBytes,
			Threads:            caps.Threads,
			HTML:               caps.HTML,
			ReplyWindowSeconds: int64(caps.ReplyWindow.Seconds()),
			Webhooks:           caps.Webhooks,
		},
		Attachments: attachmentPolicy{Allow: allow, MaxBytes: c.Attachments.MaxBytes},
		Restarts:    c.Restarts,
		LastError:   c.LastError,
	}
}

func (s *Server) listChannels(w http.ResponseWriter, r *http.Request) error {
	out := []channelJSON{}
	var queues map[string]outbox.ChannelStatus
	if s.outbox != nil {
		var err error
		if queues, err = s.outbox.ChannelStatus(); err != nil {
			return storeError(err)
		}
	}
	if s.channels != nil {
		for _, c := range s.channels.Channels() {
			cj := toChannelJSON(c)
			if s.outbox != nil {
				st := queues[c.Name]
				cj.Degraded, cj.Outbox = st.Degraded, toOutboxJSON(st)
			}
			out = append(out, cj)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"channels": out})
	return nil
}
