package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/patchbayhq/patchbay/internal/testutil"
)

// TestCloseOnAFullDisk: another process takes a real disk's last byte
// while the store holds unflushed commits in its memtable. Close must not
// let Badger write the memtable out (a SIGBUS that kills the process): it
// returns, says why in the log, and a copy of the directory opens with
// every acknowledged write, replayed from the WAL.
func TestCloseOnAFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a tmpfs")
	}
	mnt := testutil.SmallDisk(t, 64<<20)
	dir := filepath.Join(mnt, "data")
	var logs bytes.Buffer
	s, err := Open(Options{Dir: dir, GCInterval: -1, MinFreeBytes: 8 << 20, spaceEvery: 20 * time.Millisecond,
		Logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn})})
	if err != nil {
		t.Fatal(err)
	}
	val := make([]byte, 2<<10) // in the LSM tree: the memtable and its WAL
	if _, err := rand.Read(val); err != nil {
		t.Fatal(err)
	}
	const writes = 40
	for n := range writes {
		if err := s.Update(context.Background(), func(tx *Tx) error {
			for i := range 50 {
				if err := tx.SetState("disk", fmt.Sprintf("k/%d/%d", n, i), val); err != nil {
					return err
				}
			}
			return bump(tx)
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Keep a copy of the directory as it is on disk (a crash image) on
	// another file system, before the filler takes the rest.
	image := t.TempDir()
	copyDir(t, dir, image)
	f, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for {
		if _, err := f.Write(chunk[:4096]); err != nil {
			break
		}
	}
	f.Close()
	if err := s.Close(); err != nil {
		t.Fatalf("Close on a full disk: %v", err)
	}
	if !strings.Contains(logs.String(), "without flushing") {
		t.Fatalf("Close did not say it skipped the flush:\n%s", logs.String())
	}
	// What Close left on the full disk opens elsewhere with every write.
	left := t.TempDir()
	copyDir(t, dir, left)
	for _, d := range []string{left, image} {
		s2, err := Open(Options{Dir: d, GCInterval: -1})
		if err != nil {
			t.Fatalf("open %s: %v", d, err)
		}
		if got := lastBump(t, s2); got != writes {
			t.Errorf("%s: %d writes stored, want %d", d, got, writes)
		}
		if err := s2.Check(context.Background()); err != nil {
			t.Error(err)
		}
		s2.Close()
	}
}
