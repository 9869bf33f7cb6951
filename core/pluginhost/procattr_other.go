//go:build unix && !linux

package pluginhost

import "syscall"

// procAttr starts a plugin in its own process group so the supervisor can
// kill everything it spawned.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
