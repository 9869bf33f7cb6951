package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// ErrUnreadable is wrapped by the error of a read whose stored record does
// not read back: its SST block or value-log record fails its checksum, or
// it points past the end of a value-log file. The data directory is
// damaged; the store keeps serving what it can read, and Store.ReadFailure
// (hence /healthz) reports it until the store is restored from a backup.
var ErrUnreadable = errors.New("store: a stored record cannot be read (damaged data file)")

// ReadFailure describes the first read of a stored record that failed.
type ReadFailure struct {
	// At is when the read failed.
	At time.Time
	// Key is the record's key, printable.
	Key string
	// Reason is Badger's error.
	Reason string
}

// ReadFailure returns the first read of a stored record that failed since
// the store was opened, or nil when every read succeeded. A failed read
// means a damaged data file: the store is not healthy again until it is
// restored (restarting would refuse to open it or fail the same read).
func (s *Store) ReadFailure() *ReadFailure { return s.readFail.Load() }

// readFailed records a failed read of key (the first one is kept and
// logged) and returns the error the caller passes up.
func (s *Store) readFailed(key []byte, err error) error {
	if s == nil {
		return fmt.Errorf("%w: key %q: %w", ErrUnreadable, key, err)
	}
	f := &ReadFailure{At: time.Now(), Key: fmt.Sprintf("%q", key), Reason: err.Error()}
	if s.readFail.CompareAndSwap(nil, f) {
		s.log.Error("a stored record cannot be read: the data directory is damaged; restore it from a backup (patchbay restore)", "key", f.Key, "error", err)
	}
	return fmt.Errorf("%w: key %s: %w", ErrUnreadable, f.Key, err)
}

// CheckFiles reads every record of every data file of a store that is not
// open (patchbay check): the MANIFEST, every SST table with the checksum
// of each block, every WAL and every value-log file with the checksum of
// each record. It returns nil or an error wrapping ErrDamaged that names
// each damaged file, and notes about a crash's torn last write (which Open
// discards with a warning; not damage).
func CheckFiles(ctx context.Context, opts Options) (notes []string, err error) {
	if opts.Dir == "" {
		return nil, errors.New("store: no data directory")
	}
	opts.defaults()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	notes, damage := verifyFiles(opts, true)
	return notes, errors.Join(damage...)
}

// Verify reads the whole open store back: Badger's checksum of every SST
// block, then every key and every value (so every value-log record a key
// points at is read and checksummed). It returns nil or an error wrapping
// ErrUnreadable or ErrDamaged. Like Check, it reads everything: use it
// offline (patchbay check) or in tests.
func (s *Store) Verify(ctx context.Context) error {
	if err := s.db.VerifyChecksum(); err != nil {
		return fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	var problems []error
	err := s.View(func(r *ReadTx) error {
		txn := r.r.(badgerReader).txn
		it := txn.NewIterator(badger.IteratorOptions{AllVersions: false})
		defer it.Close()
		n := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			item := it.Item()
			if _, err := readValue(item); err != nil {
				problems = append(problems, s.readFailed(item.KeyCopy(nil), err))
				if len(problems) >= maxViolations {
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return errors.Join(problems...)
}
