package api

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// CodeAuthRateLimited answers a client address that made too many failed
// authentications (Options.MaxFailedAuth per minute).
const CodeAuthRateLimited = "auth_rate_limited"

// authLimiterPrune is how many addresses the limiter tracks before it
// drops those whose budget has refilled (an address is forgotten at most a
// minute after its last failure, so the map holds about a minute's worth
// of failing addresses).
const authLimiterPrune = 4096

// authLimiter limits failed authentications per client address: each
// failure spends one of perMinute tokens, which refill evenly over a
// minute. An address with none left gets 429 with Retry-After on every
// authenticated route, before its token is even looked at, so guessing
// tokens is no faster than the limit. Successful requests cost nothing.
//
// IPv6 clients are counted per /64 (one host usually holds a whole /64).
// Behind a reverse proxy listed in trusted, the client is the address the
// proxy appended to X-Forwarded-For, not the proxy.
type authLimiter struct {
	limit   rate.Limit
	burst   int
	trusted []netip.Prefix
	now     func() time.Time

	mu        sync.Mutex
	addrs     map[netip.Prefix]*rate.Limiter
	lastPrune time.Time
}

func newAuthLimiter(perMinute int, trusted []netip.Prefix) *authLimiter {
	return &authLimiter{
		limit:   rate.Limit(float64(perMinute) / 60),
		burst:   perMinute,
		trusted: trusted,
		now:     time.Now,
		addrs:   map[netip.Prefix]*rate.Limiter{},
	}
}

// clientKey returns the bucket of the request's client: its address (a /64
// for IPv6), taken from X-Forwarded-For when the peer is a trusted proxy.
func (a *authLimiter) clientKey(r *http.Request) netip.Prefix {
	addr := peerAddr(r.RemoteAddr)
	if a.isTrusted(addr) {
		hops := r.Header.Values("X-Forwarded-For")
		var list []string
		for _, h := range hops {
			list = append(list, strings.Split(h, ",")...)
		}
		// The right-most address a trusted proxy did not add is the client.
		for i := len(list) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(list[i]))
			if err != nil {
				break
			}
			addr = hop.Unmap()
			if !a.isTrusted(addr) {
				break
			}
		}
	}
	if !addr.IsValid() {
		return netip.Prefix{}
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p
	}
	return netip.PrefixFrom(addr, 32)
}

func (a *authLimiter) isTrusted(addr netip.Addr) bool {
	for _, p := range a.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// peerAddr parses an http.Request.RemoteAddr.
func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return addr.Unmap()
}

// blocked returns how long the request's client must wait before it may
// authenticate again (0: it may now).
func (a *authLimiter) blocked(r *http.Request) time.Duration {
	key := a.clientKey(r)
	a.mu.Lock()
	lim := a.addrs[key]
	a.mu.Unlock()
	if lim == nil {
		return 0
	}
	now := a.now()
	tokens := lim.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(a.limit) * float64(time.Second))
}

// fail records one failed authentication of the request's client.
func (a *authLimiter) fail(r *http.Request) {
	key := a.clientKey(r)
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	lim := a.addrs[key]
	if lim == nil {
		// At most once a second: many addresses failing at once must not
		// make every failure scan the whole map.
		if len(a.addrs) >= authLimiterPrune && now.Sub(a.lastPrune) >= time.Second {
			a.pruneLocked(now)
			a.lastPrune = now
		}
		lim = rate.NewLimiter(a.limit, a.burst)
		a.addrs[key] = lim
	}
	lim.AllowN(now, 1)
}

// pruneLocked forgets addresses whose budget is whole again: they are as
// if they never failed.
func (a *authLimiter) pruneLocked(now time.Time) {
	for k, lim := range a.addrs {
		if lim.TokensAt(now) >= float64(a.burst) {
			delete(a.addrs, k)
		}
	}
}

// authRateLimited is the 429 answer of a blocked client, with Retry-After in
// whole seconds (at least 1).
func authRateLimited(w http.ResponseWriter, wait time.Duration) *Error {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return &Error{Status: http.StatusTooManyRequests, Code: CodeAuthRateLimited,
		Message: "too many failed authentications from this address; retry after " + strconv.Itoa(secs) + " seconds"}
}
