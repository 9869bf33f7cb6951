//go:build !(linux || darwin || freebsd)

package store

import (
	"errors"
	"os"
)

// freeBytes cannot measure free space on this system: the guard admits
// every write (and logs once that it cannot guard).
func freeBytes(string) (uint64, error) {
	return 0, errors.New("free disk space is not measured on this system")
}

// allocatedBytes falls back to the file's size.
func allocatedBytes(path string) uint64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return uint64(fi.Size())
}
