package outbox

import (
	"context"
	"sync"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
)

// The dispatcher (Run) is one goroutine that owns the in-memory view of the
// outbox: the due entries it has read, per channel instance, and the sends
// in flight. Reading the due index costs a store scan that walks every due
// entry before the ones wanted (the entries in flight are still due in the
// store until their outcome commits) and the index's deleted keys, so the
// dispatcher scans in batches of 4·Workers new entries, ahead of need (when
// fewer than Workers replies are ready), and at most every few milliseconds
// however many sends finish and commits wake it.
//
// Fairness: sends are started round-robin over the channels with ready
// replies, and no channel has more than ChannelWorkers sends in flight, so
// a slow or hanging provider holds at most that many workers and every
// other channel keeps the rest. When every ready reply belongs to channels
// at their limit while workers are free, the next scan reads further into
// the due index (doubling its window) to find other channels' replies
// behind a slow channel's backlog; each scan is followed by a pause of ten
// times its own duration, so scanning stays a small share of the
// dispatcher's time however long the backlog. A scan that found nothing new
// is followed by a longer pause (idleScanGap): most commits that wake the
// dispatcher queue no reply.

const (
	// maxScanWindow bounds how far past the known entries one scan reads.
	maxScanWindow = 1 << 16
	// scanGapFactor: after a scan that took d, the next scan waits at
	// least scanGapFactor·d (and at least minScanGap), so scanning takes
	// at most a tenth of the dispatcher's time.
	scanGapFactor = 10
	minScanGap    = 5 * time.Millisecond
	// maxRefillGap caps the pause after a scan of the usual window.
	maxRefillGap = 20 * time.Millisecond
	// idleScanGap: after a scan that found nothing new, the next one waits
	// this long. Commits wake the dispatcher, and most commits queue no
	// reply (inbound messages, delivery statuses): under such a load it
	// reads the due index at most 20 times a second, and a reply queued
	// meanwhile waits at most this long.
	idleScanGap = 50 * time.Millisecond
)

// chanQueue is one channel instance's ready entries and sends in flight.
type chanQueue struct {
	ready    []*store.OutboxEntry
	inflight int
	// pausedUntil: the provider asked to wait (Retry-After on a refused
	// send); no send of this channel starts before then.
	pausedUntil time.Time
}

// finished is a send's completion, reported to the dispatcher.
type finished struct {
	e *store.OutboxEntry
	// pause, when non-zero, is how long the provider asked the channel to
	// wait (Retry-After of a retryable refusal).
	pause time.Duration
}

// dispatcher is Run's state; only the Run goroutine touches it.
type dispatcher struct {
	w        *Worker
	queues   map[string]*chanQueue
	order    []string // round-robin ring of the instances in queues
	next     int      // ring position of the next pick
	known    map[uint64]bool
	inflight int

	window  int  // how many due entries past the known ones the next scan reads
	more    bool // the last scan stopped at its limit: more entries are due
	nextDue time.Time
	scanAt  time.Time // no scan before this (scan rate limit)
}

func newDispatcher(w *Worker) *dispatcher {
	return &dispatcher{
		w:      w,
		queues: map[string]*chanQueue{},
		known:  map[uint64]bool{},
		window: w.baseWindow(),
	}
}

// baseWindow is how many new due entries a scan reads normally.
func (w *Worker) baseWindow() int { return 4 * w.opts.Workers }

// queueCap is the most ready entries kept in memory for one channel.
func (w *Worker) queueCap() int { return max(w.opts.ChannelWorkers, w.baseWindow()) }

// Run sends due entries until ctx ends, then waits for in-flight sends.
func (w *Worker) Run(ctx context.Context) error {
	d := newDispatcher(w)
	done := make(chan finished, w.opts.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()

	const maxIdle = time.Minute
	timer := time.NewTimer(0)
	defer timer.Stop()
	var notify <-chan struct{}
	dirty := true // new commits may have queued replies: scan
	paused := false
	for {
		if ctx.Err() != nil {
			return nil
		}
		// A store that refuses writes (disk short of space) could not
		// record a send: sending then would repeat the reply on every scan.
		if err := w.st.Writable(); err != nil {
			if !paused {
				w.log.Warn("outbox paused: the store refuses writes", "error", err)
				paused = true
			}
			select {
			case <-ctx.Done():
				return nil
			case f := <-done:
				d.finish(f)
			case <-time.After(time.Second):
			}
			dirty = true
			continue
		}
		if paused {
			w.log.Info("outbox resumed: the store accepts writes again")
			paused = false
		}
		now := w.opts.Clock()
		if d.wantScan(dirty, now) {
			notify = w.st.Notify() // before reading: no commit is missed
			dirty = false
			d.scan(now)
		}
		for d.inflight < w.opts.Workers {
			e := d.pick(now)
			if e == nil {
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				done <- finished{e: e, pause: w.process(ctx, e)}
			}()
		}

		wait := d.wakeAfter(now, dirty, maxIdle)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case f := <-done:
			d.finish(f)
			// A scan while the send was in flight skipped the entry; its
			// new due time (a retry) may already have passed.
			dirty = true
		case <-notify:
			notify = nil // re-armed by the next scan
			dirty = true
		case <-w.kick:
			dirty = true
		case <-timer.C:
			if !d.nextDue.IsZero() && !w.opts.Clock().Before(d.nextDue) {
				dirty = true
			}
		}
	}
}

// wantScan reports whether to read the due index now: when something may
// have become due (dirty) or the last scan left entries unread, and either
// fewer than Workers replies are ready (refill ahead, so that sending never
// waits for a scan) or the ready ones cannot fill the free workers (they
// belong to channels at their limit or paused) — and the scan rate limit
// allows.
func (d *dispatcher) wantScan(dirty bool, now time.Time) bool {
	if !dirty && !d.more {
		return false
	}
	workers := d.w.opts.Workers
	free := workers - d.inflight
	lowOnReady := d.unpausedReady(now) < workers
	starved := free > 0 && d.dispatchable(now, free) < free
	if !lowOnReady && !starved {
		return false
	}
	// The scan rate limit is CPU pacing: it runs on the wall clock, not on
	// Options.Clock (which tests may freeze or move by days).
	return !time.Now().Before(d.scanAt)
}

// unpausedReady counts the ready entries of channels not paused.
func (d *dispatcher) unpausedReady(now time.Time) int {
	n := 0
	for _, q := range d.queues {
		if !q.pausedUntil.After(now) {
			n += len(q.ready)
		}
	}
	return n
}

// wakeAfter is how long the dispatcher may sleep when no event arrives:
// until the next due entry, the end of a channel's pause, or the scan rate
// limit when a scan is wanted.
func (d *dispatcher) wakeAfter(now time.Time, dirty bool, maxIdle time.Duration) time.Duration {
	wake := now.Add(maxIdle)
	if !d.nextDue.IsZero() && d.nextDue.Before(wake) {
		wake = d.nextDue
	}
	for _, q := range d.queues {
		if len(q.ready) > 0 && q.pausedUntil.After(now) && q.pausedUntil.Before(wake) {
			wake = q.pausedUntil
		}
	}
	wait := wake.Sub(now)
	if dirty || d.more {
		// The scan rate limit is on the wall clock (see wantScan).
		if untilScan := time.Until(d.scanAt); untilScan > 0 && untilScan < wait {
			wait = untilScan
		}
	}
	return min(max(wait, time.Millisecond), maxIdle)
}

// dispatchable counts ready entries that could start now, up to limit.
func (d *dispatcher) dispatchable(now time.Time, limit int) int {
	n := 0
	for _, q := range d.queues {
		if q.pausedUntil.After(now) {
			continue
		}
		n += min(len(q.ready), max(d.w.opts.ChannelWorkers-q.inflight, 0))
		if n >= limit {
			return n
		}
	}
	return n
}

// scan reads due entries into the ready queues.
func (d *dispatcher) scan(now time.Time) {
	w := d.w
	start := time.Now()
	limit := len(d.known) + d.window
	var due []*store.OutboxEntry
	var next time.Time
	err := w.st.View(func(r *store.ReadTx) error {
		var err error
		due, next, err = r.DueOutbox(now, limit)
		return err
	})
	took := time.Since(start)
	w.scans.Inc()
	w.scanned.Add(float64(len(due)))
	gap := max(minScanGap, scanGapFactor*took)
	if d.window == w.baseWindow() {
		// A refill: never wait so long that the ready queue runs dry
		// (the wall time of a scan on a busy host overstates its cost).
		gap = min(gap, maxRefillGap)
	}
	d.scanAt = time.Now().Add(gap)
	if err != nil {
		w.log.Error("outbox scan failed", "error", err)
		d.more, d.nextDue = false, now.Add(time.Second)
		return
	}
	d.more = len(due) == limit
	d.nextDue = time.Time{}
	if !d.more {
		d.nextDue = next
	}
	added := 0
	for _, e := range due {
		if d.known[e.CommentID] {
			continue
		}
		q := d.queues[e.Instance]
		if q == nil {
			q = &chanQueue{}
			d.queues[e.Instance] = q
			d.order = append(d.order, e.Instance)
		}
		if len(q.ready) >= w.queueCap() {
			d.more = true // read again by a later scan, once this queue drains
			continue
		}
		q.ready = append(q.ready, e)
		d.known[e.CommentID] = true
		added++
	}
	// Free workers and nothing any channel may start: look further into
	// the due index next time (other channels' replies may wait behind a
	// slow channel's backlog); otherwise read the usual window.
	free := w.opts.Workers - d.inflight
	if d.more && free > 0 && d.dispatchable(now, free) < free {
		d.window = min(2*d.window, maxScanWindow)
	} else {
		d.window = w.baseWindow()
	}
	if added == 0 {
		d.scanAt = later(d.scanAt, time.Now().Add(idleScanGap))
	}
	d.forget()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// pick takes the next entry to send, round-robin over the channels below
// their in-flight limit and not paused; nil when none can start.
func (d *dispatcher) pick(now time.Time) *store.OutboxEntry {
	for range len(d.order) {
		if d.next >= len(d.order) {
			d.next = 0
		}
		inst := d.order[d.next]
		d.next++
		q := d.queues[inst]
		if len(q.ready) == 0 || q.inflight >= d.w.opts.ChannelWorkers || q.pausedUntil.After(now) {
			continue
		}
		e := q.ready[0]
		q.ready[0] = nil
		q.ready = q.ready[1:]
		q.inflight++
		d.inflight++
		return e
	}
	return nil
}

// finish records a completed send.
func (d *dispatcher) finish(f finished) {
	q := d.queues[f.e.Instance]
	q.inflight--
	d.inflight--
	delete(d.known, f.e.CommentID)
	if f.pause > 0 {
		until := d.w.opts.Clock().Add(min(f.pause, d.w.opts.MaxBackoff))
		if until.After(q.pausedUntil) {
			q.pausedUntil = until
		}
	}
	d.forget()
}

// forget drops idle channels (nothing ready, nothing in flight, no pause)
// from the ring.
func (d *dispatcher) forget() {
	now := d.w.opts.Clock()
	kept := d.order[:0]
	for _, inst := range d.order {
		q := d.queues[inst]
		if len(q.ready) == 0 && q.inflight == 0 && !q.pausedUntil.After(now) {
			delete(d.queues, inst)
			continue
		}
		kept = append(kept, inst)
	}
	clear(d.order[len(kept):])
	d.order = kept
}
