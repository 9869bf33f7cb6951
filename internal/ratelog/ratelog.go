// Package ratelog limits repeated log lines: a fault that hits every
// request (a full disk refusing every webhook) logs one line per key and
// interval, and the next line says how many it stood for.
package ratelog

import (
	"sync"
	"time"
)

// Limiter lets one line per key through per interval. The zero value is
// not usable; make one with New.
type Limiter struct {
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	keys map[string]*entry
}

type entry struct {
	last       time.Time
	suppressed int
}

// maxKeys bounds the keys remembered; beyond it, keys idle for an interval
// are forgotten first.
const maxKeys = 1024

// New returns a limiter that lets one line per key through every interval.
func New(every time.Duration) *Limiter {
	return &Limiter{every: every, now: time.Now, keys: map[string]*entry{}}
}

// Allow reports whether a line for key may be logged now and, if so, how
// many lines for key were held back since the last one that was (log it
// as a "suppressed" count).
func (l *Limiter) Allow(key string) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	e := l.keys[key]
	if e == nil {
		if len(l.keys) >= maxKeys {
			l.forget(now)
		}
		l.keys[key] = &entry{last: now}
		return true, 0
	}
	if now.Sub(e.last) < l.every {
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	return true, n
}

// forget drops keys idle for an interval (or all of them if none is).
func (l *Limiter) forget(now time.Time) {
	for k, e := range l.keys {
		if now.Sub(e.last) >= l.every {
			delete(l.keys, k)
		}
	}
	if len(l.keys) >= maxKeys {
		clear(l.keys)
	}
}
