// Package inbound turns messages delivered by channel plugins into tickets
// and comments. Service implements pluginhost.Backend: the host forwards
// each plugin's Host calls here, scoped to the plugin's instance.
package inbound

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/internal/ratelog"
	"github.com/patchbayhq/patchbay/sdk"
)

// Errors returned to plugins.
var (
	// ErrUnknownInstance is returned for a call naming no configured
	// channel instance.
	ErrUnknownInstance = errors.New("unknown channel instance")
	// ErrInvalidMessage is returned for a message the core cannot store
	// (no provider id, no author); nothing is stored.
	ErrInvalidMessage = errors.New("invalid inbound message")
	// ErrUnknownAttachment is returned by Deliver for a staged id that does
	// not exist (collected, or of another instance); nothing is stored and
	// the plugin should stage the file again.
	ErrUnknownAttachment = errors.New("unknown staged attachment")
)

// Options configure a Service.
type Options struct {
	Logger hclog.Logger
	// Clock is the time source (tests inject one); nil is time.Now.
	Clock func() time.Time
	// StagedTTL is how long an unreferenced staged attachment is kept
	// (default 24h).
	StagedTTL time.Duration
	// SweepInterval is how often Run collects staged files (default 1m).
	// Closing solved tickets is an automation of core/rules.
	SweepInterval time.Duration
	// Registerer receives the inbound metrics; nil: not registered.
	Registerer prometheus.Registerer
	// MaxRawBytes bounds a raw payload the core keeps (default and
	// ceiling MaxRawBytes); a larger one is dropped with the reason in the
	// comment's metadata and the message is stored without it.
	MaxRawBytes int64
}

// Service is the inbound side of the core: pluginhost.Backend.
type Service struct {
	st      *store.Store
	log     hclog.Logger
	opts    Options
	metrics *metrics
	// quiet rate-limits the log line of a message refused for lack of disk
	// space: a full disk refuses every message.
	quiet *ratelog.Limiter

	mu        sync.RWMutex
	instances map[string]Instance
}

// QuietInterval is the least time between two log lines about messages of
// one instance refused for lack of disk space; each line counts the
// refusals it stands for.
const QuietInterval = 10 * time.Second

// New returns a Service over the store for these channel instances.
func New(st *store.Store, instances []Instance, opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.StagedTTL <= 0 {
		opts.StagedTTL = 24 * time.Hour
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Minute
	}
	if opts.MaxRawBytes <= 0 || opts.MaxRawBytes > MaxRawBytes {
		opts.MaxRawBytes = MaxRawBytes
	}
	s := &Service{st: st, log: opts.Logger, opts: opts, metrics: newMetrics(opts.Registerer), quiet: ratelog.New(QuietInterval)}
	s.SetInstances(instances)
	return s
}

// SetInstances replaces the table of channel instances (on config reload).
func (s *Service) SetInstances(instances []Instance) {
	m := make(map[string]Instance, len(instances))
	for _, i := range instances {
		m[i.Name] = i
	}
	s.mu.Lock()
	s.instances = m
	s.mu.Unlock()
}

func (s *Service) instance(name string) (Instance, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, ok := s.instances[name]
	if !ok {
		return Instance{}, fmt.Errorf("%w: %q", ErrUnknownInstance, name)
	}
	return i, nil
}

// UpdateDelivery applies a provider receipt to the outbound reply the
// provider knows as u.ExternalID on this instance. found is false for an
// unknown id. Receipts that would move the status backwards (read →
// delivered) are accepted and ignored.
func (s *Service) UpdateDelivery(ctx context.Context, instance string, u sdk.DeliveryUpdate) (bool, error) {
	if _, err := s.instance(instance); err != nil {
		return false, err
	}
	if u.ExternalID == "" {
		return false, fmt.Errorf("%w: receipt without provider message id", ErrInvalidMessage)
	}
	found := false
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		found = false
		c, err := tx.CommentByOutboundID(instance, u.ExternalID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		d := ticket.Delivery{Status: ticket.DeliverySent, ExternalID: u.ExternalID}
		if c.Delivery != nil {
			d = *c.Delivery
		}
		at := u.At
		if at.IsZero() {
			at = tx.Now()
		}
		changed, err := ticket.ApplyReceipt(&d, u.Status, u.Error, at)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidMessage, err)
		}
		if !changed {
			return nil
		}
		_, err = tx.UpdateDelivery(c.ID, &d)
		return err
	})
	return found, err
}

// GetState returns the instance's value for key.
func (s *Service) GetState(ctx context.Context, instance, key string) ([]byte, bool, error) {
	if _, err := s.instance(instance); err != nil {
		return nil, false, err
	}
	var v []byte
	var ok bool
	err := s.st.View(func(r *store.ReadTx) error {
		var err error
		v, ok, err = r.State(instance, key)
		return err
	})
	return v, ok, err
}

// SetState stores the instance's value for key durably.
func (s *Service) SetState(ctx context.Context, instance, key string, value []byte) error {
	if _, err := s.instance(instance); err != nil {
		return err
	}
	return s.st.Update(ctx, func(tx *store.Tx) error { return tx.SetState(instance, key, value) })
}

// DeleteState removes the instance's value for key.
func (s *Service) DeleteState(ctx context.Context, instance, key string) error {
	if _, err := s.instance(instance); err != nil {
		return err
	}
	return s.st.Update(ctx, func(tx *store.Tx) error { return tx.DeleteState(instance, key) })
}

// Run collects unreferenced staged attachments every SweepInterval until
// ctx ends, driven by the persisted staged-time index, so a restart loses
// nothing. (Solved tickets are closed by the editable "close solved
// tickets" automation of core/rules.)
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		if n, err := s.CollectStaged(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("staged attachment collection failed", "error", err)
		} else if n > 0 {
			s.log.Debug("staged attachments collected", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// CollectStaged removes staged attachments older than StagedTTL that no
// Deliver claimed.
func (s *Service) CollectStaged(ctx context.Context) (int, error) {
	return s.st.CollectStaged(ctx, s.opts.Clock().Add(-s.opts.StagedTTL))
}
