package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Disk space guard.
//
// Badger writes its memtable WAL, its value log and every new SST table
// through memory-mapped files created sparse (ftruncate, no fallocate).
// When the disk is full, the page fault of such a write is a SIGBUS, a
// fatal runtime error that kills the process: no error ever reaches
// Update. So the store refuses writes while the data directory's free space
// is below a reserve that covers everything Badger may still write after
// the last admitted commit:
//
//   - the commit itself: at most one unit of MaxBatchBytes plus the request
//     that overflowed it, in the value log and the WAL (2 × MaxBatchBytes);
//   - the memtable flushes it can trigger: every memtable (numMemtables of
//     MemTableSize) becomes an L0 table no larger than itself, including
//     the flush Badger does when the store closes;
//   - the compaction those tables can trigger, measured from Badger's LSM
//     tree (compactionDebt): the inputs stay on disk until the outputs are
//     written.
//
// A file's sparse size does not matter: Badger touches a WAL or value-log
// page only when it writes a commit's bytes there, and every commit is
// checked. The first two terms are Options.MinFreeBytes (64 MiB with the
// default options); the third is added at run time. Free space is measured
// with statfs before every commit (about a microsecond, against a synced
// commit's hundreds), every second in the background, and at most every
// spaceRecheck while writes are refused, so they resume by themselves soon
// after space returns.

// ErrInsufficientSpace is returned (wrapped) by Update and the calls built on
// it while the data directory's free space is below the store's reserve.
// Nothing of the refused update is written; retry once space is freed.
var ErrInsufficientSpace = errors.New("store: insufficient disk space")

const (
	// spaceEvery is how often the background loop measures free space and
	// the LSM tree's compaction debt.
	spaceEvery = time.Second
	// spaceRecheck bounds how often a refused write measures again.
	spaceRecheck = 50 * time.Millisecond
	// debtEvery bounds how often the committer asks Badger for its LSM
	// tree's shape (a busy store flushes memtables many times a second).
	debtEvery = 100 * time.Millisecond
	// openMargin is what opening Badger writes besides flushing replayed
	// memtables: the first pages of a new WAL, a new value-log file and the
	// discard file (a few pages each), with room to spare.
	openMargin = 1 << 20
)

// SpaceStatus is the data directory's free space as the store last measured it.
type SpaceStatus struct {
	// Enabled is false when the guard is off (MinFreeBytes < 0) or free
	// space cannot be measured on this system.
	Enabled bool
	// Free is the space available to the process, in bytes.
	Free uint64
	// Reserve is the space the store keeps free: MinFreeBytes plus what a
	// pending compaction may write.
	Reserve uint64
	// Checked is when Free was measured.
	Checked time.Time
}

// Short reports whether writes are refused.
func (s SpaceStatus) Short() bool { return s.Enabled && s.Free < s.Reserve }

// spaceSample is one measurement.
type spaceSample struct {
	free uint64
	err  error // statfs failed: the guard admits writes (and says so once)
	at   time.Time
}

// spaceGuard measures the data directory's free space and admits writes.
type spaceGuard struct {
	dir     string
	min     int64 // fixed reserve; < 0: guard disabled
	statfs  func(dir string) (uint64, error)
	log     hclog.Logger
	debt    atomic.Int64 // compaction debt (debtFn), refreshed by refreshDebt
	debtFn  func() int64 // set once Badger is open
	debtAt  atomic.Int64 // unix nanoseconds of the last refresh
	sample  atomic.Pointer[spaceSample]
	short   atomic.Bool // last verdict, for logging transitions
	errOnce atomic.Bool
}

func newSpaceGuard(o Options) *spaceGuard {
	g := &spaceGuard{dir: o.Dir, min: o.MinFreeBytes, statfs: o.FreeSpace, log: o.Logger}
	if g.statfs == nil {
		g.statfs = freeBytes
	}
	if g.enabled() {
		g.measure()
	}
	return g
}

func (g *spaceGuard) enabled() bool { return g.min >= 0 }

// reserve is the free space writes need.
func (g *spaceGuard) reserve() uint64 { return uint64(g.min) + uint64(max(g.debt.Load(), 0)) }

// measure takes a fresh sample and logs a change of verdict.
func (g *spaceGuard) measure() *spaceSample {
	free, err := g.statfs(g.dir)
	smp := &spaceSample{free: free, err: err, at: time.Now()}
	g.sample.Store(smp)
	if err != nil {
		if !g.errOnce.Swap(true) {
			g.log.Warn("cannot measure free disk space; writes are not guarded against a full disk", "dir", g.dir, "error", err)
		}
		return smp
	}
	short := free < g.reserve()
	if was := g.short.Swap(short); was != short {
		if short {
			g.log.Error("disk space is short: writes are refused until space is freed", "dir", g.dir, "free_bytes", free, "reserve_bytes", g.reserve())
		} else {
			g.log.Info("disk space is back: writes resume", "dir", g.dir, "free_bytes", free, "reserve_bytes", g.reserve())
		}
	}
	return smp
}

// verdict is nil when smp admits a write of the store.
func (g *spaceGuard) verdict(smp *spaceSample) error {
	if smp.err != nil {
		return nil
	}
	if r := g.reserve(); smp.free < r {
		return fmt.Errorf("%w: %s free on the data directory's disk, %s reserved", ErrInsufficientSpace, ibytes(smp.free), ibytes(r))
	}
	return nil
}

// admit is the writer's check before it runs an update function: the last
// sample, measured again when it refuses and is older than spaceRecheck.
// The fast path is two atomic loads.
func (g *spaceGuard) admit() error {
	if !g.enabled() {
		return nil
	}
	smp := g.sample.Load()
	err := g.verdict(smp)
	if err != nil && time.Since(smp.at) >= spaceRecheck {
		err = g.verdict(g.measure())
	}
	return err
}

// beforeCommit is the committer's check: always a fresh measurement, so a
// disk filled by another process since the last commit is seen.
func (g *spaceGuard) beforeCommit() error {
	if !g.enabled() {
		return nil
	}
	if time.Since(time.Unix(0, g.debtAt.Load())) >= debtEvery {
		g.refreshDebt()
	}
	return g.verdict(g.measure())
}

// refreshDebt asks Badger what a pending compaction may write.
func (g *spaceGuard) refreshDebt() {
	if g.debtFn != nil {
		g.debt.Store(g.debtFn())
		g.debtAt.Store(time.Now().UnixNano())
	}
}

// status reports the last sample.
func (g *spaceGuard) status() SpaceStatus {
	if !g.enabled() {
		return SpaceStatus{}
	}
	smp := g.sample.Load()
	if smp.err != nil {
		return SpaceStatus{Checked: smp.at}
	}
	return SpaceStatus{Enabled: true, Free: smp.free, Reserve: g.reserve(), Checked: smp.at}
}

// allows reports whether extra bytes can be written on top of the reserve
// (value-log GC rewrites a file's live entries before it deletes the file).
func (g *spaceGuard) allows(extra uint64) bool {
	if !g.enabled() {
		return true
	}
	smp := g.measure()
	return smp.err != nil || smp.free >= g.reserve()+extra
}

// restoreRoom is Restore's check before Badger's loader reads the next
// backup frame: the loader writes frames outside the writer, asynchronously
// (the previous frame may still be in flight), into the value log or the
// WAL, so both frames must fit on top of the reserve, twice.
func (g *spaceGuard) restoreRoom(prev, next uint64) error {
	if !g.enabled() {
		return nil
	}
	smp := g.measure()
	if smp.err != nil {
		return nil
	}
	if need := g.reserve() + 2*(prev+next); smp.free < need {
		return fmt.Errorf("%w: restoring the next %s of the backup needs %s free on the data directory's disk, %s is free", ErrInsufficientSpace, ibytes(next), ibytes(need), ibytes(smp.free))
	}
	return nil
}

// Space returns the data directory's free space and the store's reserve as
// last measured (at most about a second ago, or at the last commit).
func (s *Store) Space() SpaceStatus {
	st := s.space.status()
	if st.Short() && time.Since(st.Checked) >= spaceRecheck {
		s.space.measure()
		st = s.space.status()
	}
	return st
}

// Writable measures the data directory's free space now (a statfs, about
// two microseconds) and returns nil while writes are accepted, or an error
// wrapping ErrInsufficientSpace that says how much space is free and
// reserved. Callers about to do something whose result must be recorded
// (an outbox send) check it first.
func (s *Store) Writable() error {
	if !s.space.enabled() {
		return nil
	}
	return s.space.verdict(s.space.measure())
}

// spaceLoop measures free space and the compaction debt every spaceEvery,
// so that Space is current and refused writes resume when space returns.
func (s *Store) spaceLoop(every time.Duration) {
	defer s.bg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case <-t.C:
			s.space.refreshDebt()
			s.space.measure()
		}
	}
}

// compactionDebt estimates what the next compactions may write before they
// delete their inputs: all of L0 and the base level (an L0 compaction), and
// the largest compaction pending below the base level: one table of its
// level and the overlapping tables of the next (about LevelSizeMultiplier
// of them, never more than that level holds).
func (s *Store) compactionDebt() int64 {
	levels := s.db.Levels()
	var debt, deeper int64
	for i, l := range levels {
		switch {
		case i == 0, l.IsBaseLevel:
			debt += l.Size
		case l.Score >= 1 && i+1 < len(levels):
			next := levels[i+1]
			est := l.TargetFileSize + min(next.Size, int64(s.db.Opts().LevelSizeMultiplier+1)*next.TargetFileSize)
			deeper = max(deeper, est)
		}
	}
	return debt + deeper
}

// checkOpenSpace refuses to open Badger when the disk cannot hold what
// opening writes: the L0 tables of the memtables it replays from their WAL
// files (each at most the WAL's data) and the first pages of new files.
func checkOpenSpace(o Options) error {
	if o.MinFreeBytes < 0 {
		return nil
	}
	statfs := o.FreeSpace
	if statfs == nil {
		statfs = freeBytes
	}
	dir := o.Dir
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	free, err := statfs(dir)
	if err != nil {
		return nil // the running guard logs it
	}
	need := uint64(openMargin)
	wals, _ := filepath.Glob(filepath.Join(o.Dir, "*.mem"))
	for _, w := range wals {
		need += allocatedBytes(w)
	}
	if free < need {
		return fmt.Errorf("%w: opening the store needs %s free on the data directory's disk (memtables to flush), %s is free", ErrInsufficientSpace, ibytes(need), ibytes(free))
	}
	return nil
}

// ibytes formats a byte count for messages ("1.5 MiB").
func ibytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	s := fmt.Sprintf("%.1f", float64(n)/float64(div))
	return strings.TrimSuffix(s, ".0") + " " + string("KMGTP"[exp]) + "iB"
}
