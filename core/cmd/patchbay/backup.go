package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/patchbayhq/patchbay/config"
	"github.com/patchbayhq/patchbay/core/store"
)

// storeDir is where the core keeps its Badger store under data_dir.
func storeDir(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "store") }

// cmdBackup writes a backup of the store. With the server stopped it reads
// the data directory itself; while the server runs (it holds the directory)
// it streams an online backup from the server's admin API, authenticated
// with PATCHBAY_ADMIN_TOKEN.
func cmdBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backup", "-config FILE -o BACKUP", stderr)
	cfgPath := fs.String("config", "config/patchbay.hcl", "configuration file")
	out := fs.String("o", "", "backup file to write (\"-\" for standard output)")
	url := fs.String("url", "", "back up the running server at this base URL (default: the data directory when the server is stopped, else http.listen)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: -o is required", errUsage)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	write := func(fill func(io.Writer) error) error { return writeAtomically(*out, stdout, fill) }

	// Opening a missing directory would create an empty store and back
	// that up: a wrong data_dir must be an error, not an empty backup.
	if _, err := os.Stat(storeDir(cfg)); err != nil && *url == "" {
		return fmt.Errorf("no store at %s (is data_dir right? pass -url to back up a server by its address): %w", storeDir(cfg), err)
	}
	openErr := errors.New("the server's address was given with -url")
	var st *store.Store
	if *url == "" {
		st, openErr = store.Open(store.Options{Dir: storeDir(cfg), GCInterval: -1})
	}
	if openErr == nil {
		err := write(func(w io.Writer) error { return st.Backup(ctx, w) })
		if cerr := st.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			fmt.Fprintf(stderr, "patchbay backup: offline backup of %s written to %s\n", storeDir(cfg), *out)
		}
		return err
	}
	base := *url
	if base == "" {
		base = "http://" + dialable(cfg.HTTP.Listen)
	}
	token := os.Getenv("PATCHBAY_ADMIN_TOKEN")
	if token == "" {
		return fmt.Errorf("cannot open the store (%w); if the server is running, set PATCHBAY_ADMIN_TOKEN for an online backup", openErr)
	}
	err = write(func(w io.Writer) error { return onlineBackup(ctx, base, token, w) })
	if err != nil {
		return fmt.Errorf("cannot open the store (%v), and the online backup from %s failed: %w", openErr, base, err)
	}
	fmt.Fprintf(stderr, "patchbay backup: online backup from %s written to %s\n", base, *out)
	return nil
}

// onlineBackup streams GET /api/v1/backup into w.
func onlineBackup(ctx context.Context, base, token string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/backup", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: time.Minute}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("server answered %s: %s", resp.Status, msg)
	}
	// The server cuts the stream when its side fails; the check also
	// catches a stream that ends early without an error.
	if _, err := io.Copy(w, store.CheckedBackup(resp.Body)); err != nil {
		return fmt.Errorf("reading the backup stream: %w", err)
	}
	return nil
}

// dialable turns a listen address into one a client can dial (an empty or
// unspecified host means this machine).
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// writeAtomically fills a temporary file beside path, syncs it and renames
// it into place, so a failed backup never leaves a truncated file that looks
// whole. "-" writes to stdout.
func writeAtomically(path string, stdout io.Writer, fill func(io.Writer) error) error {
	if path == "-" {
		return fill(stdout)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// cmdRestore loads a backup into an empty data directory. The server must
// be stopped; the restored store is checked for consistency before the
// command reports success.
func cmdRestore(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("restore", "-config FILE -i BACKUP", stderr)
	cfgPath := fs.String("config", "config/patchbay.hcl", "configuration file")
	in := fs.String("i", "", "backup file to read")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *in == "" {
		return fmt.Errorf("%w: -i is required", errUsage)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	dir := storeDir(cfg)
	if err := store.Restore(ctx, store.Options{Dir: dir}, f); err != nil {
		return err
	}
	st, err := store.Open(store.Options{Dir: dir, GCInterval: -1})
	if err != nil {
		return fmt.Errorf("restored, but the store does not open: %w", err)
	}
	checkErr := st.Check(ctx)
	closeErr := st.Close()
	if err := errors.Join(checkErr, closeErr); err != nil {
		return fmt.Errorf("restored, but the store is not consistent: %w", err)
	}
	// The search index describes the store that was there before (if
	// any): drop it; the server rebuilds it from the restored store.
	if err := os.RemoveAll(searchDir(cfg)); err != nil {
		return fmt.Errorf("restored, but the old search index could not be removed (delete %s): %w", searchDir(cfg), err)
	}
	fmt.Fprintf(stderr, "patchbay restore: %s restored into %s and checked\n", *in, dir)
	return nil
}
