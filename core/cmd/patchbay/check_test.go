package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// TestCheckCommand: patchbay check passes a sound store (exit 0) and
// fails one with a flipped value-log record (exit 1), naming the file and
// the way out; a missing store is an error too.
func TestCheckCommand(t *testing.T) {
	dataDir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "patchbay.hcl")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("data_dir = %q\nplugin_dir = %q\n", dataDir, pluginDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, msg := runBinary(t, nil, "check", "-config", cfg); code != 1 || !strings.Contains(msg, "no store at") {
		t.Errorf("check without a store: exit %d, %s", code, msg)
	}
	dir := filepath.Join(dataDir, "store")
	st, err := store.Open(store.Options{Dir: dir, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		if err := st.Update(ctx, func(tx *store.Tx) error {
			return tx.CreateTicket(&ticket.Ticket{Subject: fmt.Sprint("t", i), Status: ticket.StatusNew})
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 4; i++ {
		m := &store.AttachmentMeta{Filename: "a.bin"}
		if err := st.WriteAttachment(ctx, m, bytes.NewReader(bytes.Repeat([]byte{byte(i + 1)}, 1<<20)), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// A running store (its directory locked) is not checked.
	busy, err := store.Open(store.Options{Dir: dir, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if code, msg := runBinary(t, nil, "check", "-config", cfg); code != 1 || !strings.Contains(msg, "in use") {
		t.Errorf("check of a store in use: exit %d, %s", code, msg)
	}
	if err := busy.Close(); err != nil {
		t.Fatal(err)
	}
	code, msg := runBinary(t, nil, "check", "-config", cfg)
	if code != 0 || !strings.Contains(msg, "no problems found") {
		t.Fatalf("check of a sound store: exit %d, %s", code, msg)
	}
	vlog := filepath.Join(dir, "000001.vlog")
	f, err := os.OpenFile(vlog, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("DAMAGED!"), 2<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	code, msg = runBinary(t, nil, "check", "-config", cfg)
	if code != 1 || !strings.Contains(msg, "000001.vlog") || !strings.Contains(msg, "patchbay restore") || strings.Contains(msg, "panic") {
		t.Errorf("check of a store with a flipped value-log record: exit %d, %s", code, msg)
	}
}
