package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

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
// before Backup started). Cancelling ctx aborts it.
func (s *Store) Backup(ctx context.Context, w io.Writer) error {
	ts := s.acquireRead()
	defer s.releaseRead(ts)
	stream := s.db.NewStreamAt(ts)
	stream.LogPrefix = "patchbay backup"
	if _, err := stream.Backup(ctxWriter{ctx, w}, 0); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	return nil
}

// Restore loads a backup written by Backup into an empty data directory
// (opts.Dir missing or empty). The server must be stopped: Restore opens
// the directory itself, and it refuses a directory that holds data so that
// a restore never mixes with a live store.
func Restore(ctx context.Context, opts Options, r io.Reader) error {
	if opts.Dir == "" {
		return errors.New("store: restore: no data directory")
	}
	entries, err := os.ReadDir(opts.Dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: restore: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("store: restore: data directory %s is not empty", opts.Dir)
	}
	opts.defaults()
	opts.GCInterval = -1
	s, err := Open(opts)
	if err != nil {
		return err
	}
	loadErr := s.db.Load(ctxReader{ctx, r}, 256)
	if err := s.Close(); err != nil && loadErr == nil {
		loadErr = err
	}
	if loadErr != nil {
		return fmt.Errorf("store: restore: %w", loadErr)
	}
	return nil
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
