package slackchan

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/slack-go/slack/socketmode"

	"github.com/patchbayhq/patchbay/sdk"
)

// maxConcurrentEnvelopes bounds envelopes processed at once in Socket Mode,
// so one slow delivery does not hold up the others.
const maxConcurrentEnvelopes = 16

// runSocket keeps a Socket Mode connection open until ctx ends. The
// slack-go client reconnects on its own (Slack's disconnect requests, ping
// timeouts); when it gives up (bad token, Slack down), the channel reports
// it and starts over with capped backoff.
func (c *Channel) runSocket(ctx context.Context) {
	wait := time.Second
	for ctx.Err() == nil {
		_, _, api, log := c.state()
		smc := socketmode.New(api, socketmode.OptionLog(log.Named("socketmode").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})))
		runCtx, cancel := context.WithCancel(ctx)
		var connected atomic.Bool
		var wg sync.WaitGroup
		wg.Go(func() { c.consumeSocket(runCtx, smc, &connected) })
		err := smc.RunContext(runCtx)
		cancel()
		wg.Wait()
		c.setSocketUp(false)
		if ctx.Err() != nil {
			return
		}
		code := slackCode(err)
		if isAuthError(err) {
			log.Error("Socket Mode rejected the app token", "error", code)
			c.report(ctx, sdk.StateAuthFailed, "Slack rejected the app token: "+code)
		} else {
			log.Warn("Socket Mode connection ended", "error", code)
			c.report(ctx, sdk.StateDisconnected, "Socket Mode connection lost: "+code)
		}
		if connected.Load() {
			wait = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(wait*2, time.Minute)
	}
}

// consumeSocket reads the client's events until ctx ends. Envelopes are
// processed concurrently (bounded) and acknowledged only after the message
// was delivered; a failed delivery is not acknowledged, so Slack redelivers.
func (c *Channel) consumeSocket(ctx context.Context, smc *socketmode.Client, connected *atomic.Bool) {
	_, _, _, log := c.state()
	sem := make(chan struct{}, maxConcurrentEnvelopes)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		var evt socketmode.Event
		select {
		case <-ctx.Done():
			return
		case evt = <-smc.Events:
		}
		switch evt.Type {
		case socketmode.EventTypeConnected:
			connected.Store(true)
			c.setSocketUp(true)
			if c.identity(ctx).Known {
				c.report(ctx, sdk.StateConnected, "")
			}
		case socketmode.EventTypeConnecting:
			c.setSocketUp(false)
		case socketmode.EventTypeConnectionError:
			c.setSocketUp(false)
			c.report(ctx, sdk.StateDegraded, "Socket Mode connection failing, retrying")
		case socketmode.EventTypeInvalidAuth:
			c.report(ctx, sdk.StateAuthFailed, "Slack rejected the app token")
		case socketmode.EventTypeEventsAPI, socketmode.EventTypeErrorBadMessage,
			socketmode.EventTypeInteractive, socketmode.EventTypeSlashCommand:
			req, ok := envelopeOf(evt)
			if !ok {
				log.Warn("unreadable Socket Mode message dropped")
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				c.handleEnvelope(ctx, smc, req)
			})
		}
	}
}

func (c *Channel) setSocketUp(up bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.socketUp = up
}

// envelopeOf extracts the envelope id, type and payload of a Socket Mode
// request. slack-go reports events it cannot parse (unknown inner event
// types) as bad messages; they are recovered here so they can be
// acknowledged too.
func envelopeOf(evt socketmode.Event) (socketmode.Request, bool) {
	if evt.Request != nil && evt.Request.EnvelopeID != "" {
		return *evt.Request, true
	}
	if bad, ok := evt.Data.(*socketmode.ErrorBadMessage); ok {
		var req socketmode.Request
		if json.Unmarshal(bad.Message, &req) == nil && req.EnvelopeID != "" {
			return req, true
		}
	}
	return socketmode.Request{}, false
}

// handleEnvelope processes one envelope and acknowledges it unless the
// delivery failed.
func (c *Channel) handleEnvelope(ctx context.Context, smc *socketmode.Client, req socketmode.Request) {
	_, _, _, log := c.state()
	if req.Type == socketmode.RequestTypeEventsAPI {
		out, err := c.process(ctx, req.Payload)
		switch {
		case errors.Is(err, errMalformed):
			log.Warn("malformed Socket Mode event acknowledged and dropped", "envelope_id", req.EnvelopeID, "error", err.Error())
		case err != nil:
			// No ack: Slack redelivers the envelope.
			return
		case out.Kind == kindIgnore:
			log.Debug("Slack event acknowledged and ignored", "reason", out.Reason, "retry_attempt", req.RetryAttempt)
		}
	}
	if err := smc.AckCtx(ctx, req.EnvelopeID, nil); err != nil {
		log.Warn("Socket Mode ack failed", "envelope_id", req.EnvelopeID, "error", err)
	}
}
