// Package e2e holds Patchbay's end-to-end suites: crash safety (kill -9 of
// the core under load), faults (plugins killed or hung, providers failing)
// and security (signatures, tokens, secrets never leaked). Every test runs
// the real patchbay binary with real plugin binaries, talks to them only
// over loopback, and fakes the providers on loopback.
package e2e

import (
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/patchbayhq/patchbay/internal/e2etest"
)

var (
	buildOnce sync.Once
	buildDir  string
	bins      e2etest.Binaries
	buildErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binaries builds the core and every plugin once per test binary run.
func binaries(t *testing.T) e2etest.Binaries {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the real binaries")
	}
	buildOnce.Do(func() {
		statSources()
		buildDir, buildErr = os.MkdirTemp("", "patchbay-e2e-bin-")
		if buildErr == nil {
			bins, buildErr = e2etest.Build(buildDir)
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v", buildErr)
	}
	return bins
}

// statSources stats every Go source file and the module files. The
// binaries are built by a "go build" subprocess, which go test's result
// cache does not see; files the test process stats are part of the cache
// key, so a change anywhere in the module reruns the suites instead of
// replaying a cached pass.
func statSources() {
	root, err := e2etest.ModuleRoot()
	if err != nil {
		return
	}
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "bin", "data", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") || d.Name() == "go.mod" || d.Name() == "go.sum" {
			_, _ = os.Stat(path)
		}
		return nil
	})
}
