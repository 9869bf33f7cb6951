package store

import (
	"context"
	"fmt"
)

// Compact settles the LSM tree: every table is compacted into one level,
// so that the store looks like one grown over time rather than one just
// bulk-loaded. A bulk load (a restore, a benchmark fixture, an import)
// writes faster than Badger compacts, and the backlog would otherwise be
// compacted by the next `patchbay serve` in its first minutes: extra CPU
// on two cores and compaction buffers of several hundred MB, while it
// serves. Call it with no writes in flight; it can take as long as reading
// and rewriting the whole store.
func (s *Store) Compact(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.db.Flatten(2); err != nil {
		return fmt.Errorf("store: compact: %w", err)
	}
	return nil
}
