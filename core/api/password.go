package api

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id parameters used to hash new passwords.
// Stored hashes carry their own parameters, so changing these affects only
// passwords set afterwards.
type Argon2Params struct {
	// Time is the number of passes (default 2).
	Time uint32
	// MemoryKiB is the memory used per hash in KiB (default 64 MiB).
	MemoryKiB uint32
	// Threads is the parallelism (default 2).
	Threads uint8
}

// The argon2id parameters used where Options.Argon2 leaves zero: 64 MiB,
// two passes, two lanes, above OWASP's minimum for argon2id.
const (
	DefaultArgon2Time      = 2
	DefaultArgon2MemoryKiB = 64 << 10
	DefaultArgon2Threads   = 2
)

// maxConcurrentHashes bounds the argon2id computations running at once,
// so that a burst of sign-ins cannot take more than this many times the
// KDF's memory.
const maxConcurrentHashes = 2

// hasher hashes and verifies passwords with argon2id, in the PHC string
// format "$argon2id$v=19$m=65536,t=2,p=2$<salt>$<hash>".
type hasher struct {
	params Argon2Params
	slots  chan struct{}
	// dummy is a hash of a random password, verified against when the
	// user has no password so that timing does not tell.
	dummyOnce sync.Once
	dummy     string
}

func newHasher(p Argon2Params) *hasher {
	if p.Time == 0 {
		p.Time = DefaultArgon2Time
	}
	if p.MemoryKiB == 0 {
		p.MemoryKiB = DefaultArgon2MemoryKiB
	}
	if p.Threads == 0 {
		p.Threads = DefaultArgon2Threads
	}
	return &hasher{params: p, slots: make(chan struct{}, maxConcurrentHashes)}
}

const argonKeyLen = 32

// hash returns the PHC string of password with a fresh salt.
func (h *hasher) hash(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	p := h.params
	h.slots <- struct{}{}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, argonKeyLen)
	<-h.slots
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// errBadHash is a stored hash that is not an argon2id PHC string.
var errBadHash = errors.New("not an argon2id password hash")

// parsePHC splits an argon2id PHC string into its parameters, salt and key.
func parsePHC(s string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil ||
		p.Time == 0 || p.Threads == 0 || p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > 4<<20 || p.Time > 64 {
		return p, nil, nil, errBadHash
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, errBadHash
	}
	key, err := enc.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 128 {
		return p, nil, nil, errBadHash
	}
	return p, salt, key, nil
}

// verify reports whether password matches the PHC string. An empty or
// malformed hash never matches, after as much work as a real check.
func (h *hasher) verify(phc, password string) bool {
	p, salt, key, err := parsePHC(phc)
	if err != nil {
		h.dummyOnce.Do(func() {
			h.dummy, _ = h.hash(randomSecret())
		})
		p, salt, key, _ = parsePHC(h.dummy)
		phc = ""
	}
	h.slots <- struct{}{}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(key)))
	<-h.slots
	return subtle.ConstantTimeCompare(got, key) == 1 && phc != ""
}

// failureLimiter counts failed sign-ins per key (client address, email) in
// fixed windows.
type failureLimiter struct {
	max    int
	window time.Duration

	mu   sync.Mutex
	hits map[string]*failureWindow
}

type failureWindow struct {
	start time.Time
	n     int
}

func newFailureLimiter(max int, window time.Duration) *failureLimiter {
	return &failureLimiter{max: max, window: window, hits: map[string]*failureWindow{}}
}

// blocked returns how long until one of keys may try again, or 0.
func (l *failureLimiter) blocked(now time.Time, keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		w := l.hits[k]
		if w == nil || now.Sub(w.start) >= l.window {
			continue
		}
		if w.n >= l.max {
			wait = max(wait, w.start.Add(l.window).Sub(now))
		}
	}
	return wait
}

// fail records one failure for each key.
func (l *failureLimiter) fail(now time.Time, keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.hits) > 10000 {
		for k, w := range l.hits {
			if now.Sub(w.start) >= l.window {
				delete(l.hits, k)
			}
		}
	}
	for _, k := range keys {
		w := l.hits[k]
		if w == nil || now.Sub(w.start) >= l.window {
			w = &failureWindow{start: now}
			l.hits[k] = w
		}
		w.n++
	}
}

// reset forgets the failures of key (after a successful sign-in).
func (l *failureLimiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.hits, key)
}
