package pluginhost

import (
	"time"

	"github.com/patchbayhq/patchbay/internal/backoff"
)

// Supervision tunes how plugins are watched and restarted. The zero value of
// any field means its default.
type Supervision struct {
	// PingInterval is how often a running plugin gets a health check
	// (default 5s).
	PingInterval time.Duration
	// PingTimeout bounds one health check (default 3s).
	PingTimeout time.Duration
	// PingFailures consecutive failed health checks mark the plugin hung
	// (default 3).
	PingFailures int
	// ExitPoll is how often the process is checked for exit (default 250ms).
	ExitPoll time.Duration
	// MinBackoff is the wait before the first restart (default 500ms); it
	// doubles with every failed attempt up to MaxBackoff (default 30s),
	// with ±20% jitter. Restarts never give up.
	MinBackoff, MaxBackoff time.Duration
	// StableAfter resets the backoff once a plugin ran that long
	// (default 1m).
	StableAfter time.Duration
	// StartTimeout bounds handshake, Describe, Configure and Start
	// (default 30s).
	StartTimeout time.Duration
	// StopTimeout bounds the Stop RPC on shutdown before the process group
	// is killed (default 10s).
	StopTimeout time.Duration
	// WebhookTimeout bounds a webhook round trip through a plugin whose
	// manifest declares no WebhookTimeout (default 10s). A plugin that has
	// not answered by then (hung, or stuck in Deliver) gets a health check,
	// and the provider gets 503 with Retry-After, so it retries instead of
	// holding a connection to a plugin that will not answer.
	WebhookTimeout time.Duration
}

// DefaultSupervision returns the policy used when none is given.
func DefaultSupervision() Supervision {
	return Supervision{
		PingInterval: 5 * time.Second,
		PingTimeout:  3 * time.Second,
		PingFailures: 3,
		ExitPoll:     250 * time.Millisecond,
		MinBackoff:   500 * time.Millisecond,
		MaxBackoff:   30 * time.Second,
		StableAfter:  time.Minute,
		StartTimeout: 30 * time.Second,
		StopTimeout:  10 * time.Second,

		WebhookTimeout: 10 * time.Second,
	}
}

func (s Supervision) withDefaults() Supervision {
	d := DefaultSupervision()
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&s.PingInterval, d.PingInterval)
	set(&s.PingTimeout, d.PingTimeout)
	set(&s.ExitPoll, d.ExitPoll)
	set(&s.MinBackoff, d.MinBackoff)
	set(&s.MaxBackoff, d.MaxBackoff)
	set(&s.StableAfter, d.StableAfter)
	set(&s.StartTimeout, d.StartTimeout)
	set(&s.StopTimeout, d.StopTimeout)
	set(&s.WebhookTimeout, d.WebhookTimeout)
	if s.PingFailures <= 0 {
		s.PingFailures = d.PingFailures
	}
	if s.MaxBackoff < s.MinBackoff {
		s.MaxBackoff = s.MinBackoff
	}
	return s
}

// backoff returns the wait before attempt n (1: the first retry):
// MinBackoff·2^(n-1) capped at MaxBackoff, with ±20% jitter.
func (s Supervision) backoff(n int) time.Duration {
	return backoff.Policy{Base: s.MinBackoff, Max: s.MaxBackoff, JitterLow: 0.8, JitterHigh: 1.2}.Next(n)
}
