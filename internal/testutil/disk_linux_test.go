package testutil

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestSmallDisk: the disk holds what fits and refuses the byte after with
// ENOSPC, the condition the disk-full tests need.
func TestSmallDisk(t *testing.T) {
	mnt := SmallDisk(t, 1<<20)
	f, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for range 64 {
		if _, err = f.Write(chunk); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writing 4 MiB to a 1 MiB disk ended with %v, want ENOSPC", err)
	}
}
