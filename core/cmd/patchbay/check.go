package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/patchbayhq/patchbay/config"
	"github.com/patchbayhq/patchbay/core/logscrub"
	"github.com/patchbayhq/patchbay/core/store"
)

// cmdCheck checks a stopped server's store: every data file record by
// record with its checksum (store.CheckFiles), then, opened, every stored
// value (Store.Verify) and every index (Store.Check). It prints what is
// wrong and fails (exit 1) when anything is.
func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", "-config FILE", stderr)
	cfgPath := fs.String("config", "config/patchbay.hcl", "configuration file")
	var lf logFlags
	lf.register(fs, "warn")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	// Nothing secret is read here, but every command's log passes the
	// scrubber all the same.
	logger, err := lf.logger(stderr, logscrub.New())
	if err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	dir := storeDir(cfg)
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("no store at %s (is data_dir right?): %w", dir, err)
	}
	// The files of a running store change under the reader: check only a
	// stopped one.
	if busy, err := storeInUse(dir); err != nil {
		return fmt.Errorf("check whether the store at %s is in use: %w", dir, err)
	} else if busy {
		return fmt.Errorf("the store at %s is in use: stop the server first (patchbay check reads the files of a stopped store)", dir)
	}
	opts := store.Options{Dir: dir, GCInterval: -1, Logger: logger.Named("store")}
	report := func(what string, err error) error {
		fmt.Fprintf(stdout, "%s: FAILED\n", what)
		for _, line := range problemLines(err) {
			fmt.Fprintf(stdout, "  - %s\n", line)
		}
		if errors.Is(err, store.ErrDamaged) || errors.Is(err, store.ErrUnreadable) {
			fmt.Fprintln(stdout, "The store is damaged: restore the data directory from a backup (patchbay restore into an empty data_dir); see \"Damaged store files\" in docs/operations.md.")
		}
		return errFailed
	}
	notes, err := store.CheckFiles(ctx, opts)
	for _, n := range notes {
		fmt.Fprintf(stdout, "note: %s\n", n)
	}
	if err != nil {
		return report("data files", err)
	}
	fmt.Fprintln(stdout, "data files: ok (every record of every WAL, value-log and table file reads back with its checksum)")
	st, err := store.Open(opts)
	if err != nil {
		return report("open", err)
	}
	defer st.Close()
	if err := st.Verify(ctx); err != nil {
		return report("stored values", err)
	}
	fmt.Fprintln(stdout, "stored values: ok (every key and value read back)")
	if err := st.Check(ctx); err != nil {
		return report("indexes", err)
	}
	fmt.Fprintln(stdout, "indexes: ok")
	if err := st.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "store %s: no problems found\n", dir)
	return nil
}

// problemLines splits an error made by errors.Join (nested) into one line
// per problem.
func problemLines(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		out = append(out, strings.ReplaceAll(e.Error(), "\n", "\n    "))
	}
	walk(err)
	return out
}
