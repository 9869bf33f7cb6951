package main

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/patchbayhq/patchbay/plugins/email/internal/emailtest"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
)

// TestBinaryConformance builds patchbay-plugin-email and runs the SDK's
// contract suite against the binary, launched as the core launches it.
func TestBinaryConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	bin := filepath.Join(t.TempDir(), "patchbay-plugin-email")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	channeltest.Run(t, emailtest.Target(t, nil, bin))
}
