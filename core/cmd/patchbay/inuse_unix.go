//go:build unix

package main

import (
	"errors"
	"os"
	"syscall"
)

// storeInUse reports whether a process holds the store's directory lock
// (Badger flocks the directory itself while the store is open).
func storeInUse(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return true, nil
		}
		return false, err
	}
	return false, syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
