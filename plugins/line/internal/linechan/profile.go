package linechan

import (
	"context"
	"sync"
	"time"
)

// profileCache keeps LINE display names for a while, so a chatty customer
// costs one profile call per TTL rather than one per message.
type profileCache struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[string]profileEntry
}

type profileEntry struct {
	name    string
	expires time.Time
}

func newProfileCache(ttl time.Duration, max int) *profileCache {
	return &profileCache{ttl: ttl, max: max, entries: make(map[string]profileEntry)}
}

func (p *profileCache) get(userID string, now time.Time) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.entries[userID]
	if !ok || now.After(e.expires) {
		return "", false
	}
	return e.name, true
}

func (p *profileCache) put(userID, name string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.entries) >= p.max {
		// Drop expired entries first; if the cache is still full, drop
		// arbitrary ones (map order) until there is room.
		for k, e := range p.entries {
			if now.After(e.expires) {
				delete(p.entries, k)
			}
		}
		for k := range p.entries {
			if len(p.entries) < p.max {
				break
			}
			delete(p.entries, k)
		}
	}
	p.entries[userID] = profileEntry{name: name, expires: now.Add(p.ttl)}
}

// displayName returns the user's LINE display name from the profile API,
// cached. It returns "" when the profile is not available (the user has not
// added the account as a friend, or LINE is unreachable): a missing name
// never holds up a delivery.
func (rt *runtime) displayName(ctx context.Context, userID string) string {
	now := rt.now()
	if name, ok := rt.profiles.get(userID, now); ok {
		return name
	}
	ctx, cancel := context.WithTimeout(ctx, profileTimeout)
	defer cancel()
	api, err := rt.api(ctx)
	if err != nil {
		return ""
	}
	res, prof, err := api.GetProfileWithHttpInfo(userID)
	if res != nil && res.Body != nil {
		defer res.Body.Close()
	}
	if err != nil {
		rt.log.Warn("line profile lookup failed", "user_id", userID, "error", describeHTTPFailure(res, err))
		return ""
	}
	rt.profiles.put(userID, prof.DisplayName, now)
	return prof.DisplayName
}
