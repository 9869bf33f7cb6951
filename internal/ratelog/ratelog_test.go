package ratelog

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	l := New(10 * time.Second)
	l.now = func() time.Time { return now }
	steps := []struct {
		key            string
		advance        time.Duration
		ok             bool
		wantSuppressed int
	}{
		{"a", 0, true, 0},
		{"a", time.Second, false, 0},
		{"a", time.Second, false, 0},
		{"b", 0, true, 0}, // keys are independent
		{"a", 8 * time.Second, true, 2},
		{"a", 10 * time.Second, true, 0},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		ok, n := l.Allow(s.key)
		if ok != s.ok || n != s.wantSuppressed {
			t.Fatalf("step %d (%s): Allow = %v, %d; want %v, %d", i, s.key, ok, n, s.ok, s.wantSuppressed)
		}
	}
}

func TestLimiterBoundsKeys(t *testing.T) {
	l := New(time.Hour)
	for i := range 3 * maxKeys {
		l.Allow(string(rune(i)))
	}
	if len(l.keys) > maxKeys {
		t.Fatalf("%d keys kept, want at most %d", len(l.keys), maxKeys)
	}
}
