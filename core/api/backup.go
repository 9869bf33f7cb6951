package api

import (
	"fmt"
	"net/http"

	"github.com/patchbayhq/patchbay/core/store"
)

// backupRoute streams an online backup of the whole store (admin only).
const backupRoute = "GET /api/v1/backup"

// backup streams a consistent snapshot of the store in Badger's backup
// format while the core keeps serving; `patchbay backup` uses it when the
// server holds the data directory. The snapshot is taken when the request
// starts: later writes are not in it.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) error {
	// A closed store is a 503 while the status can still say so.
	if err := s.store.View(func(*store.ReadTx) error { return nil }); err != nil {
		return unavailable(err)
	}
	name := fmt.Sprintf("patchbay-%s.backup", s.now().UTC().Format("20060102T150405Z"))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if err := s.store.Backup(r.Context(), w); err != nil {
		// The status is sent; cut the stream so the client sees a broken
		// body rather than a short, valid-looking backup.
		s.log.Error("backup failed", "error", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}
