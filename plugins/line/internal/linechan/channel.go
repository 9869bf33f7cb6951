// Package linechan is the LINE channel: customers' 1:1 chats with a LINE
// Official Account become tickets, agents' public replies go back as push
// messages (docs/channels/line.md).
package linechan

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"

	"github.com/patchbayhq/patchbay/sdk"
)

// version is the plugin's own version, reported in the manifest.
const version = "0.1.0"

// Timeouts of the calls this plugin makes to LINE.
const (
	pushTimeout     = 30 * time.Second
	profileTimeout  = 5 * time.Second
	contentTimeout  = 2 * time.Minute
	botInfoTimeout  = 10 * time.Second
	profileCacheTTL = time.Hour
	profileCacheMax = 10000
)

// New returns an unconfigured LINE channel, for sdk.Serve.
func New() *Channel { return &Channel{} }

// Channel is the LINE channel: one LINE Official Account's Messaging API
// channel. The zero value is ready for Describe and Configure.
type Channel struct {
	mu sync.RWMutex
	rt *runtime

	statusMu   sync.Mutex
	lastStatus string
}

// runtime is everything Configure derives from the instance configuration.
// It is replaced as a whole on reconfiguration, never mutated.
type runtime struct {
	instance  string
	cfg       config
	host      sdk.Host
	log       hclog.Logger
	policy    sdk.AttachmentPolicy
	publicURL string
	http      *http.Client
	linkKey   []byte
	profiles  *profileCache
	now       func() time.Time
}

var errNotConfigured = errors.New("line: channel is not configured")

// Describe returns the manifest.
func (c *Channel) Describe(ctx context.Context) (sdk.Manifest, error) {
	return sdk.Manifest{
		Kind:        "line",
		Version:     version,
		DisplayName: "LINE",
		Description: "1:1 chats with a LINE Official Account through the LINE Messaging API (webhooks in, push messages out).",
		Capabilities: sdk.Capabilities{
			AttachmentsIn:  true,
			AttachmentsOut: true,
			Webhooks:       true,
		},
		ConfigFields: configFields(),
	}, nil
}

// Configure validates the config block and prepares the API clients.
func (c *Channel) Configure(ctx context.Context, req sdk.ConfigureRequest) error {
	cfg, err := parseConfig(req)
	if err != nil {
		return err
	}
	if req.Host == nil {
		return errors.New("line: configure: no host")
	}
	logger := req.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	rt := &runtime{
		instance:  req.Instance,
		cfg:       cfg,
		host:      req.Host,
		log:       logger,
		policy:    req.Attachments,
		publicURL: req.PublicURL,
		http:      newHTTPClient(),
		linkKey:   deriveKey(cfg.ChannelSecret, "patchbay-line-file-link-v1"),
		profiles:  newProfileCache(profileCacheTTL, profileCacheMax),
		now:       time.Now,
	}
	c.mu.Lock()
	c.rt = rt
	c.mu.Unlock()
	return nil
}

// Start checks the access token against the bot info endpoint and reports
// the result as the channel status. LINE pushes webhooks, so there is no
// receiver to start; a failed check never fails Start.
func (c *Channel) Start(ctx context.Context) error {
	rt, err := c.runtime()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, botInfoTimeout)
	defer cancel()
	api, err := rt.api(ctx)
	if err != nil {
		return err
	}
	res, info, err := api.GetBotInfoWithHttpInfo()
	switch {
	case err == nil:
		rt.log.Info("line channel ready", "bot_user_id", info.UserId, "basic_id", info.BasicId)
		c.report(ctx, rt, sdk.StateConnected, "")
	case res != nil && res.StatusCode == http.StatusUnauthorized:
		c.report(ctx, rt, sdk.StateAuthFailed, "LINE rejected the channel access token (401)")
	default:
		c.report(ctx, rt, sdk.StateDegraded, "LINE API unreachable: "+describeHTTPFailure(res, err))
	}
	if res != nil && res.Body != nil {
		_ = res.Body.Close()
	}
	return nil
}

// Stop has nothing to stop: webhooks are answered synchronously.
func (c *Channel) Stop(ctx context.Context) error { return nil }

func (c *Channel) runtime() (*runtime, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.rt == nil {
		return nil, errNotConfigured
	}
	return c.rt, nil
}

// report tells the core the channel state when it changed.
func (c *Channel) report(ctx context.Context, rt *runtime, state, msg string) {
	c.statusMu.Lock()
	changed := c.lastStatus != state
	c.lastStatus = state
	c.statusMu.Unlock()
	if !changed {
		return
	}
	if err := rt.host.ReportStatus(ctx, sdk.Status{State: state, Message: msg}); err != nil {
		rt.log.Warn("report status failed", "state", state, "error", err)
	}
}

// api returns a Messaging API client bound to ctx. The library keeps the
// context on the client, so each call gets its own client.
func (rt *runtime) api(ctx context.Context) (*messaging_api.MessagingApiAPI, error) {
	api, err := messaging_api.NewMessagingApiAPI(rt.cfg.ChannelAccessToken,
		messaging_api.WithEndpoint(rt.cfg.APIURL), messaging_api.WithHTTPClient(rt.http))
	if err != nil {
		return nil, err
	}
	return api.WithContext(ctx), nil
}

// blob returns a data API client bound to ctx.
func (rt *runtime) blob(ctx context.Context) (*messaging_api.MessagingApiBlobAPI, error) {
	api, err := messaging_api.NewMessagingApiBlobAPI(rt.cfg.ChannelAccessToken,
		messaging_api.WithBlobEndpoint(rt.cfg.DataAPIURL), messaging_api.WithBlobHTTPClient(rt.http))
	if err != nil {
		return nil, err
	}
	return api.WithContext(ctx), nil
}

// newHTTPClient returns the client for LINE calls. Deadlines come from each
// call's context; the transport bounds connection setup.
func newHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: time.Minute,
			MaxIdleConnsPerHost:   8,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// deriveKey derives a purpose-specific key from the channel secret, so the
// secret itself never signs anything but LINE's own webhooks.
func deriveKey(secret, purpose string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
