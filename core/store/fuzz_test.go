package store

import (
	"errors"
	"testing"
)

// FuzzCursor feeds arbitrary cursors (they come from API clients) to the
// decoder: it either rejects them with ErrBadCursor or returns an id that
// encodes back to the same cursor.
func FuzzCursor(f *testing.F) {
	f.Add(EncodeCursor(1))
	f.Add(EncodeCursor(1 << 40))
	f.Add("")
	f.Add("dDEAAAAAAAAAAQ")
	f.Add("%%%")
	f.Fuzz(func(t *testing.T, c string) {
		id, err := decodeCursor(c)
		if err != nil {
			if !errors.Is(err, ErrBadCursor) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if id == 0 || EncodeCursor(id) != c {
			t.Fatalf("cursor %q decoded to %d, encodes to %q", c, id, EncodeCursor(id))
		}
	})
}
