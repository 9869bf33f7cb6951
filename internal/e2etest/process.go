package e2etest

import (
	"path/filepath"

	"github.com/patchbayhq/patchbay/internal/bench"
)

// PID returns the running core's process id (0 when it is not running).
func (c *Core) PID() int {
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// PluginPIDs returns the pids of the core's live plugin processes of that
// kind (the patchbay-plugin-<kind> binary), found through /proc.
func (c *Core) PluginPIDs(kind string) []int {
	pid := c.PID()
	if pid == 0 {
		return nil
	}
	return bench.Children(pid, filepath.Join(c.bin.PluginDir, "patchbay-plugin-"+kind))
}
