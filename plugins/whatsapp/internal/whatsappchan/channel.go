// Package whatsappchan implements the WhatsApp Business Cloud API channel: the
// sdk.Channel that turns Meta's webhooks into inbound messages and delivery
// receipts, and sends agents' replies.
package whatsappchan

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/graph"
	"github.com/patchbayhq/patchbay/sdk"
)

// Version is the plugin's version, reported in the manifest.
const Version = "1.0.0"

// ReplyWindow is WhatsApp's customer service window: free-form replies are
// allowed for 24 hours after the customer's last message.
const ReplyWindow = 24 * time.Hour

// MaxMediaBytes is the largest file the Cloud API carries (documents, 100 MB).
const MaxMediaBytes = 100 << 20

// MaxWebhookBytes is the largest webhook body accepted. Meta's payloads are
// far smaller (a batch is capped at a few MB); the core caps bodies too.
const MaxWebhookBytes = 3 << 20

// Channel is the WhatsApp channel. The zero value is not usable; call New.
type Channel struct {
	rt atomic.Pointer[runtime]
	// statusLocks serialise the read-compare-write of one message's
	// delivery status (striped by message id).
	statusLocks [64]sync.Mutex
	recent      recentSends
	durable     seenSet
	lastState   atomic.Value // string: last state sent with ReportStatus

	// now and httpClient are replaceable in tests.
	now        func() time.Time
	httpClient *http.Client
}

// runtime is everything Configure sets, swapped atomically.
type runtime struct {
	cfg      Config
	instance string
	host     sdk.Host
	log      hclog.Logger
	client   *graph.Client
	policy   sdk.AttachmentPolicy
	// hc is the client's HTTP client; ownHTTP: made by Configure (not a
	// test's), so a later Configure closes its idle connections.
	hc      *http.Client
	ownHTTP bool
}

// New returns an unconfigured channel.
func New() *Channel {
	return &Channel{now: time.Now}
}

// Describe returns the manifest.
func (c *Channel) Describe(context.Context) (sdk.Manifest, error) {
	return sdk.Manifest{
		Kind:        "whatsapp",
		Version:     Version,
		DisplayName: "WhatsApp",
		Description: "WhatsApp Business Platform (Cloud API): customers' WhatsApp messages become tickets; replies go back as WhatsApp messages.",
		Capabilities: sdk.Capabilities{
			AttachmentsIn:      true,
			AttachmentsOut:     true,
			MaxAttachmentBytes: MaxMediaBytes,
			Threads:            false,
			HTML:               false,
			ReplyWindow:        ReplyWindow,
			Webhooks:           true,
		},
		ConfigFields: configFields(),
	}, nil
}

// Configure validates the config block and prepares the Graph API client.
func (c *Channel) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	var cfg Config
	if err := req.Decode(&cfg); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	if req.Host == nil {
		return errors.New("configure: no host")
	}
	log := req.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	hc, own := c.httpClient, false
	if hc == nil {
		hc, own = newGraphHTTPClient(), true
	}
	old := c.rt.Swap(&runtime{
		cfg:      cfg,
		instance: req.Instance,
		host:     req.Host,
		log:      log,
		client:   graph.New(cfg.APIURL, cfg.PhoneNumberID, cfg.AccessToken, hc),
		policy:   req.Attachments,
		ownHTTP:  own,
		hc:       hc,
	})
	if old != nil && old.ownHTTP {
		old.hc.CloseIdleConnections() // in-flight calls finish; idle ones go
	}
	log.Debug("whatsapp channel configured", "phone_number_id", cfg.PhoneNumberID, "api_url", cfg.APIURL, "template", cfg.Template != nil)
	return nil
}

// Start checks the credentials against the Graph API and reports the
// result. An unreachable API is reported, not fatal: webhooks still work.
func (c *Channel) Start(ctx context.Context) error {
	rt := c.rt.Load()
	if rt == nil {
		return errors.New("start: not configured")
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	pn, err := rt.client.GetPhoneNumber(ctx)
	if err != nil {
		var ae *graph.APIError
		switch {
		case errors.As(err, &ae) && ae.AuthFailed():
			c.report(ctx, rt, sdk.StateAuthFailed, "the access token was refused: "+ae.Message)
		default:
			c.report(ctx, rt, sdk.StateDegraded, "could not reach the Graph API: "+err.Error())
		}
		rt.log.Warn("whatsapp credentials check failed", "error", err)
		return nil
	}
	c.report(ctx, rt, sdk.StateConnected, fmt.Sprintf("%s (%s)", pn.VerifiedName, pn.DisplayPhoneNumber))
	return nil
}

// Stop has nothing to end: the channel runs no background receivers.
func (c *Channel) Stop(context.Context) error { return nil }

// report tells the core the connection state when it changed.
func (c *Channel) report(ctx context.Context, rt *runtime, state, msg string) {
	prev, _ := c.lastState.Load().(string)
	if prev == state+"\x00"+msg || (msg == "" && strings.HasPrefix(prev, state+"\x00")) {
		return
	}
	if err := rt.host.ReportStatus(ctx, sdk.Status{State: state, Message: msg}); err != nil {
		rt.log.Warn("report status failed", "error", err)
		return
	}
	c.lastState.Store(state + "\x00" + msg)
}

func (c *Channel) statusLock(id string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(id))
	return &c.statusLocks[h.Sum32()%uint32(len(c.statusLocks))]
}

// recentSends remembers the message ids returned by recent sends, so that a
// status webhook racing ahead of the core's record is retried rather than
// dropped.
type recentSends struct {
	mu        sync.Mutex
	ids       map[string]time.Time
	lastPrune time.Time
}

const recentSendTTL = 10 * time.Minute

func (r *recentSends) add(id string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids == nil {
		r.ids = make(map[string]time.Time)
	}
	if now.Sub(r.lastPrune) > time.Minute {
		for k, t := range r.ids {
			if now.Sub(t) > recentSendTTL {
				delete(r.ids, k)
			}
		}
		r.lastPrune = now
	}
	r.ids[id] = now
}

func (r *recentSends) has(id string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.ids[id]
	return ok && now.Sub(t) <= recentSendTTL
}
