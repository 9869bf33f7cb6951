package layout

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCoreLayering keeps the core's layers apart: the rules engine queues
// replies through the store, not the delivery worker; the plugin host gets
// its options from the command, not the configuration file's schema; and
// that schema does not move with the plugin API.
func TestCoreLayering(t *testing.T) {
	cases := []struct {
		pkg, forbidden, why string
	}{
		{"core/rules", "core/outbox", "replies are queued with store.Tx.EnqueueReply"},
		{"core/pluginhost", "config", "the command fills pluginhost.Options from the file"},
		{"config", "sdk", "the file's attachment policy is config.AttachmentPolicy"},
	}
	for _, tc := range cases {
		t.Run(tc.pkg+" without "+tc.forbidden, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", mod+tc.pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list %s: %v\n%s", tc.pkg, err, out)
			}
			deps := strings.Fields(string(out))
			if len(deps) == 0 {
				t.Fatal("go list printed no dependencies")
			}
			for _, d := range deps {
				if d == mod+tc.forbidden || strings.HasPrefix(d, mod+tc.forbidden+"/") {
					t.Errorf("%s depends on %s: %s", tc.pkg, d, tc.why)
				}
			}
		})
	}
}
