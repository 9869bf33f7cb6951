package store

import (
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/hashicorp/go-hclog"
)

// Options configure a Store. Zero values take the defaults below.
type Options struct {
	// Dir is the data directory (required).
	Dir string
	// Logger receives Badger's and the store's logs; nil discards them.
	Logger hclog.Logger
	// Clock returns the current time (tests inject one); nil is time.Now.
	Clock func() time.Time
	// MaxBatch bounds how many Update functions share one commit (default 512).
	MaxBatch int
	// MaxBatchBytes bounds the bytes written by one commit (default 8 MiB);
	// Badger's own transaction limit is handled by splitting too.
	MaxBatchBytes int
	// GCInterval is how often value-log GC and event-log trimming run
	// (default 5m; <0 disables both).
	GCInterval time.Duration
	// EventRetention is how long events stay in the log for SSE clients to
	// resume from (default 14 days; <0 keeps them forever).
	EventRetention time.Duration
	// MemTableSize, BlockCacheSize and IndexCacheSize override the
	// low-memory defaults (16 MiB, 32 MiB, 16 MiB).
	MemTableSize, BlockCacheSize, IndexCacheSize int64
	// WriterCacheBytes bounds the group-commit writer's cache of hot
	// records (tickets, users, identities, conversations, sequences, rules
	// engine records; see cache.go), default 16 MiB; <0 disables it.
	WriterCacheBytes int
	// MinFreeBytes is the free space the store keeps on the data
	// directory's disk: below it (plus what a pending compaction may write,
	// measured at run time) every write fails with ErrInsufficientSpace
	// instead of letting Badger fault on a full disk (see space.go). The
	// default, 2×MaxBatchBytes + 3×MemTableSize (64 MiB with the defaults),
	// covers one commit and the flush of every memtable; <0 disables the
	// guard.
	MinFreeBytes int64
	// FreeSpace returns the bytes available on the file system holding
	// dir; nil measures with statfs. Tests inject a fake disk.
	FreeSpace func(dir string) (uint64, error)

	// spaceEvery, when set (tests), replaces the background measurement
	// interval (1s).
	spaceEvery time.Duration
}

// numMemtables is Badger's NumMemtables: the memtables the space reserve
// must be able to flush.
const numMemtables = 3

// vlogFileSize is Badger's ValueLogFileSize. Value-log GC rewrites the live
// half (at most) of one file before deleting it, so it runs only with that
// much free above the reserve.
const vlogFileSize = 64 << 20

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 512
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 8 << 20
	}
	if o.GCInterval == 0 {
		o.GCInterval = 5 * time.Minute
	}
	if o.EventRetention == 0 {
		o.EventRetention = 14 * 24 * time.Hour
	}
	if o.WriterCacheBytes == 0 {
		o.WriterCacheBytes = 16 << 20
	}
	if o.MemTableSize <= 0 {
		o.MemTableSize = 16 << 20
	}
	if o.BlockCacheSize <= 0 {
		o.BlockCacheSize = 32 << 20
	}
	if o.IndexCacheSize <= 0 {
		o.IndexCacheSize = 16 << 20
	}
	if o.MinFreeBytes == 0 {
		o.MinFreeBytes = 2*int64(o.MaxBatchBytes) + numMemtables*o.MemTableSize
	}
	if o.spaceEvery <= 0 {
		o.spaceEvery = spaceEvery
	}
}

// badgerOptions returns the Badger options: durability first, then a small
// memory footprint. The choices (documented in doc.go):
//   - SyncWrites: every commit is fsynced before Update returns.
//   - NumVersionsToKeep 1: no history is needed, compaction drops old versions.
//   - MemTableSize 16 MiB (Badger: 64), NumMemtables 3 (5): at most ~48 MiB of
//     memtables; the largest transaction is ~15% of a memtable, which the
//     group-commit writer respects by splitting batches.
//   - BlockCacheSize 32 MiB (256) and IndexCacheSize 16 MiB (0 = all table
//     indexes on the heap): bounded caches, so RSS does not grow with the data.
//   - ValueThreshold 4 KiB (1 MiB): tickets, comments and index entries stay
//     in the LSM tree, attachment chunks and raw payloads go to the value log
//     and do not count against the transaction size limit.
//   - ValueLogFileSize 64 MiB (1 GiB): smaller files are rewritten by
//     value-log GC sooner, and a GC run needs less free space (space.go).
//   - NumCompactors 2, NumLevelZeroTables 3: fewer compactions at once on a
//     2-core machine. BaseTableSize 2 MiB (Badger's default; 8 MiB until
//     22 Nov 2026): a compaction builds each output table in memory, sized
//     from the table size, so larger tables multiplied compaction buffers
//     (a compaction backlog took the core to 1.7 GB with 8 MiB, 670 MB
//     with 2 MiB; docs/performance.md).
//   - DetectConflicts false: one writer goroutine owns every write, so
//     Badger's conflict tracking is pure overhead.
//   - ChecksumVerificationMode OnBlockRead, VerifyValueChecksum: every SST
//     block and value-log record is checked against its checksum when it
//     is read, so damage is an error, not wrong data or (for an SST
//     iterator, which stops at an unreadable block) missing entries. Whole
//     tables are verified before Badger opens them (verify.go), not again
//     by Badger (OnTableRead would read every table twice at open).
func (o Options) badgerOptions() badger.Options {
	return badger.DefaultOptions(o.Dir).
		WithSyncWrites(true).
		WithNumVersionsToKeep(1).
		WithMemTableSize(o.MemTableSize).
		WithNumMemtables(numMemtables).
		WithBlockCacheSize(o.BlockCacheSize).
		WithIndexCacheSize(o.IndexCacheSize).
		WithValueThreshold(4 << 10).
		WithValueLogFileSize(vlogFileSize).
		WithNumCompactors(2).
		WithBaseTableSize(2 << 20).
		WithNumLevelZeroTables(3).
		WithNumLevelZeroTablesStall(8).
		WithCompression(options.Snappy).
		WithDetectConflicts(false).
		WithChecksumVerificationMode(options.OnBlockRead).
		WithVerifyValueChecksum(true).
		WithLogger(badgerLogger{o.Logger.Named("badger")})
}

// badgerLogger adapts Badger's printf logger to hclog. Badger's Info lines
// (compactions, table flushes) are routine and go to Debug.
type badgerLogger struct{ l hclog.Logger }

func (b badgerLogger) msg(format string, args ...any) string {
	return strings.TrimRight(fmt.Sprintf(format, args...), "\n")
}

// Errorf logs at Error.
func (b badgerLogger) Errorf(f string, a ...any) { b.l.Error(b.msg(f, a...)) }

// Warningf logs at Warn.
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(b.msg(f, a...)) }

// Infof logs at Debug (Badger is chatty at Info).
func (b badgerLogger) Infof(f string, a ...any) { b.l.Debug(b.msg(f, a...)) }

// Debugf logs at Trace.
func (b badgerLogger) Debugf(f string, a ...any) { b.l.Trace(b.msg(f, a...)) }
