package slackchan

import (
	"context"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// userCacheTTL is how long a users.info answer is reused; profile changes
// (a new email) are picked up after at most this long.
const userCacheTTL = time.Hour

// userCacheMax bounds the cache; when full, expired entries are dropped,
// then the oldest.
const userCacheMax = 10000

// profile is what Patchbay keeps from users.info.
type profile struct {
	Name  string
	Email string
}

type cachedProfile struct {
	profile
	fetched time.Time
}

// userCache caches users.info answers per user id.
type userCache struct {
	mu      sync.Mutex
	entries map[string]cachedProfile
}

func newUserCache() *userCache {
	return &userCache{entries: make(map[string]cachedProfile)}
}

// lookup returns the user's name and email, from the cache when fresh, else
// from users.info. A failed lookup returns the error and caches nothing.
func (u *userCache) lookup(ctx context.Context, api *slack.Client, userID string, now time.Time) (profile, error) {
	u.mu.Lock()
	e, ok := u.entries[userID]
	u.mu.Unlock()
	if ok && now.Sub(e.fetched) < userCacheTTL {
		return e.profile, nil
	}
	usr, err := api.GetUserInfoContext(ctx, userID)
	if err != nil {
		return profile{}, err
	}
	p := profile{Name: displayName(usr), Email: usr.Profile.Email}
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.entries) >= userCacheMax {
		u.evictLocked(now)
	}
	u.entries[userID] = cachedProfile{profile: p, fetched: now}
	return p, nil
}

// evictLocked drops expired entries, or the oldest one if none expired.
func (u *userCache) evictLocked(now time.Time) {
	var oldestID string
	var oldest time.Time
	for id, e := range u.entries {
		if now.Sub(e.fetched) >= userCacheTTL {
			delete(u.entries, id)
			continue
		}
		if oldestID == "" || e.fetched.Before(oldest) {
			oldestID, oldest = id, e.fetched
		}
	}
	if len(u.entries) >= userCacheMax && oldestID != "" {
		delete(u.entries, oldestID)
	}
}

// displayName picks the best human name from a Slack user.
func displayName(u *slack.User) string {
	for _, n := range []string{u.Profile.RealName, u.RealName, u.Profile.DisplayName, u.Name} {
		if n != "" {
			return n
		}
	}
	return ""
}
