package store

import (
	"os"
	"testing"
)

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "patchbay-bench-") }

// TestMain removes the benchmark fixture directory after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if fixture != nil {
		dir := fixture.opts.Dir
		fixture.Close()
		os.RemoveAll(dir)
	}
	os.Exit(code)
}
