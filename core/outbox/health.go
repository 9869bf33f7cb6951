package outbox

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/patchbayhq/patchbay/core/store"
)

// DegradeAfter is how many send attempts in a row must fail before a
// channel shows as degraded; one successful send clears it.
const DegradeAfter = 3

// statsMaxAge bounds how old the store part of a ChannelStatus snapshot
// may be: it reads every queued entry, so scrapes and API calls share it.
const statsMaxAge = 2 * time.Second

// ChannelStatus is the outbox state of one channel instance.
type ChannelStatus struct {
	// Depth is how many replies are queued (pending); Waiting how many of
	// them wait for the channel's plugin to run.
	Depth, Waiting int
	// OldestPending is when the oldest queued reply was queued (zero:
	// none).
	OldestPending time.Time
	// Failed is how many replies the outbox gave up on and nobody retried
	// since.
	Failed int
	// Degraded is set while the channel's last DegradeAfter or more send
	// attempts all failed (provider errors, timeouts, plugin down);
	// ConsecutiveFailures counts them, LastError and LastErrorAt describe
	// the latest (kept after recovery, for the post-mortem).
	Degraded            bool
	ConsecutiveFailures int
	LastError           string
	LastErrorAt         time.Time
}

// channelHealth tracks send outcomes per channel in memory.
type channelHealth struct {
	mu sync.Mutex
	m  map[string]*chanState
}

type chanState struct {
	failures  int
	lastErr   string
	lastErrAt time.Time
}

// note records one attempt's result ("sent", "retry", "waiting",
// "failed") and reports whether it was a success after failures.
func (h *channelHealth) note(instance, result string, err error, now time.Time) (recovered bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[string]*chanState{}
	}
	st := h.m[instance]
	if st == nil {
		st = &chanState{}
		h.m[instance] = st
	}
	if result == "sent" {
		recovered = st.failures > 0
		st.failures = 0
		return recovered
	}
	st.failures++
	if err != nil {
		st.lastErr = err.Error()
	}
	st.lastErrAt = now
	return false
}

func (h *channelHealth) get(instance string) (chanState, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.m[instance]
	if !ok {
		return chanState{}, false
	}
	return *st, true
}

func (h *channelHealth) instances() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.m))
	for k := range h.m {
		out = append(out, k)
	}
	return out
}

// statsCache holds the last store snapshot of the outbox.
type statsCache struct {
	mu    sync.Mutex
	at    time.Time
	stats map[string]*store.OutboxStats
}

// ChannelStatus returns the outbox state of every channel instance that
// has queued or failed replies or has been sent to since the start. The
// store part (depth, oldest, failed) is at most two seconds old.
func (w *Worker) ChannelStatus() (map[string]ChannelStatus, error) {
	w.statsCache.mu.Lock()
	if w.statsCache.stats == nil || time.Since(w.statsCache.at) > statsMaxAge {
		var stats map[string]*store.OutboxStats
		if err := w.st.View(func(r *store.ReadTx) error {
			var err error
			stats, err = r.OutboxStats()
			return err
		}); err != nil {
			w.statsCache.mu.Unlock()
			return nil, err
		}
		w.statsCache.stats, w.statsCache.at = stats, time.Now()
	}
	stats := w.statsCache.stats
	w.statsCache.mu.Unlock()
	out := make(map[string]ChannelStatus, len(stats))
	for inst, s := range stats {
		out[inst] = ChannelStatus{Depth: s.Depth, Waiting: s.Waiting, OldestPending: s.Oldest, Failed: s.Failed}
	}
	for _, inst := range w.health.instances() {
		st, _ := w.health.get(inst)
		cs := out[inst]
		cs.ConsecutiveFailures = st.failures
		cs.Degraded = st.failures >= DegradeAfter
		cs.LastError, cs.LastErrorAt = st.lastErr, st.lastErrAt
		out[inst] = cs
	}
	return out, nil
}

// statusCollector exports ChannelStatus as metrics at scrape time.
type statusCollector struct {
	w                                      *Worker
	depth, oldest, failed, waiting, degrad *prometheus.Desc
}

func newStatusCollector(w *Worker) *statusCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("patchbay_outbox_"+name, help, []string{"channel"}, nil)
	}
	return &statusCollector{
		w:       w,
		depth:   d("depth", "Replies queued for the channel (pending)."),
		waiting: d("waiting_for_plugin", "Queued replies that wait for the channel's plugin to run."),
		oldest:  d("oldest_pending_age_seconds", "Age of the channel's oldest queued reply (0: none)."),
		failed:  d("failed_replies", "Replies the outbox gave up on and nobody retried since."),
		degrad:  d("channel_degraded", "1 while the channel's last sends all failed (at least DegradeAfter in a row), else 0."),
	}
}

// Describe sends the descriptors.
func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.depth, c.waiting, c.oldest, c.failed, c.degrad} {
		ch <- d
	}
}

// Collect reads ChannelStatus; a store error leaves the metrics out of
// this scrape (the error is logged).
func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	all, err := c.w.ChannelStatus()
	if err != nil {
		c.w.log.Warn("outbox metrics: reading the outbox failed", "error", err)
		return
	}
	now := c.w.opts.Clock()
	for inst, s := range all {
		age := 0.0
		if !s.OldestPending.IsZero() {
			age = max(now.Sub(s.OldestPending).Seconds(), 0)
		}
		deg := 0.0
		if s.Degraded {
			deg = 1
		}
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(s.Depth), inst)
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(s.Waiting), inst)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, inst)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.GaugeValue, float64(s.Failed), inst)
		ch <- prometheus.MustNewConstMetric(c.degrad, prometheus.GaugeValue, deg, inst)
	}
}

// stepClock is the worker's default clock: it advances with the monotonic
// clock and follows the wall clock only forward. Due times are stored as
// wall times (they must survive a restart), but while the process runs a
// step of the system clock back (NTP, a VM restored from a snapshot) must
// not hold replies pending for the length of the step, and a step forward
// only makes waits end early.
type stepClock struct {
	mu       sync.Mutex
	wall     func() time.Time     // the system clock, without monotonic reading
	elapsed  func() time.Duration // monotonic time since the clock was made
	last     time.Time            // the clock's last answer
	lastMono time.Duration        // elapsed() when it was given
}

func newStepClock() *stepClock {
	start := time.Now()
	return &stepClock{
		wall:    func() time.Time { return time.Now().Round(0) },
		elapsed: func() time.Duration { return time.Since(start) },
		last:    start.Round(0),
	}
}

// Now returns the clock's time: never earlier than its last answer, never
// later than that plus the monotonic time since, unless the wall clock is.
func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	mono := c.elapsed()
	t := c.last.Add(mono - c.lastMono)
	if wall := c.wall(); wall.After(t) {
		t = wall
	}
	c.last, c.lastMono = t, mono
	return t
}
