// Package testutil holds the small test helpers that the core's, the
// plugins' and the end-to-end tests all need: a settable clock, a buffer
// safe for a subprocess's or logger's concurrent writers, and polling for a
// condition. It uses only the standard library, so any package's tests can
// import it (the store's own tests included) without an import cycle.
package testutil

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Epoch is the time a new Clock starts at: a fixed instant, so that tests
// reading dates and durations see the same values on every run.
var Epoch = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// Clock is a settable clock for code that takes a `func() time.Time`: pass
// its Now method, then move time on with Add. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock reading Epoch.
func NewClock() *Clock { return NewClockAt(Epoch) }

// NewClockAt returns a Clock reading t.
func NewClockAt(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// LockedBuffer is a bytes.Buffer that concurrent writers (a subprocess's
// output, a logger used from several goroutines) and a reading test can
// share.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Poll intervals of Eventually: it looks again quickly at first, so a
// condition that comes true soon costs little waiting, then backs off so a
// slow one (an HTTP round trip, a subprocess) is not asked in a busy loop.
const (
	firstPoll = 5 * time.Millisecond
	maxPoll   = 50 * time.Millisecond
)

// Eventually calls cond until it returns true, and fails the test with
// "timed out waiting for <what>" when timeout passes first. The condition is
// the synchronisation: tests wait on what they need, never on a fixed sleep.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := firstPoll
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(wait)
		wait = min(2*wait, maxPoll)
	}
}
