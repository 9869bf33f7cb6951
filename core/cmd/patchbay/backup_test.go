package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/internal/testutil"
)

// runBinary runs the patchbay binary and returns its exit code and output.
func runBinary(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "patchbay"), args...)
	// Only the token a case passes: not one from the caller's environment
	// (make exports none, but a developer's shell may).
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATCHBAY_ADMIN_TOKEN=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

func apiCall(t *testing.T, method, url, token string, body any) (int, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, url, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

// Online backup while serving, offline backup when stopped, restore into an
// empty data directory (refused when not empty), and the restored core
// serving the same tickets.
func TestBackupAndRestore(t *testing.T) {
	const token = "backup-admin-token-42-0123456789abcdef"
	addr := testutil.FreeAddr(t)
	cfg := writeConfig(t, `http { listen = "`+addr+`" }`)
	cmd, logs, base, exited := startServe(t, cfg, "PATCHBAY_ADMIN_TOKEN="+token)
	for _, subject := range []string{"one", "two", "three"} {
		code, body := apiCall(t, "POST", base+"/api/v1/tickets", token, map[string]any{
			"subject": subject, "comment": map[string]any{"body": "hello"},
			"requester": map[string]any{"name": "Ann", "email": "ann@example.test"},
		})
		if code != http.StatusCreated {
			t.Fatalf("create ticket: %d %s", code, body)
		}
	}

	dir := t.TempDir()
	online := filepath.Join(dir, "online.backup")
	if code, out := runBinary(t, nil, "backup", "-config", cfg, "-o", online); code == 0 || !strings.Contains(out, "PATCHBAY_ADMIN_TOKEN") {
		t.Errorf("backup of a running server without a token: exit %d, %s", code, out)
	}
	if code, out := runBinary(t, []string{"PATCHBAY_ADMIN_TOKEN=" + token}, "backup", "-config", cfg, "-o", online); code != 0 || !strings.Contains(out, "online backup") {
		t.Fatalf("online backup: exit %d, %s", code, out)
	}
	if strings.Contains(logs.String(), token) {
		t.Error("the admin token reached the log")
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop")
	}
	offline := filepath.Join(dir, "offline.backup")
	if code, out := runBinary(t, nil, "backup", "-config", cfg, "-o", offline); code != 0 || !strings.Contains(out, "offline backup") {
		t.Fatalf("offline backup: exit %d, %s", code, out)
	}

	for _, file := range []string{online, offline} {
		addr2 := testutil.FreeAddr(t)
		cfg2 := writeConfig(t, `http { listen = "`+addr2+`" }`)
		if code, out := runBinary(t, nil, "restore", "-config", cfg2, "-i", file); code != 0 || !strings.Contains(out, "checked") {
			t.Fatalf("restore %s: exit %d, %s", filepath.Base(file), code, out)
		}
		if code, out := runBinary(t, nil, "restore", "-config", cfg2, "-i", file); code == 0 || !strings.Contains(out, "not empty") {
			t.Errorf("restore over a store: exit %d, %s", code, out)
		}
		_, _, base2, _ := startServe(t, cfg2, "PATCHBAY_ADMIN_TOKEN="+token)
		code, body := apiCall(t, "GET", base2+"/api/v1/tickets", token, nil)
		var list struct {
			Tickets []struct {
				Subject string `json:"subject"`
			} `json:"tickets"`
		}
		if err := json.Unmarshal(body, &list); code != 200 || err != nil {
			t.Fatalf("list after restore: %d %s", code, body)
		}
		if len(list.Tickets) != 3 || list.Tickets[0].Subject != "three" {
			t.Errorf("restored from %s: %s", filepath.Base(file), body)
		}
	}
}

// Bad input to backup and restore: a data_dir without a store is an error
// (not an empty backup), a file that is not a whole backup is refused
// without a panic, and the refused restore leaves the data directory ready
// for the right file.
func TestBackupRestoreBadInput(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, `http { listen = "`+testutil.FreeAddr(t)+`" }`)
	out := filepath.Join(dir, "none.backup")
	if code, msg := runBinary(t, nil, "backup", "-config", cfg, "-o", out); code != 1 || !strings.Contains(msg, "no store at") {
		t.Errorf("backup without a store: exit %d, %s", code, msg)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed backup left %s (%v)", out, err)
	}

	garbage := filepath.Join(dir, "garbage.backup")
	if err := os.WriteFile(garbage, []byte("PK\x03\x04 this is a zip file, not a backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.backup")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{garbage, empty, filepath.Join(dir, "missing.backup")} {
		code, msg := runBinary(t, nil, "restore", "-config", cfg, "-i", file)
		if code != 1 || strings.Contains(msg, "panic") {
			t.Errorf("restore %s: exit %d, %s", filepath.Base(file), code, msg)
		}
		if file != filepath.Join(dir, "missing.backup") && !strings.Contains(msg, "not a complete Patchbay backup") {
			t.Errorf("restore %s: %s", filepath.Base(file), msg)
		}
	}
	// The data directory is still free: a whole backup restores into it.
	st, err := store.Open(store.Options{Dir: t.TempDir(), GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(context.Background(), func(tx *store.Tx) error {
		return tx.CreateTicket(&ticket.Ticket{Subject: "kept", Status: ticket.StatusNew})
	}); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.backup")
	f, err := os.Create(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Backup(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	st.Close()
	if code, msg := runBinary(t, nil, "restore", "-config", cfg, "-i", good); code != 0 || !strings.Contains(msg, "checked") {
		t.Errorf("restore after refused ones: exit %d, %s", code, msg)
	}
}
