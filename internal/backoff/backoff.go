// Package backoff computes capped, jittered exponential retry delays: the
// one formula behind the outbox's reply retries, the rules engine's webhook
// retries and the plugin host's restarts, each with its own constants.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy is a capped exponential backoff: retry n (1 is the first) waits
// Base·2^(n-1), never more than Max, scaled by a random factor drawn
// uniformly from [JitterLow, JitterHigh]. The zero jitter bounds mean no
// jitter.
type Policy struct {
	// Base is the delay before the first retry. Zero or negative: Max.
	Base time.Duration
	// Max caps the delay before jitter. A Max below Base caps Base too.
	Max time.Duration
	// JitterLow and JitterHigh bound the random factor applied to the
	// capped delay: 0.5 and 1 spread it over its upper half (never later
	// than the cap); 0.8 and 1.2 spread it ±20 %. Both zero: factor 1.
	JitterLow, JitterHigh float64
}

// Delay is the delay before retry n before jitter: Base·2^(n-1) capped at
// Max. n below 1 counts as 1. It never overflows, whatever n is.
func (p Policy) Delay(n int) time.Duration {
	d := p.Base
	if d <= 0 {
		return max(p.Max, 0)
	}
	for i := 1; i < n && d < p.Max; i++ {
		if d > p.Max/2 {
			d = p.Max
			break
		}
		d *= 2
	}
	return min(d, p.Max)
}

// Next is the jittered delay before retry n: Delay(n) scaled by a factor
// drawn uniformly from [JitterLow, JitterHigh].
func (p Policy) Next(n int) time.Duration {
	return p.jitter(p.Delay(n), rand.Float64())
}

// jitter scales d by the factor at position u ∈ [0, 1) of the jitter range.
func (p Policy) jitter(d time.Duration, u float64) time.Duration {
	if p.JitterLow == 0 && p.JitterHigh == 0 {
		return d
	}
	f := p.JitterLow + u*(p.JitterHigh-p.JitterLow)
	return time.Duration(f * float64(d))
}
