package pluginhost

import "syscall"

// procAttr starts a plugin in its own process group (so the supervisor can
// kill everything it spawned, and a terminal's Ctrl-C reaches only the
// core) and has the kernel kill it if the core dies without stopping it
// (kill -9 of the core).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
