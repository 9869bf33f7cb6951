package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat
// (100 on every Linux architecture Go supports).
const clockTicks = 100

// ProcStat is one reading of a process's resource use.
type ProcStat struct {
	PID int
	// Comm is the executable's name as the kernel keeps it.
	Comm string
	// PPID is the parent's pid; State the one-letter state (R, S, T, Z…).
	PPID  int
	State string
	// CPUSeconds is user + system time so far.
	CPUSeconds float64
	// RSSBytes is the resident set now, PeakRSSBytes its high-water mark
	// (VmHWM).
	RSSBytes, PeakRSSBytes int64
}

// ReadProc reads /proc/<pid>/stat and /proc/<pid>/status.
func ReadProc(pid int) (ProcStat, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return ProcStat{}, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	// The comm field is parenthesised and may contain spaces.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return ProcStat{}, fmt.Errorf("stat of %d: unexpected format", pid)
	}
	f := strings.Fields(string(b[end+1:]))
	// After comm: state(0) ppid(1) … utime(11) stime(12).
	if len(f) < 13 {
		return ProcStat{}, fmt.Errorf("stat of %d: %d fields", pid, len(f))
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	p := ProcStat{PID: pid, Comm: string(b[open+1 : end]), PPID: ppid, State: f[0], CPUSeconds: (ut + st) / clockTicks}
	sf, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return p, nil // exited in between: CPU still counts
	}
	defer sf.Close()
	sc := bufio.NewScanner(sf)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fs[0], 10, 64)
		switch k {
		case "VmRSS":
			p.RSSBytes = n << 10
		case "VmHWM":
			p.PeakRSSBytes = n << 10
		}
	}
	return p, nil
}

// Children returns the live child processes of pid whose executable path
// contains exeContains ("" for every child).
func Children(pid int, exeContains string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, err := ReadProc(child)
		if err != nil || p.PPID != pid || p.State == "Z" {
			continue
		}
		if exeContains != "" {
			exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
			if err != nil || !strings.Contains(exe, exeContains) {
				continue
			}
		}
		out = append(out, child)
	}
	return out
}

// Alive reports whether pid exists and is not a zombie.
func Alive(pid int) bool {
	p, err := ReadProc(pid)
	return err == nil && p.State != "Z"
}
