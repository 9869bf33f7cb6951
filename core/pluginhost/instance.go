package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patchbayhq/patchbay/sdk"
)

// session is one running plugin process: a go-plugin client is good for one
// process only, so every (re)start makes a new session.
type session struct {
	client  *plugin.Client
	conn    channelConn
	pid     int
	started time.Time
	// webhookTimeout bounds one webhook round trip (the manifest's
	// WebhookTimeout, or Supervision.WebhookTimeout).
	webhookTimeout time.Duration
}

// instance supervises the plugin of one channel instance.
type instance struct {
	ch        Channel
	path      string
	publicURL string
	backend   Backend
	sup       Supervision
	logger    hclog.Logger
	metrics   *metrics
	// sink receives the channel's secret values (WithSecretSink); may be nil.
	sink func(channel string, secrets []string)
	// inflight holds one slot per webhook request being read or handled
	// (http.max_webhook_in_flight).
	inflight chan struct{}
	// inflightGauge shows len(inflight) as patchbay_webhooks_in_flight.
	inflightGauge prometheus.Gauge

	// kick asks the watcher for an immediate check (a call failed with
	// Unavailable).
	kick chan struct{}

	// onRunning, when set, is called each time the plugin reaches running.
	onRunning func(channel string)

	// beforeLaunch, when set (tests), runs before every launch attempt.
	beforeLaunch func(ctx context.Context, name string, attempt int)

	mu        sync.RWMutex
	state     string
	sess      *session
	status    sdk.Status
	manifest  sdk.Manifest
	restarts  int
	lastErr   string
	nextStart time.Time
}

func (in *instance) info() ChannelInfo {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return ChannelInfo{
		Name:        in.ch.Name,
		Plugin:      in.ch.Plugin,
		Brand:       in.ch.Brand,
		State:       in.state,
		Status:      in.status,
		Manifest:    in.manifest,
		Restarts:    in.restarts,
		LastError:   in.lastErr,
		Attachments: in.ch.Attachments,
	}
}

// current returns the running session, or ErrUnavailable and when the next
// start attempt is due.
func (in *instance) current() (*session, time.Time, error) {
	in.mu.RLock()
	defer in.mu.RUnlock()
	if in.state != StateRunning || in.sess == nil {
		return nil, in.nextStart, fmt.Errorf("%w: channel %q is %s", ErrUnavailable, in.ch.Name, in.state)
	}
	return in.sess, time.Time{}, nil
}

// replaced reports whether s is no longer the running session: the plugin
// exited, was found hung and killed, or was restarted since s was current.
func (in *instance) replaced(s *session) bool {
	cur, _, err := in.current()
	return err != nil || cur != s
}

func (in *instance) setState(state string, sess *session, errMsg string, next time.Time) {
	in.mu.Lock()
	in.state = state
	in.sess = sess
	if errMsg != "" {
		in.lastErr = errMsg
	}
	in.nextStart = next
	in.mu.Unlock()
	up := 0.0
	if state == StateRunning {
		up = 1
	}
	in.metrics.up.WithLabelValues(in.ch.Name).Set(up)
}

// setStatus keeps the plugin's reported status with its secrets removed
// and returns what it kept.
func (in *instance) setStatus(s sdk.Status) sdk.Status {
	s.Message = in.redact(s.Message)
	in.mu.Lock()
	in.status = s
	in.mu.Unlock()
	return s
}

// run launches the plugin and keeps it running until ctx ends, then stops
// it. It never gives up: failed launches and crashes are retried with
// capped exponential backoff.
//
// first is closed after the first launch attempt.
func (in *instance) run(ctx context.Context, first chan<- struct{}) {
	var once sync.Once
	signalFirst := func() { once.Do(func() { close(first) }) }
	defer signalFirst()
	attempt := 0
	for {
		if in.beforeLaunch != nil {
			in.beforeLaunch(ctx, in.ch.Name, attempt)
		}
		if ctx.Err() != nil {
			in.setState(StateStopped, nil, "", time.Time{})
			return
		}
		if attempt == 0 {
			in.setState(StateStarting, nil, "", time.Time{})
		}
		sess, err := in.launch(ctx)
		var lastErr string
		failState := StateRestarting
		if err != nil {
			if ctx.Err() != nil {
				in.setState(StateStopped, nil, "", time.Time{})
				return
			}
			lastErr = in.redact(err.Error())
			in.metrics.launches.WithLabelValues(in.ch.Name).Inc()
			if permanent(err) {
				failState = StateFailed
			}
			in.logger.Error("plugin failed to start", "error", lastErr, "attempt", attempt+1)
		} else {
			// LastError keeps the reason of the last failure for operators.
			in.setState(StateRunning, sess, "", time.Time{})
			signalFirst()
			if in.onRunning != nil {
				in.onRunning(in.ch.Name)
			}
			in.logger.Info("plugin running", "pid", sess.pid)
			reason := in.watch(ctx, sess)
			if ctx.Err() != nil {
				in.setState(StateStopped, nil, "", time.Time{})
				in.stopSession(sess, stopGraceful)
				return
			}
			lastErr = reason
			in.logger.Error("plugin down, restarting", "reason", reason, "pid", sess.pid)
			in.setState(StateRestarting, nil, reason, time.Time{})
			in.setStatus(sdk.Status{}) // what the dead process reported no longer holds
			in.stopSession(sess, stopHard)
			if time.Since(sess.started) >= in.sup.StableAfter {
				attempt = 0
			}
		}
		attempt++
		delay := in.sup.backoff(attempt)
		in.setState(failState, nil, lastErr, time.Now().Add(delay))
		signalFirst()
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			in.setState(StateStopped, nil, "", time.Time{})
			return
		case <-t.C:
		}
		in.mu.Lock()
		in.restarts++
		in.mu.Unlock()
		in.metrics.restarts.WithLabelValues(in.ch.Name).Inc()
	}
}

// permanent reports launch errors that a restart alone will not fix; the
// channel shows "failed" (it is still retried, so a fixed binary or a
// plugin that starts accepting its configuration recovers).
func permanent(err error) bool {
	var fe sdk.FieldErrors
	return errors.Is(err, ErrChecksumMismatch) || errors.Is(err, ErrPluginNotFound) || errors.Is(err, ErrIncompatible) || errors.As(err, &fe)
}

// launch starts one plugin process and brings it to running: handshake,
// Describe, Configure, Start.
func (in *instance) launch(ctx context.Context) (*session, error) {
	if err := checkBinary(in.path, in.ch.SHA256); err != nil {
		return nil, err
	}
	sess, err := startSession(in.path, in.ch.SHA256, in.logger, newHostBackend(in), in.sup.StartTimeout)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, in.sup.StartTimeout)
	defer cancel()
	fail := func(err error) (*session, error) {
		in.stopSession(sess, stopQuiet)
		return nil, err
	}
	m, err := sess.conn.Describe(ctx)
	if err != nil {
		return fail(fmt.Errorf("describe: %w", err))
	}
	if m.Kind != in.ch.Plugin {
		return fail(fmt.Errorf("%w: %s describes itself as kind %q, the channel wants %q", ErrPluginNotFound, in.path, m.Kind, in.ch.Plugin))
	}
	in.mu.Lock()
	in.manifest = m
	in.mu.Unlock()
	if in.sink != nil {
		// Before Configure: a plugin that echoes a manifest-secret field
		// from now on is scrubbed in the core's log.
		in.sink(in.ch.Name, in.ch.secretValues(secretFieldNames(m)...))
	}
	sess.webhookTimeout = in.sup.WebhookTimeout
	if t := m.Capabilities.WebhookTimeout; t > 0 {
		sess.webhookTimeout = t
	}
	if err := sess.conn.Configure(ctx, configureArgs{
		Instance:    in.ch.Name,
		Config:      in.ch.Config,
		Attachments: in.ch.Attachments,
		PublicURL:   in.publicURL,
	}); err != nil {
		return fail(fmt.Errorf("configure: %w", err))
	}
	if err := sess.conn.Start(ctx); err != nil {
		return fail(fmt.Errorf("start: %w", err))
	}
	return sess, nil
}

// watch returns why the session ended: process exit or failed health
// checks; "" when ctx ended.
func (in *instance) watch(ctx context.Context, s *session) string {
	poll := time.NewTicker(in.sup.ExitPoll)
	defer poll.Stop()
	ping := time.NewTicker(in.sup.PingInterval)
	defer ping.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return ""
		case <-poll.C:
			if s.client.Exited() {
				return "plugin process exited"
			}
		case <-in.kick:
			if s.client.Exited() {
				return "plugin process exited"
			}
			pctx, cancel := context.WithTimeout(ctx, in.sup.PingTimeout)
			err := s.conn.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil && unavailable(err) {
				return fmt.Sprintf("plugin connection lost: %v", err)
			}
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, in.sup.PingTimeout)
			err := s.conn.Ping(pctx)
			cancel()
			if ctx.Err() != nil {
				return ""
			}
			if err == nil {
				failures = 0
				continue
			}
			failures++
			in.logger.Warn("plugin health check failed", "error", err, "consecutive", failures)
			if failures >= in.sup.PingFailures {
				return fmt.Sprintf("plugin stopped answering health checks (%d failed in a row): %v", failures, err)
			}
		}
	}
}

// How a session is ended.
type stopMode int

const (
	// stopGraceful: Stop RPC (bounded by StopTimeout), then go-plugin's
	// shutdown; for a running plugin on shutdown.
	stopGraceful stopMode = iota
	// stopQuiet: go-plugin's shutdown only; for a plugin that never
	// started its receivers (failed Configure, validation, Describe).
	stopQuiet
	// stopHard: kill the process group at once; for a crashed or hung
	// plugin.
	stopHard
)

// stopSession ends a session. Whatever the mode, the whole process group is
// killed at the end, so nothing the plugin spawned survives it.
func (in *instance) stopSession(s *session, mode stopMode) {
	switch mode {
	case stopGraceful:
		ctx, cancel := context.WithTimeout(context.Background(), in.sup.StopTimeout)
		if err := s.conn.Stop(ctx); err != nil {
			in.logger.Warn("plugin Stop failed", "error", err)
		}
		cancel()
	case stopHard:
		killGroup(s.pid)
	}
	done := make(chan struct{})
	go func() {
		s.client.Kill()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		// A hung plugin or a child holding its stderr keeps go-plugin
		// waiting; the group kill releases it.
	}
	killGroup(s.pid)
	<-done
}

// nudge asks the watcher to check the plugin now.
func (in *instance) nudge() {
	select {
	case in.kick <- struct{}{}:
	default:
	}
}

// unavailable reports whether a call error means the plugin went away
// (rather than the plugin answering with an error).
func unavailable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable:
		return true
	}
	return false
}
