// Package slackchan is Patchbay's Slack direct-message channel: a Slack app's
// bot user (the "handle") receives DMs through the Events API or Socket Mode
// and every DM becomes an sdk.InboundMessage; agent replies are posted back
// into the DM with chat.postMessage.
package slackchan

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/slack-go/slack"

	"github.com/patchbayhq/patchbay/sdk"
)

// Version is the plugin's version, reported in the manifest.
const Version = "0.1.0"

// DefaultDeliverTimeout bounds one Deliver (with its users.info lookup and
// file downloads) so that Slack gets its answer within its 3-second limit.
const DefaultDeliverTimeout = 2500 * time.Millisecond

// DefaultProfileTimeout bounds the users.info lookup inside a delivery.
const DefaultProfileTimeout = time.Second

// Channel is the Slack channel. Create it with New; the zero value is not usable.
type Channel struct {
	now            func() time.Time
	deliverTimeout time.Duration
	profileTimeout time.Duration
	httpClient     *http.Client

	mu     sync.Mutex
	cfg    Config
	host   sdk.Host
	log    hclog.Logger
	policy sdk.AttachmentPolicy
	api    *slack.Client
	self   selfInfo
	users  *userCache
	// socketUp is true while a Socket Mode connection is open.
	socketUp bool
	running  *runState // nil unless started
}

// selfInfo is who the handle is, learnt with auth.test.
type selfInfo struct {
	Known  bool
	UserID string
	BotID  string
	TeamID string
}

// runState holds the background work started by Start.
type runState struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Option adjusts a Channel; tests use them.
type Option func(*Channel)

// WithClock replaces the clock used for signature windows and caches.
func WithClock(now func() time.Time) Option { return func(c *Channel) { c.now = now } }

// WithDeliverTimeout replaces DefaultDeliverTimeout.
func WithDeliverTimeout(d time.Duration) Option { return func(c *Channel) { c.deliverTimeout = d } }

// WithProfileTimeout replaces DefaultProfileTimeout.
func WithProfileTimeout(d time.Duration) Option { return func(c *Channel) { c.profileTimeout = d } }

// WithHTTPClient replaces the HTTP client used for the Web API and files.
func WithHTTPClient(h *http.Client) Option { return func(c *Channel) { c.httpClient = h } }

// New returns an unconfigured Slack channel.
func New(opts ...Option) *Channel {
	c := &Channel{
		now:            time.Now,
		deliverTimeout: DefaultDeliverTimeout,
		profileTimeout: DefaultProfileTimeout,
		httpClient:     &http.Client{Timeout: 60 * time.Second},
		log:            hclog.NewNullLogger(),
		users:          newUserCache(),
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Describe returns the manifest.
func (c *Channel) Describe(context.Context) (sdk.Manifest, error) {
	return sdk.Manifest{
		Kind:        "slack",
		Version:     Version,
		DisplayName: "Slack",
		Description: "Direct messages to a Slack app's bot user (Events API or Socket Mode).",
		Capabilities: sdk.Capabilities{
			AttachmentsIn:      true,
			AttachmentsOut:     true,
			MaxAttachmentBytes: 1 << 30, // Slack's own file limit is 1 GB
			Webhooks:           true,
			// Slack gives up on an Events API request after 3 s; the core
			// answers 503 itself when this plugin has not answered by then.
			WebhookTimeout: 3 * time.Second,
		},
		ConfigFields: configFields(),
	}, nil
}

// Configure validates the config block and prepares the Web API client. It
// does not call Slack; Start does (auth.test).
func (c *Channel) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	cfg, err := parseConfig(req)
	if err != nil {
		return err
	}
	if req.Host == nil {
		return errors.New("slack: Configure without a Host")
	}
	logger := req.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	api := slack.New(cfg.BotToken,
		slack.OptionAPIURL(cfg.APIURL),
		slack.OptionAppLevelToken(cfg.AppToken),
		slack.OptionHTTPClient(c.httpClient),
		slack.OptionLog(logger.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})),
	)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg, c.host, c.log, c.policy, c.api = cfg, req.Host, logger, req.Attachments, api
	c.self = selfInfo{}
	c.users = newUserCache()
	return nil
}

// state returns a consistent snapshot of the configuration.
func (c *Channel) state() (Config, sdk.Host, *slack.Client, hclog.Logger) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg, c.host, c.api, c.log
}

// Start checks the bot token with auth.test (reporting connected or
// auth_failed) and, in socket mode, opens the Socket Mode connection. A
// Slack outage does not fail Start: the check is retried in the background
// and the status says degraded meanwhile.
func (c *Channel) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.api == nil {
		c.mu.Unlock()
		return errors.New("slack: Start before Configure")
	}
	if c.running != nil {
		c.mu.Unlock()
		return nil
	}
	runCtx, cancel := context.WithCancel(context.Background())
	rs := &runState{cancel: cancel}
	c.running = rs
	mode := c.cfg.Mode
	c.mu.Unlock()

	authErr := c.authTest(ctx)
	if authErr != nil && !isAuthError(authErr) {
		rs.wg.Go(func() { c.retryAuthTest(runCtx) })
	}
	if mode == ModeSocket {
		rs.wg.Go(func() { c.runSocket(runCtx) })
	}
	return nil
}

// Stop ends background work and waits for it (bounded by ctx).
func (c *Channel) Stop(ctx context.Context) error {
	c.mu.Lock()
	rs := c.running
	c.running = nil
	c.mu.Unlock()
	if rs == nil {
		return nil
	}
	rs.cancel()
	done := make(chan struct{})
	go func() { rs.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("slack: stop: %w", ctx.Err())
	}
}

// authTest calls auth.test, records who the handle is and reports the
// channel status. In socket mode "connected" waits for the websocket.
func (c *Channel) authTest(ctx context.Context) error {
	cfg, _, api, log := c.state()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := api.AuthTestContext(ctx)
	if err != nil {
		code := slackCode(err)
		log.Warn("auth.test failed", "error", code)
		if isAuthError(err) {
			c.report(ctx, sdk.StateAuthFailed, "Slack rejected the bot token: "+code)
		} else {
			c.report(ctx, sdk.StateDegraded, "cannot reach Slack: "+code)
		}
		return err
	}
	c.mu.Lock()
	c.self = selfInfo{Known: true, UserID: resp.UserID, BotID: resp.BotID, TeamID: resp.TeamID}
	socketUp := c.socketUp
	c.mu.Unlock()
	log.Info("slack handle identified", "team_id", resp.TeamID, "user_id", resp.UserID, "bot_id", resp.BotID)
	if cfg.Mode == ModeEvents || socketUp {
		c.report(ctx, sdk.StateConnected, "")
	}
	return nil
}

// retryAuthTest repeats auth.test with capped backoff until it succeeds,
// fails for good (bad token), or ctx ends.
func (c *Channel) retryAuthTest(ctx context.Context) {
	wait := time.Second
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		err := c.authTest(ctx)
		if err == nil || isAuthError(err) {
			return
		}
		wait = min(wait*2, time.Minute)
	}
}

// identity returns the handle's identity, calling auth.test once more if
// Start could not.
func (c *Channel) identity(ctx context.Context) selfInfo {
	c.mu.Lock()
	s := c.self
	c.mu.Unlock()
	if s.Known {
		return s
	}
	_ = c.authTest(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.self
}

// report sends a status to the core; failures are only logged.
func (c *Channel) report(ctx context.Context, state, msg string) {
	_, host, _, log := c.state()
	if host == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := host.ReportStatus(ctx, sdk.Status{State: state, Message: msg}); err != nil {
		log.Warn("report status failed", "state", state, "error", err)
	}
}
