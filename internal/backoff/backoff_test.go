package backoff

import (
	"math"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	cases := []struct {
		name string
		p    Policy
		n    int
		want time.Duration
	}{
		{"first retry", Policy{Base: 2 * time.Second, Max: 10 * time.Minute}, 1, 2 * time.Second},
		{"doubles", Policy{Base: 2 * time.Second, Max: 10 * time.Minute}, 4, 16 * time.Second},
		{"capped", Policy{Base: 2 * time.Second, Max: 10 * time.Minute}, 10, 10 * time.Minute},
		{"n below 1 is the first retry", Policy{Base: time.Second, Max: time.Minute}, 0, time.Second},
		{"negative n", Policy{Base: time.Second, Max: time.Minute}, -3, time.Second},
		{"huge n does not overflow", Policy{Base: 10 * time.Second, Max: time.Hour}, math.MaxInt, time.Hour},
		{"huge cap does not overflow", Policy{Base: time.Second, Max: math.MaxInt64}, 100, math.MaxInt64},
		{"max below base caps base", Policy{Base: time.Minute, Max: time.Second}, 1, time.Second},
		{"zero base waits the cap", Policy{Max: time.Hour}, 3, time.Hour},
		{"zero policy", Policy{}, 5, 0},
		{"just below the cap", Policy{Base: 100 * time.Millisecond, Max: time.Second}, 4, 800 * time.Millisecond},
		{"reaches the cap", Policy{Base: 100 * time.Millisecond, Max: time.Second}, 5, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Delay(tc.n); got != tc.want {
				t.Fatalf("Delay(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
}

func TestJitterBounds(t *testing.T) {
	cases := []struct {
		name string
		p    Policy
		d    time.Duration
		u    float64
		want time.Duration
	}{
		{"upper half, lowest draw", Policy{JitterLow: 0.5, JitterHigh: 1}, 10 * time.Second, 0, 5 * time.Second},
		{"upper half, middle draw", Policy{JitterLow: 0.5, JitterHigh: 1}, 10 * time.Second, 0.5, 7500 * time.Millisecond},
		{"±20 %, lowest draw", Policy{JitterLow: 0.8, JitterHigh: 1.2}, 10 * time.Second, 0, 8 * time.Second},
		{"±20 %, middle draw", Policy{JitterLow: 0.8, JitterHigh: 1.2}, 10 * time.Second, 0.5, 10 * time.Second},
		{"no jitter", Policy{}, 10 * time.Second, 0.7, 10 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.jitter(tc.d, tc.u); got != tc.want {
				t.Fatalf("jitter(%v, %v) = %v, want %v", tc.d, tc.u, got, tc.want)
			}
		})
	}
}

// Next stays within the jitter range around Delay for every retry count.
func TestNextWithinRange(t *testing.T) {
	cases := []struct {
		name      string
		p         Policy
		low, high float64
	}{
		{"outbox", Policy{Base: time.Second, Max: 10 * time.Second, JitterLow: 0.5, JitterHigh: 1}, 0.5, 1},
		{"plugin restarts", Policy{Base: 100 * time.Millisecond, Max: time.Second, JitterLow: 0.8, JitterHigh: 1.2}, 0.8, 1.2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for n := 1; n <= 30; n++ {
				want := tc.p.Delay(n)
				lo, hi := time.Duration(tc.low*float64(want)), time.Duration(tc.high*float64(want))
				for range 50 {
					if d := tc.p.Next(n); d < lo || d > hi {
						t.Fatalf("Next(%d) = %v outside [%v, %v]", n, d, lo, hi)
					}
				}
			}
		})
	}
}
