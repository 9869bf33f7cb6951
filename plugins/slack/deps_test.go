package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsOnlySDK proves the plugin is built like a third party's: its
// binary depends on the SDK (with the wire code and protos the SDK brings)
// and provider libraries, never on the core, its config or its store.
func TestImportsOnlySDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const mod = "github.com/patchbayhq/patchbay/"
	allowed := []string{mod + "sdk", mod + "internal/wire", mod + "proto/", mod + "plugins/slack"}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "badger") {
			t.Errorf("the slack plugin depends on %s", dep)
		}
		if !strings.HasPrefix(dep, mod) {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || dep == a || strings.HasPrefix(dep, a+"/") || (strings.HasSuffix(a, "/") && strings.HasPrefix(dep, a))
		}
		if !ok {
			t.Errorf("the slack plugin depends on %s (only the SDK and its own packages are allowed)", dep)
		}
	}
}
