package e2etest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Shared builds the binaries once for all the end-to-end tests of a test
// package: the package keeps one Shared, every test asks it for the
// Binaries, and TestMain removes what it built once the tests have run:
//
//	var shared e2etest.Shared
//
//	func TestMain(m *testing.M) { os.Exit(shared.Main(m)) }
//
// The zero value is ready to use.
type Shared struct {
	once sync.Once
	dir  string
	bins Binaries
	err  error
}

// Binaries returns the core and plugin binaries, building them on the first
// call. It skips the test under -short, or when the core is not in this
// tree, and fails it when the build failed.
func (s *Shared) Binaries(t testing.TB) Binaries {
	t.Helper()
	SkipUnlessBuildable(t)
	s.once.Do(func() {
		s.dir, s.err = os.MkdirTemp("", "patchbay-e2e-bin-")
		if s.err == nil {
			s.bins, s.err = Build(s.dir)
		}
	})
	if s.err != nil {
		t.Fatalf("build: %v", s.err)
	}
	return s.bins
}

// Main runs the package's tests, removes the binaries they built and
// returns the exit code, for TestMain to pass to os.Exit.
func (s *Shared) Main(m *testing.M) int {
	code := m.Run()
	s.Remove()
	return code
}

// Remove deletes the binaries Binaries built (none when BinEnv named
// prebuilt ones); it is for TestMain, after the tests have run.
func (s *Shared) Remove() {
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// SkipUnlessBuildable skips an end-to-end test under -short (it builds and
// runs the real binaries) and in a tree without the core, where a plugin is
// built on its own, as a third party's would be.
func SkipUnlessBuildable(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the real binaries; skipped with -short")
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "core", "cmd", "patchbay")); err != nil {
		t.Skipf("core/cmd/patchbay is not in this tree: %v", err)
	}
}
