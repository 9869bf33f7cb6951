package logscrub

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// Secrets never reach the log, whatever the format and however the value
// is quoted or escaped; sources can be added and removed while logging.
func TestScrubberSecretsNeverInLogLines(t *testing.T) {
	const (
		plain  = "xoxb-plain-secret-123"
		quoted = `pa"ss word\with`
		short  = "abc"
	)
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			s := New()
			s.Set("channel:a", []string{plain, quoted, short})
			var out bytes.Buffer
			log := hclog.New(&hclog.LoggerOptions{Output: s.Writer(&out), Level: hclog.Trace, JSONFormat: format == "json"})
			log.Info("sent "+plain, "echo", "token="+plain, "q", quoted, "err", "relay said: AUTH "+quoted)
			log.Trace("plugin line", "body", `{"access_token":"`+plain+`"}`)
			log.Named("x").With("k", plain).Warn("with", "short", short)
			got := out.String()
			for _, secret := range []string{plain, `pa"ss`, `pa\"ss`, "word\\with", `word\\with`} {
				if strings.Contains(got, secret) {
					t.Errorf("log contains %q:\n%s", secret, got)
				}
			}
			if n := strings.Count(got, Replacement); n < 6 {
				t.Errorf("%d replacements, want at least 6:\n%s", n, got)
			}
			if !strings.Contains(got, short) {
				t.Errorf("a value shorter than %d characters was scrubbed: %s", MinLength, got)
			}
			s.Set("channel:a", nil)
			out.Reset()
			log.Info("after", "v", plain)
			if !strings.Contains(out.String(), plain) {
				t.Errorf("a removed source still scrubs: %s", out.String())
			}
		})
	}
}

func BenchmarkScrubberWrite(b *testing.B) {
	s := New()
	s.Set("a", []string{"xoxb-plain-secret-123", "EAAG-whatsapp-token-abcdef", "smtp-password-1"})
	w := s.Writer(&bytes.Buffer{})
	line := []byte(`2026-12-07T05:00:00.000Z [DEBUG] patchbay.pluginhost: request: method=POST route="POST /api/v1/tickets/{id}/comments" status=201 duration=1.2ms` + "\n")
	b.ReportAllocs()
	for b.Loop() {
		_, _ = w.Write(line)
	}
}

// An error printed outside the logger (a command's final error) is
// scrubbed the same way and still matches errors.Is.
func TestScrubberErrorKeepsSecretsOut(t *testing.T) {
	s := New()
	s.Set("a", []string{"xoxb-plain-secret-123"})
	base := errors.New("base")
	err := s.Error(fmt.Errorf("start plugin: provider rejected xoxb-plain-secret-123: %w", base))
	if strings.Contains(err.Error(), "xoxb-plain-secret-123") || !strings.Contains(err.Error(), Replacement) || !errors.Is(err, base) {
		t.Fatalf("scrubbed error %q (is base: %v)", err, errors.Is(err, base))
	}
	if plain := errors.New("nothing secret"); s.Error(plain) != plain {
		t.Fatal("an error without secrets was wrapped")
	}
	if s.Error(nil) != nil {
		t.Fatal("nil error")
	}
}
