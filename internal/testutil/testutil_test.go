package testutil

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	c := NewClock()
	if got := c.Now(); !got.Equal(Epoch) {
		t.Fatalf("new clock reads %v, want %v", got, Epoch)
	}
	c.Add(90 * time.Minute)
	if got, want := c.Now(), Epoch.Add(90*time.Minute); !got.Equal(want) {
		t.Fatalf("after Add the clock reads %v, want %v", got, want)
	}
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	if got := NewClockAt(at).Now(); !got.Equal(at) {
		t.Fatalf("NewClockAt(%v) reads %v", at, got)
	}
}

func TestLockedBufferConcurrentWriters(t *testing.T) {
	var b LockedBuffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				fmt.Fprintf(&b, "%d\n", i)
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if got, want := len(b.String()), 8*100*2; got != want {
		t.Fatalf("buffer holds %d bytes, want %d", got, want)
	}
}

// recorder is a testing.TB that records a Fatalf instead of stopping the
// test, so Eventually's failure can be checked.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(r)
}

func TestEventually(t *testing.T) {
	n := 0
	Eventually(t, time.Minute, "the third call", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("condition called %d times, want 3", n)
	}

	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != r {
				t.Fatalf("Eventually did not fail the test: recovered %v", p)
			}
		}()
		Eventually(r, 20*time.Millisecond, "never", func() bool { return false })
	}()
	if r.failed != "timed out waiting for never" {
		t.Fatalf("failure message %q", r.failed)
	}
}

func TestFreeAddr(t *testing.T) {
	addr := FreeAddr(t)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on the free address %s: %v", addr, err)
	}
	l.Close()
}
