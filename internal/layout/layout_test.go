// Package layout holds no code: its test checks the module's dependency
// rules, which keep a channel plugin buildable like a third party's.
package layout

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const mod = "github.com/patchbayhq/patchbay/"

// TestPluginsImportOnlyTheSDK proves, for every plugin under plugins/
// (found, not listed, so a new plugin is checked too), that its binary
// depends on the SDK (with the wire code and protos the SDK brings), its
// own packages and provider libraries — never on the core, the config
// loader, another plugin or Badger.
func TestPluginsImportOnlyTheSDK(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("..", "..", "plugins"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		kinds++
		kind := e.Name()
		t.Run(kind, func(t *testing.T) {
			pkg := mod + "plugins/" + kind
			out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list %s: %v\n%s", pkg, err, out)
			}
			allowed := []string{mod + "sdk", mod + "internal/wire", mod + "proto", pkg}
			sawSDK := false
			for _, dep := range strings.Fields(string(out)) {
				if strings.Contains(dep, "dgraph-io/badger") {
					t.Errorf("%s depends on %s", kind, dep)
				}
				if !strings.HasPrefix(dep, mod) {
					continue
				}
				sawSDK = sawSDK || dep == mod+"sdk"
				ok := false
				for _, a := range allowed {
					ok = ok || dep == a || strings.HasPrefix(dep, a+"/")
				}
				if !ok {
					t.Errorf("%s depends on %s: a plugin may use only the SDK and its own packages", kind, dep)
				}
			}
			if !sawSDK {
				t.Errorf("%s does not depend on the SDK at all", kind)
			}
		})
	}
	if kinds == 0 {
		t.Fatal("no plugins found under plugins/")
	}
}
