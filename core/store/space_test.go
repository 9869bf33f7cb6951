package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/patchbayhq/patchbay/internal/testutil"
)

const testReserve = 10 << 20

// fakeDisk is an injectable free-space measurement.
type fakeDisk struct {
	free  atomic.Uint64
	fail  atomic.Bool
	calls atomic.Int64
}

func (d *fakeDisk) statfs(string) (uint64, error) {
	d.calls.Add(1)
	if d.fail.Load() {
		return 0, errors.New("statfs: not supported")
	}
	return d.free.Load(), nil
}

func openSpaceTest(t *testing.T, disk *fakeDisk, minFree int64) *Store {
	t.Helper()
	s, err := Open(Options{Dir: t.TempDir(), MinFreeBytes: minFree, FreeSpace: disk.statfs, spaceEvery: 10 * time.Millisecond, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func bump(tx *Tx) error { _, err := tx.NextID("space"); return err }

func lastBump(t *testing.T, s *Store) uint64 {
	t.Helper()
	var n uint64
	if err := s.View(func(r *ReadTx) error {
		var err error
		n, err = r.LastID("space")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, what, cond)
}

// TestSpaceRefusesAndRecovers: below the reserve an update fails with
// ErrInsufficientSpace and writes nothing, the store stays consistent, and
// writes resume by themselves once space returns, without reopening.
func TestSpaceRefusesAndRecovers(t *testing.T) {
	disk := &fakeDisk{}
	disk.free.Store(1 << 30)
	s := openSpaceTest(t, disk, testReserve)
	ctx := context.Background()
	mustUpdate(t, s, bump)
	if err := s.Writable(); err != nil {
		t.Fatalf("Writable with space: %v", err)
	}

	disk.free.Store(testReserve - 1)
	ran := atomic.Int64{}
	err := s.Update(ctx, func(tx *Tx) error { ran.Add(1); return bump(tx) })
	if !errors.Is(err, ErrInsufficientSpace) {
		t.Fatalf("Update below the reserve: %v, want ErrInsufficientSpace", err)
	}
	// Concurrent updates (several commit units in the pipeline) all fail
	// the same way, and none is half-written.
	var wg sync.WaitGroup
	errs := make([]error, 32)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(ctx, func(tx *Tx) error { ran.Add(1); return bump(tx) })
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, ErrInsufficientSpace) {
			t.Errorf("concurrent update %d: %v, want ErrInsufficientSpace", i, err)
		}
	}
	if got := lastBump(t, s); got != 1 {
		t.Fatalf("sequence after refused updates = %d, want 1 (nothing written)", got)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check after refused updates: %v", err)
	}
	if err := s.Writable(); !errors.Is(err, ErrInsufficientSpace) {
		t.Fatalf("Writable while short: %v", err)
	}
	if st := s.Space(); !st.Short() || st.Reserve != testReserve || st.Free != testReserve-1 {
		t.Fatalf("Space while short = %+v", st)
	}
	// Once refused, the writer refuses without running the function.
	before := ran.Load()
	if err := s.Update(ctx, func(tx *Tx) error { ran.Add(1); return bump(tx) }); !errors.Is(err, ErrInsufficientSpace) {
		t.Fatalf("second update while short: %v", err)
	}
	if ran.Load() != before {
		t.Error("an update function ran although the disk was known to be short")
	}

	disk.free.Store(testReserve)
	eventually(t, "Writable after space returned", func() bool { return s.Writable() == nil })
	mustUpdate(t, s, bump)
	if got := lastBump(t, s); got != 2 {
		t.Fatalf("sequence after recovery = %d, want 2", got)
	}
	if st := s.Space(); st.Short() || !st.Enabled {
		t.Fatalf("Space after recovery = %+v", st)
	}
}

// TestSpaceBoundary: the reserve is MinFreeBytes (plus compaction debt, 0
// on an empty store); <0 disables the guard; an unmeasurable disk admits.
func TestSpaceBoundary(t *testing.T) {
	cases := []struct {
		name    string
		minFree int64
		free    uint64
		fail    bool
		wantErr bool
	}{
		{"at the reserve", testReserve, testReserve, false, false},
		{"one byte short", testReserve, testReserve - 1, false, true},
		{"empty disk", testReserve, 0, false, true},
		{"guard disabled", -1, 0, false, false},
		{"statfs fails", testReserve, 0, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			disk := &fakeDisk{}
			disk.free.Store(1 << 30)
			s := openSpaceTest(t, disk, c.minFree)
			disk.free.Store(c.free)
			disk.fail.Store(c.fail)
			err := s.Update(context.Background(), bump)
			if got := errors.Is(err, ErrInsufficientSpace); got != c.wantErr || (!c.wantErr && err != nil) {
				t.Fatalf("Update: %v, want refused=%v", err, c.wantErr)
			}
			if c.minFree < 0 && disk.calls.Load() != 0 {
				t.Errorf("disabled guard measured the disk %d times", disk.calls.Load())
			}
		})
	}
}

func TestSpaceDefaultReserve(t *testing.T) {
	var o Options
	o.defaults()
	if want := int64(2*8<<20 + 3*16<<20); o.MinFreeBytes != want {
		t.Fatalf("default MinFreeBytes = %d, want %d (2×MaxBatchBytes + 3×MemTableSize)", o.MinFreeBytes, want)
	}
	o = Options{MemTableSize: 64 << 20, MaxBatchBytes: 1 << 20}
	o.defaults()
	if want := int64(2<<20 + 3*64<<20); o.MinFreeBytes != want {
		t.Fatalf("MinFreeBytes = %d, want %d", o.MinFreeBytes, want)
	}
}

// TestSpaceOpen: Open refuses a disk that cannot hold the flush of the
// memtables it replays, with ErrInsufficientSpace and before touching Badger.
func TestSpaceOpen(t *testing.T) {
	dir := t.TempDir()
	full := func(string) (uint64, error) { return 0, nil }
	if _, err := Open(Options{Dir: dir, FreeSpace: full}); !errors.Is(err, ErrInsufficientSpace) {
		t.Fatalf("Open on a full disk: %v, want ErrInsufficientSpace", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a refused Open wrote %d files", len(entries))
	}
	// Enough for opening, not for writing: the store opens (reads work)
	// and refuses writes.
	s, err := Open(Options{Dir: dir, FreeSpace: func(string) (uint64, error) { return 2 << 20, nil }})
	if err != nil {
		t.Fatalf("Open with room to open: %v", err)
	}
	defer s.Close()
	if err := s.Update(context.Background(), bump); !errors.Is(err, ErrInsufficientSpace) {
		t.Fatalf("Update below the default reserve: %v", err)
	}
}

// TestSpaceRestore: Restore (Badger's loader writes outside the writer)
// refuses a backup frame the disk cannot take, leaves the directory empty,
// and succeeds once there is room.
func TestSpaceRestore(t *testing.T) {
	src := openTest(t)
	for range 3 {
		mustUpdate(t, src, func(tx *Tx) error { return tx.SetState("r", fmt.Sprint(time.Now().UnixNano()), make([]byte, 8<<10)) })
	}
	mustUpdate(t, src, bump)
	var backup bytes.Buffer
	if err := src.Backup(context.Background(), &backup); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	disk := &fakeDisk{}
	disk.free.Store(2 << 20) // enough to open, not for the reserve
	opts := Options{Dir: dir, FreeSpace: disk.statfs}
	if err := Restore(context.Background(), opts, bytes.NewReader(backup.Bytes())); !errors.Is(err, ErrInsufficientSpace) {
		t.Fatalf("Restore on a short disk: %v, want ErrInsufficientSpace", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused restore left %s behind: %v", dir, err)
	}
	disk.free.Store(1 << 40)
	if err := Restore(context.Background(), opts, bytes.NewReader(backup.Bytes())); err != nil {
		t.Fatalf("Restore with room: %v", err)
	}
	s, err := Open(Options{Dir: dir, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := lastBump(t, s); got != 1 {
		t.Fatalf("restored sequence = %d, want 1", got)
	}
}

func TestIBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 64 << 20: "64 MiB", 3 << 30: "3 GiB"} {
		if got := ibytes(n); got != want {
			t.Errorf("ibytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestSpaceRealDiskFull fills a real tmpfs under real Badger: first the
// store itself until it refuses, then another file up to the last byte.
// Without the guard Badger's mmap writes fault (SIGBUS) and the test
// binary dies; with it every write is refused cleanly, acknowledged
// writes stay readable, and writes resume once the disk grows.
func TestSpaceRealDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a tmpfs")
	}
	const size = 96 << 20
	mnt := testutil.SmallDisk(t, size)
	dir := filepath.Join(mnt, "data")
	s, err := Open(Options{Dir: dir, GCInterval: -1, spaceEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	// Random bytes, so that Snappy cannot shrink the L0 tables.
	big := make([]byte, 64<<10)  // value log
	small := make([]byte, 2<<10) // WAL and LSM tree
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	copy(small, big)
	write := func(n int) error {
		return s.Update(ctx, func(tx *Tx) error {
			for i := range 2 {
				if err := tx.SetState("disk", fmt.Sprintf("big/%d/%d", n, i), big); err != nil {
					return err
				}
			}
			for i := range 192 {
				if err := tx.SetState("disk", fmt.Sprintf("small/%d/%d", n, i), small); err != nil {
					return err
				}
			}
			return bump(tx)
		})
	}
	// Eight writers at once (pipelined commit units) until each is refused.
	var next, done atomic.Int64
	var wg sync.WaitGroup
	refusals := make([]error, 8)
	for w := range refusals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Load() < 10_000 {
				if err := write(int(next.Add(1))); err != nil {
					refusals[w] = err
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	acked := int(done.Load())
	for w, err := range refusals {
		if !errors.Is(err, ErrInsufficientSpace) {
			t.Fatalf("writer %d after %d writes in all: %v, want ErrInsufficientSpace", w, acked, err)
		}
	}
	if got := lastBump(t, s); got != uint64(acked) {
		t.Fatalf("%d writes acknowledged, %d stored", acked, got)
	}
	base := int(next.Load()) + 1
	t.Logf("refused after %d acknowledged writes (%d MiB): %+v", acked, acked*(2*64+192*2)>>10, s.Space())

	// Reopen (Close flushes the memtable): nothing of Badger's is in
	// flight when another process takes the disk's last byte below. (A
	// flush or compaction running at that moment would fault: the guard
	// cannot reserve space against other processes; docs/operations.md.)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(Options{Dir: dir, GCInterval: -1, spaceEvery: 20 * time.Millisecond}); err != nil {
		t.Fatalf("reopen on the small disk: %v", err)
	}
	defer s.Close()
	if got := lastBump(t, s); got != uint64(acked) {
		t.Fatalf("after reopening: %d writes acknowledged, %d stored", acked, got)
	}

	// Another process takes the rest of the disk, to the last byte.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	if _, err := f.Write(chunk[:4096]); err == nil {
		for {
			if _, err := f.Write(chunk[:4096]); err != nil {
				break
			}
		}
	}
	f.Close()
	for n := range 20 {
		if err := write(base + n); !errors.Is(err, ErrInsufficientSpace) {
			t.Fatalf("write %d on a full disk: %v", n, err)
		}
	}
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check on a full disk: %v", err)
	}
	if got := lastBump(t, s); got != uint64(acked) {
		t.Fatalf("%d writes acknowledged, %d stored", acked, got)
	}

	// Space returns: the filler goes and the disk grows.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", syscall.MS_REMOUNT, fmt.Sprintf("size=%d", 2*size)); err != nil {
		t.Fatalf("grow the tmpfs: %v", err)
	}
	eventually(t, "writes to resume", func() bool { return s.Writable() == nil })
	for n := range 20 {
		if err := write(base + 20 + n); err != nil {
			t.Fatalf("write %d after space returned: %v", n, err)
		}
	}
	if got := lastBump(t, s); got != uint64(acked+20) {
		t.Fatalf("sequence = %d, want %d", got, acked+20)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check after recovery: %v", err)
	}
}

// BenchmarkSpaceCheck measures what the guard adds to the write path: a
// statfs before each commit (committer) and the writer's admit of each
// update function (two atomic loads while space is plentiful).
func BenchmarkSpaceCheck(b *testing.B) {
	dir := b.TempDir()
	g := newSpaceGuard(Options{Dir: dir, MinFreeBytes: 1, Logger: hclog.NewNullLogger()})
	b.Run("statfs", func(b *testing.B) {
		for b.Loop() {
			if err := g.beforeCommit(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compaction-debt", func(b *testing.B) {
		s := bigStore(b) // every debtEvery at most, in the committer
		for b.Loop() {
			s.compactionDebt()
		}
	})
	b.Run("admit", func(b *testing.B) {
		for b.Loop() {
			if err := g.admit(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
