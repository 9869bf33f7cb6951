//go:build linux || darwin || freebsd

package store

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// freeBytes returns the space available to an unprivileged writer on the
// file system holding dir (statfs f_bavail × f_bsize).
func freeBytes(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	if st.Bavail <= 0 {
		return 0, nil
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}

// allocatedBytes returns the disk blocks a (sparse) file really holds.
func allocatedBytes(path string) uint64 {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil || st.Blocks <= 0 {
		return 0
	}
	return uint64(st.Blocks) * 512
}
