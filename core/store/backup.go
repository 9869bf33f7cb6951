package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Backup format: Badger's backup stream (frames of an 8-byte little-endian
// length and a protobuf KVList), ended by an empty frame. Badger's own
// loader reads it unchanged (an empty frame is an empty list); Restore
// insists on the end frame, so a backup cut short at a frame boundary is
// refused instead of restoring part of the store.

// maxBackupFrame bounds one frame of a backup (Badger's stream sends
// batches of about 100 MiB at most); a larger length is not a backup.
const maxBackupFrame = 1 << 30

// ErrBadBackup is returned by Restore for input that is not a complete
// backup written by Backup: not a backup at all, or truncated.
var ErrBadBackup = errors.New("not a complete Patchbay backup")

// ctxWriter fails writes once ctx is done, which aborts Badger's stream.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

// Write writes unless the context is done.
func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// Backup writes a full backup of the store to w using Badger's backup
// stream. It is online: it reads a consistent snapshot while the store keeps
// serving reads and writes (the snapshot holds every commit acknowledged
// before Backup started). Cancelling ctx aborts it. Close waits for a
// running backup (cancel it first to shut down quickly); a closed store
// answers ErrStoreClosed.
func (s *Store) Backup(ctx context.Context, w io.Writer) error {
	ts, err := s.acquireView()
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer s.releaseView(ts)
	cw := ctxWriter{ctx, w}
	// ts 0: nothing was ever committed, the backup is the end frame alone.
	// (Badger's stream would ask a managed database for a read timestamp
	// of its own, and panic.)
	if ts > 0 {
		stream := s.db.NewStreamAt(ts)
		stream.LogPrefix = "patchbay backup"
		if _, err := stream.Backup(cw, 0); err != nil {
			return fmt.Errorf("store: backup: %w", err)
		}
	}
	var end [8]byte
	if _, err := cw.Write(end[:]); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	return nil
}

// Restore loads a backup written by Backup into an empty data directory
// (opts.Dir missing or empty). The server must be stopped: Restore opens
// the directory itself, and it refuses a directory that holds data so that
// a restore never mixes with a live store. Input that is not a complete
// backup is refused with ErrBadBackup, and a failed restore leaves the
// directory as empty as it found it, so that it can be retried.
func Restore(ctx context.Context, opts Options, r io.Reader) (err error) {
	if opts.Dir == "" {
		return errors.New("store: restore: no data directory")
	}
	entries, err := os.ReadDir(opts.Dir)
	existed := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: restore: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("store: restore: data directory %s is not empty", opts.Dir)
	}
	defer func() {
		if err != nil {
			emptyDir(opts.Dir, existed)
		}
	}()
	opts.defaults()
	opts.GCInterval = -1
	s, err := Open(opts)
	if err != nil {
		return err
	}
	fr := &frameReader{r: ctxReader{ctx, r}, max: maxBackupFrame, room: s.space.restoreRoom} // room: space.go
	loadErr := s.db.Load(fr, 256)
	if loadErr == nil && !fr.complete() {
		loadErr = fmt.Errorf("%w: the end marker is missing (truncated?)", ErrBadBackup)
	}
	if loadErr == nil {
		// Badger recommends flattening after a load; it also spares the
		// first `patchbay serve` the compaction backlog (compact.go). The
		// data is complete either way, so a failure here only warns.
		if err := s.Compact(ctx); err != nil {
			opts.Logger.Warn("restored store not compacted; the server will compact it as it runs", "error", err)
		}
	}
	if err := s.Close(); err != nil && loadErr == nil {
		loadErr = err
	}
	if loadErr != nil {
		return fmt.Errorf("store: restore: %w", loadErr)
	}
	return nil
}

// emptyDir undoes a failed restore: the directory is removed when Restore
// created it, else emptied.
func emptyDir(dir string, existed bool) {
	if !existed {
		_ = os.RemoveAll(dir)
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// CheckedBackup returns a reader of r that passes a backup through
// unchanged and fails with ErrBadBackup where r stops being one: a garbage
// frame length, a frame cut short, or an end without the end frame. Copy a
// backup through it (e.g. one downloaded from GET /api/v1/backup) to know
// that the copy is whole.
func CheckedBackup(r io.Reader) io.Reader {
	return &checkedBackup{fr: frameReader{r: r, max: maxBackupFrame}}
}

type checkedBackup struct{ fr frameReader }

// Read implements io.Reader.
func (c *checkedBackup) Read(p []byte) (int, error) {
	n, err := c.fr.Read(p)
	if errors.Is(err, io.EOF) && !c.fr.complete() {
		return n, fmt.Errorf("%w: the end marker is missing (truncated?)", ErrBadBackup)
	}
	return n, err
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

// Read reads unless the context is done.
func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// frameReader passes a backup stream through while checking its framing:
// each frame's length is checked before Badger's loader sees it (the
// loader would allocate whatever a garbage length says), a frame cut short
// is an error, and complete reports whether the stream ended with the end
// frame.
type frameReader struct {
	r       io.Reader
	max     uint64
	hdr     [8]byte
	pending []byte // checked header bytes not yet returned
	body    uint64 // bytes left in the current frame's body
	frames  int
	last    uint64 // length of the last frame
	eof     bool   // the input ended at a frame boundary
	// room, when set, is asked before each frame whether the disk can
	// take it (Restore: Badger faults on a full disk; space.go).
	room func(prev, next uint64) error
}

// Read implements io.Reader.
func (f *frameReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(f.pending) > 0 {
		n := copy(p, f.pending)
		f.pending = f.pending[n:]
		return n, nil
	}
	if f.body > 0 {
		if uint64(len(p)) > f.body {
			p = p[:f.body]
		}
		n, err := f.r.Read(p)
		f.body -= uint64(n)
		if errors.Is(err, io.EOF) {
			if f.body > 0 {
				return n, fmt.Errorf("%w: it ends inside a frame (truncated?)", ErrBadBackup)
			}
			err = nil // the next Read reports the end at the frame boundary
		}
		return n, err
	}
	switch _, err := io.ReadFull(f.r, f.hdr[:]); {
	case errors.Is(err, io.EOF):
		f.eof = true
		return 0, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return 0, fmt.Errorf("%w: it ends inside a frame header (truncated?)", ErrBadBackup)
	case err != nil:
		return 0, err
	}
	size := binary.LittleEndian.Uint64(f.hdr[:])
	if size > f.max {
		return 0, fmt.Errorf("%w: a frame claims %d bytes", ErrBadBackup, size)
	}
	if f.room != nil {
		if err := f.room(f.last, size); err != nil {
			return 0, err
		}
	}
	f.frames++
	f.last, f.body = size, size
	n := copy(p, f.hdr[:])
	f.pending = f.hdr[n:]
	return n, nil
}

// complete reports whether the stream ended cleanly after the end frame.
func (f *frameReader) complete() bool {
	return f.eof && f.frames > 0 && f.last == 0
}
