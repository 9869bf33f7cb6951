package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsOnlySDK proves the plugin stays a third-party-style plugin: it
// depends on the SDK and LINE's library, never on the core or its store.
func TestImportsOnlySDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/patchbayhq/patchbay/core") || strings.Contains(dep, "badger") {
			t.Errorf("the LINE plugin depends on %s", dep)
		}
	}
	if !strings.Contains(string(out), "github.com/line/line-bot-sdk-go/v8/linebot/webhook") {
		t.Error("expected the LINE SDK among the dependencies")
	}
}
