package channeltest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/patchbayhq/patchbay/sdk/channeltest"
)

// TestSuiteInProcess runs the whole conformance suite against the reference
// channel served in process through real gRPC.
func TestSuiteInProcess(t *testing.T) {
	p := newProvider(t)
	channeltest.Run(t, target(p, pdfBytes(300<<10)))
	if len(p.sentMessages()) == 0 {
		t.Error("the send cases sent nothing to the provider")
	}
}

// TestSuiteBinary builds the reference plugin and runs the suite against
// the binary, launched as the core launches plugins.
func TestSuiteBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "patchbay-plugin-ref")
	build := exec.Command("go", "build", "-o", bin, "./testdata/refplugin")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the reference plugin: %v\n%s", err, out)
	}
	p := newProvider(t)
	tg := target(p, pdfBytes(100<<10))
	tg.New, tg.Binary = nil, bin
	channeltest.Run(t, tg)
}

// TestLaunchDoesNotLeakEnvironment checks that a launched plugin sees only
// the environment it is given.
func TestLaunchDoesNotLeakEnvironment(t *testing.T) {
	t.Setenv("CHANNELTEST_CORE_SECRET", "do-not-leak")
	if os.Getenv("CHANNELTEST_CORE_SECRET") == "" {
		t.Fatal("setenv failed")
	}
	bin := filepath.Join(t.TempDir(), "envplugin")
	build := exec.Command("go", "build", "-o", bin, "./testdata/envplugin")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	p := channeltest.Launch(t, bin, "GIVEN=yes")
	m := p.Describe(t)
	if m.Description != "GIVEN=yes;CHANNELTEST_CORE_SECRET=" {
		t.Errorf("the plugin saw %q", m.Description)
	}
}
