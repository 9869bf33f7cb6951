package sdk_test

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestServeStartedByHand checks that a plugin binary run without the core
// prints nothing on stdout (which carries the handshake), explains itself on
// stderr and exits 1.
func TestServeStartedByHand(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "patchbay-plugin-ref")
	if out, err := exec.Command("go", "build", "-o", bin, "./channeltest/testdata/refplugin").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1", err)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout: %q, want nothing", stdout.String())
	}
	if !bytes.Contains(stderr.Bytes(), []byte("plugin")) {
		t.Errorf("stderr does not explain: %q", stderr.String())
	}
}
