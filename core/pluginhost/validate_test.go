package pluginhost

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/sdk"
)

func TestValidate(t *testing.T) {
	bad := testChannelConfig("bad", json.RawMessage(`{"token":"","colour":"red"}`))
	pinned := testChannel("pinned", nil)
	pinned.SHA256 = strings.Repeat("a", 64)
	missing := testChannel("missing", nil)
	missing.Plugin = "nosuchkind"
	stateful := testChannel("stateful", map[string]any{"state_probe": true})
	cfg := Options{PluginDir: testPluginDir, Channels: []Channel{testChannel("good", nil), bad, pinned, missing, stateful}}

	checks := Validate(context.Background(), cfg, nil)
	if len(checks) != 5 {
		t.Fatalf("checks = %+v", checks)
	}
	if c := checks[0]; c.Err != nil || c.Manifest.Kind != "test" {
		t.Errorf("good: %+v", c)
	}
	var fe sdk.FieldErrors
	if c := checks[1]; !errors.As(c.Err, &fe) || len(fe) != 1 || fe[0].Field != "colour" {
		t.Errorf("bad: %v (%+v)", c.Err, fe)
	}
	if c := checks[2]; !errors.Is(c.Err, ErrChecksumMismatch) {
		t.Errorf("pinned: %v", c.Err)
	}
	if c := checks[3]; !errors.Is(c.Err, ErrPluginNotFound) {
		t.Errorf("missing: %v", c.Err)
	}
	// State works during validation (in memory, thrown away).
	if c := checks[4]; c.Err != nil {
		t.Errorf("stateful: %v", c.Err)
	}
}

func TestDiscoverAndDescribe(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(testPluginDir, BinaryPrefix+"test"))
	if err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{
		BinaryPrefix + "test":   0o755,
		BinaryPrefix + "noexec": 0o644,
		"other-binary":          0o755,
		BinaryPrefix:            0o755,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), src, mode); err != nil {
			t.Fatal(err)
		}
	}
	paths, err := Discover(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || filepath.Base(paths[0]) != BinaryPrefix+"test" {
		t.Fatalf("discovered %v", paths)
	}
	m, err := Describe(context.Background(), paths[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != "test" || len(m.ConfigFields) == 0 || !m.ConfigFields[0].Secret {
		t.Errorf("manifest = %+v", m)
	}
	if _, err := Discover(filepath.Join(dir, "nope")); err == nil {
		t.Error("Discover of a missing directory did not fail")
	}
}
