package sdk_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSDKImportsNoCore proves that a third-party plugin importing the SDK
// (or its conformance kit) pulls in nothing of the core and no Badger.
func TestSDKImportsNoCore(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/patchbayhq/patchbay/sdk/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list printed no dependencies")
	}
	forbidden := []string{
		"github.com/patchbayhq/patchbay/core",
		"github.com/patchbayhq/patchbay/config",
		"github.com/patchbayhq/patchbay/plugins",
		"github.com/dgraph-io/badger",
		"github.com/dgraph-io/badger/v4",
	}
	sawSDK := false
	for _, d := range deps {
		if d == "github.com/patchbayhq/patchbay/sdk" {
			sawSDK = true
		}
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("sdk depends on %s", d)
			}
		}
	}
	if !sawSDK {
		t.Errorf("go list output does not include the sdk itself:\n%s", out)
	}
}
