package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// CodeRateLimited answers a request over its token's rate limit (429).
const CodeRateLimited = "rate_limited"

// RateLimit configures the per-token request limit: a token bucket per API
// token holding Burst requests, refilled at PerMinute a minute. It is a
// safety net against a runaway script, not a quota: the defaults of the
// configuration file (3000 a minute, bursts of 600) are far above what a
// person or a well-behaved integration sends. PerMinute 0 turns it off.
type RateLimit struct {
	PerMinute int
	Burst     int
}

// rateLimiter keeps one token bucket per API token (by token id, never
// the secret).
type rateLimiter struct {
	perSecond rate.Limit
	burst     int
	now       func() time.Time

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastSweep time.Time
}

// newRateLimiter returns the limiter for rl, or nil when it is off.
func newRateLimiter(rl RateLimit, now func() time.Time) *rateLimiter {
	if rl.PerMinute <= 0 {
		return nil
	}
	burst := rl.Burst
	if burst <= 0 {
		burst = 1
	}
	return &rateLimiter{
		perSecond: rate.Limit(float64(rl.PerMinute) / 60),
		burst:     burst,
		now:       now,
		buckets:   map[string]*rate.Limiter{},
	}
}

// sweepEvery is how often buckets that have refilled completely (tokens
// idle long enough to have their whole burst back) are forgotten.
const sweepEvery = time.Minute

// allow takes one request from the token's bucket. It sets the
// RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset headers on
// every answer, and returns a 429 error (with Retry-After) when the bucket
// is empty.
func (l *rateLimiter) allow(w http.ResponseWriter, tokenID string) error {
	now := l.now()
	l.mu.Lock()
	b, ok := l.buckets[tokenID]
	if !ok {
		b = rate.NewLimiter(l.perSecond, l.burst)
		l.buckets[tokenID] = b
	}
	if now.Sub(l.lastSweep) > sweepEvery {
		l.lastSweep = now
		for id, other := range l.buckets {
			if other != b && other.TokensAt(now) >= float64(l.burst) {
				delete(l.buckets, id)
			}
		}
	}
	l.mu.Unlock()

	r := b.ReserveN(now, 1)
	delay := r.DelayFrom(now)
	if delay > 0 {
		r.CancelAt(now) // a refused request costs nothing
	}
	tokens := max(b.TokensAt(now), 0)
	// Reset: seconds until the bucket is full again.
	reset := math.Ceil((float64(l.burst) - tokens) / float64(l.perSecond))
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(l.burst))
	h.Set("RateLimit-Remaining", strconv.Itoa(int(math.Floor(tokens))))
	h.Set("RateLimit-Reset", strconv.Itoa(int(reset)))
	if delay <= 0 {
		return nil
	}
	wait := int(math.Ceil(delay.Seconds()))
	h.Set("Retry-After", strconv.Itoa(wait))
	return &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited,
		Message: fmt.Sprintf("this token sent more than %d requests at once (refilled at %.4g a second); retry after %d s", l.burst, float64(l.perSecond), wait)}
}
