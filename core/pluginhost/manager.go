package pluginhost

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patchbayhq/patchbay/sdk"
)

// Option tunes a Manager.
type Option func(*Manager)

// WithRegisterer registers the host's metrics (restarts, up, launch
// failures) on reg.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(m *Manager) { m.reg = reg }
}

// WithSupervision replaces the default supervision policy.
func WithSupervision(s Supervision) Option {
	return func(m *Manager) { m.sup = s }
}

// WithOnRunning calls fn with the channel's name each time its plugin
// reaches running (first start and every restart), e.g. to retry the
// replies that waited for it. fn runs on the supervisor's goroutine: it
// must not block.
func WithOnRunning(fn func(channel string)) Option {
	return func(m *Manager) { m.onRunning = fn }
}

// WithSecretSink calls fn with a channel's secret values (see
// Channel.SecretValues) when the Manager is built and again each
// time the channel's plugin describes itself, since its manifest may mark
// more config fields secret. The core passes them to its log scrubber
// (core/logscrub), so that no log line, the plugins' re-logged lines
// included, shows them. fn must be quick and safe for concurrent use.
func WithSecretSink(fn func(channel string, secrets []string)) Option {
	return func(m *Manager) { m.secretSink = fn }
}

// Manager runs one supervised plugin process per configured channel
// instance and routes webhooks and sends to them.
type Manager struct {
	opts    Options
	backend Backend
	logger  hclog.Logger
	reg     prometheus.Registerer
	sup     Supervision
	metrics *metrics
	// onRunning is called when a channel's plugin reaches running.
	onRunning func(channel string)
	// secretSink receives each channel's secret values.
	secretSink func(channel string, secrets []string)

	instances map[string]*instance
	names     []string

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New builds a Manager for the channels of o. backend serves the plugins'
// Host calls; it may be nil (validation), in which case those calls fail.
func New(o Options, backend Backend, logger hclog.Logger, opts ...Option) (*Manager, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	m := &Manager{opts: o, backend: backend, logger: logger.Named("pluginhost"), instances: map[string]*instance{}}
	for _, o := range opts {
		o(m)
	}
	m.sup = m.sup.withDefaults()
	met, err := newMetrics(m.reg)
	if err != nil {
		return nil, err
	}
	m.metrics = met
	for _, ch := range o.Channels {
		if _, dup := m.instances[ch.Name]; dup {
			return nil, fmt.Errorf("pluginhost: duplicate channel %q", ch.Name)
		}
		m.instances[ch.Name] = &instance{
			ch:        ch,
			path:      PluginPath(o.PluginDir, ch),
			publicURL: o.webhookURL(ch.Name),
			backend:   backend,
			sup:       m.sup,
			logger:    m.logger.With("channel", ch.Name, "plugin", ch.Plugin),
			metrics:   met,
			sink:      m.secretSink,
			inflight:  make(chan struct{}, cmp.Or(o.MaxWebhookInFlight, defaultMaxWebhookInFlight)),
			state:     StateStopped,
			kick:      make(chan struct{}, 1),
		}
		m.instances[ch.Name].inflightGauge = met.webhookInFlight.WithLabelValues(ch.Name)
		m.names = append(m.names, ch.Name)
		if m.secretSink != nil {
			m.secretSink(ch.Name, ch.secretValues())
		}
	}
	sort.Strings(m.names)
	return m, nil
}

// Start launches and supervises every channel's plugin. It returns once
// each has had its first launch attempt; a channel that fails to start is
// retried in the background and does not fail Start (other channels run).
// ctx bounds only the wait for those first attempts.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.started {
		m.mu.Unlock()
		return errors.New("pluginhost: manager already started")
	}
	m.started = true
	runCtx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.mu.Unlock()

	firsts := make([]chan struct{}, 0, len(m.instances))
	for _, name := range m.names {
		in := m.instances[name]
		in.onRunning = m.onRunning
		first := make(chan struct{})
		firsts = append(firsts, first)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			in.run(runCtx, first)
		}()
	}
	for _, first := range firsts {
		select {
		case <-first:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Stop stops every plugin (Stop RPC bounded by the supervision's
// StopTimeout, then the process group is killed) and waits for them, or
// until ctx ends.
func (m *Manager) Stop(ctx context.Context) error {
	m.mu.Lock()
	cancel := m.cancel
	m.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pluginhost: stopping plugins: %w", ctx.Err())
	}
}

// Channels describes every channel instance, sorted by name.
func (m *Manager) Channels() []ChannelInfo {
	out := make([]ChannelInfo, 0, len(m.names))
	for _, name := range m.names {
		out = append(out, m.instances[name].info())
	}
	return out
}

// Send delivers one outbound reply through the instance's plugin. Errors:
// ErrUnknownChannel; ErrUnavailable while the plugin is down (retry later);
// a *sdk.SendError from the plugin.
func (m *Manager) Send(ctx context.Context, instance string, msg *sdk.OutboundMessage) (*sdk.SendResult, error) {
	in, ok := m.instances[instance]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownChannel, instance)
	}
	s, _, err := in.current()
	if err != nil {
		return nil, err
	}
	res, err := s.conn.Send(ctx, msg)
	if err != nil {
		var se *sdk.SendError
		if !errors.As(err, &se) && pluginFailure(ctx, err, in.replaced(s)) {
			in.nudge()
			return nil, fmt.Errorf("%w: channel %q: %v", ErrUnavailable, instance, in.redact(err.Error()))
		}
		return nil, in.redactErr(err)
	}
	return res, nil
}

// pluginFailure reports whether a failed call (not a *sdk.SendError) was
// caused by the plugin's own process, not by the provider: so the
// provider never saw it, and the outbox spends no attempt on it.
//   - codes.Unavailable: the connection is gone (crash, kill, exit);
//   - codes.Canceled or DeadlineExceeded while the caller's context is
//     still live: the host's connection to the plugin is closing (the
//     supervisor replaced a hung plugin) or the plugin's transport ended the
//     call, not the caller;
//   - any error once the session that made the call is no longer the
//     running one (replaced is true): the plugin was restarted while the
//     call waited, including a caller deadline that ran out on a plugin the
//     supervisor was already restarting.
//
// What stays an attempt: the plugin answered with an error, or the caller's
// own deadline ran out on a plugin that is still the running one. That is
// a send with an unknown outcome (the plugin may have reached the provider
// before it stalled), retried with the same idempotency key
// (docs/guarantees.md).
func pluginFailure(ctx context.Context, err error, replaced bool) bool {
	if replaced {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable:
		return true
	case codes.Canceled, codes.DeadlineExceeded:
		return ctx.Err() == nil
	}
	return false
}

// Webhook forwards one provider request to the instance's plugin. Errors:
// ErrUnknownChannel; ErrUnavailable while the plugin is down.
func (m *Manager) Webhook(ctx context.Context, instance string, req *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
	in, ok := m.instances[instance]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownChannel, instance)
	}
	s, _, err := in.current()
	if err != nil {
		return nil, err
	}
	resp, err := s.conn.HandleWebhook(ctx, req)
	if err != nil && unavailable(err) {
		in.nudge()
		return nil, fmt.Errorf("%w: channel %q: %v", ErrUnavailable, instance, in.redact(err.Error()))
	}
	return resp, in.redactErr(err)
}
