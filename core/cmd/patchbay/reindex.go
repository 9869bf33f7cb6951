package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/config"
	"github.com/patchbayhq/patchbay/core/search"
	"github.com/patchbayhq/patchbay/core/store"
)

// searchDir is where the core keeps its full-text index under data_dir.
func searchDir(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "search") }

// cmdReindex rebuilds the full-text index from the store, offline (the
// server holds the store while it runs; it rebuilds a missing or stale
// index by itself on start).
func cmdReindex(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("reindex", "-config FILE", stderr)
	cfgPath := fs.String("config", "config/patchbay.hcl", "configuration file")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if _, err := os.Stat(storeDir(cfg)); err != nil {
		return fmt.Errorf("no store at %s (is data_dir right?): %w", storeDir(cfg), err)
	}
	st, err := store.Open(store.Options{Dir: storeDir(cfg), GCInterval: -1})
	if err != nil {
		return fmt.Errorf("cannot open the store (stop the server first; it rebuilds a stale index by itself): %w", err)
	}
	started := time.Now()
	logger := hclog.New(&hclog.LoggerOptions{Name: "reindex", Output: stderr, Level: hclog.Info})
	n, err := search.Rebuild(ctx, st, search.Options{Dir: searchDir(cfg), Logger: logger})
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "patchbay reindex: %d tickets indexed into %s in %s\n", n, searchDir(cfg), time.Since(started).Round(time.Millisecond))
	return nil
}
