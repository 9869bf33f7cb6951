package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// setNonDumpable marks the core non-dumpable (PR_SET_DUMPABLE 0): no core
// dump, and processes of the same uid — a plugin included — can neither
// ptrace it nor read its /proc files (environ, mem, fds), where the admin
// token and the provider secrets live.
func setNonDumpable() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", err)
	}
	return nil
}
