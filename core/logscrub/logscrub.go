// Package logscrub removes secret values from the core's log output.
//
// The core's root logger writes through a Scrubber's Writer, so every log
// line passes the same scrubber: the core's own lines, the lines of plugins
// that go-plugin re-logs from their stderr (at every level), statuses that
// plugins report, and the HTTP server's error log. The secrets are the ones
// the configuration declares (env() values, URL passwords, the fields a
// plugin's manifest marks secret: config.Channel.SecretValues, the same set
// the API scrubs from what it shows) plus the admin token.
package logscrub

import (
	"encoding/json"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Replacement is written in place of a secret value.
const Replacement = "(redacted)"

// MinLength is the shortest value scrubbed: shorter ones would match
// ordinary words (config.MinRedactLength).
const MinLength = 4

// Scrubber replaces secret values in text. Its sets of secrets can change
// while it is in use (a plugin's manifest, read at its start, adds the
// fields it marks secret); it is safe for concurrent use.
type Scrubber struct {
	mu   sync.Mutex
	sets map[string][]string
	repl atomic.Pointer[strings.Replacer]
}

// New returns a Scrubber with no secrets.
func New() *Scrubber {
	return &Scrubber{sets: map[string][]string{}}
}

// Set replaces the secrets of one source (e.g. "channel:support" or
// "admin"); nil or empty removes the source.
func (s *Scrubber) Set(source string, secrets []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(secrets) == 0 {
		delete(s.sets, source)
	} else {
		s.sets[source] = append([]string(nil), secrets...)
	}
	seen := map[string]bool{}
	for _, set := range s.sets {
		for _, v := range set {
			for _, form := range forms(v) {
				if len(form) >= MinLength {
					seen[form] = true
				}
			}
		}
	}
	if len(seen) == 0 {
		s.repl.Store(nil)
		return
	}
	all := make([]string, 0, len(seen))
	for v := range seen {
		all = append(all, v)
	}
	// Longest first: where two secrets start at the same place the longer
	// one is replaced whole.
	sort.Slice(all, func(i, j int) bool {
		if len(all[i]) != len(all[j]) {
			return len(all[i]) > len(all[j])
		}
		return all[i] < all[j]
	})
	pairs := make([]string, 0, 2*len(all))
	for _, v := range all {
		pairs = append(pairs, v, Replacement)
	}
	s.repl.Store(strings.NewReplacer(pairs...))
}

// forms returns a secret as it may appear in a log line: as is, with its
// quotes escaped (hclog's text format), Go-quoted and JSON-encoded (the
// JSON format and quoted values).
func forms(v string) []string {
	out := []string{v, strings.ReplaceAll(v, `"`, `\"`)}
	if q := strconv.Quote(v); len(q) >= 2 {
		out = append(out, q[1:len(q)-1])
	}
	if j, err := json.Marshal(v); err == nil && len(j) >= 2 {
		out = append(out, string(j[1:len(j)-1]))
	}
	return out
}

// Scrub returns s with every secret replaced by Replacement.
func (s *Scrubber) Scrub(text string) string {
	r := s.repl.Load()
	if r == nil {
		return text
	}
	return r.Replace(text)
}

// Writer returns an io.Writer that scrubs each write before passing it to
// w. hclog writes one whole line per Write, so a secret is never split
// between two writes.
func (s *Scrubber) Writer(w io.Writer) io.Writer {
	return &writer{s: s, w: w}
}

type writer struct {
	s *Scrubber
	w io.Writer
}

// Write scrubs p and writes it; it reports len(p) on success, as the
// caller's bytes were all consumed.
func (w *writer) Write(p []byte) (int, error) {
	r := w.s.repl.Load()
	if r == nil {
		return w.w.Write(p)
	}
	if _, err := io.WriteString(w.w, r.Replace(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Error returns err with secrets removed from its message (nil for nil).
// The result still unwraps to err for errors.Is and errors.As. Use it on
// errors printed outside the logger, e.g. a command's final error.
func (s *Scrubber) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := s.Scrub(msg); red != msg {
		return &scrubbedError{msg: red, err: err}
	}
	return err
}

// scrubbedError is an error whose message had secrets removed.
type scrubbedError struct {
	msg string
	err error
}

// Error returns the scrubbed message.
func (e *scrubbedError) Error() string { return e.msg }

// Unwrap returns the original error.
func (e *scrubbedError) Unwrap() error { return e.err }
