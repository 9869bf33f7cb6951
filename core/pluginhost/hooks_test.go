package pluginhost

import (
	"strings"
	"testing"
)

func TestSplitHookPath(t *testing.T) {
	tests := []struct {
		path, channel, sub string
		ok                 bool
	}{
		{"/hooks/slack", "slack", "/", true},
		{"/hooks/slack/", "slack", "/", true},
		{"/hooks/slack/events/v1", "slack", "/events/v1", true},
		{"/hooks/", "", "/", true},
		{"/hooks", "", "", false},
		{"/api/v1/tickets", "", "", false},
	}
	for _, tt := range tests {
		ch, sub, ok := splitHookPath(tt.path)
		if ch != tt.channel || sub != tt.sub || ok != tt.ok {
			t.Errorf("splitHookPath(%q) = %q %q %v", tt.path, ch, sub, ok)
		}
	}
}

// FuzzSplitHookPath checks the routing of provider URLs: the channel never
// contains a slash, the plugin's path always starts with one, and together
// they give back the request path.
func FuzzSplitHookPath(f *testing.F) {
	for _, s := range []string{"/hooks/a/b", "/hooks/", "/hooks//x", "/x", "/hooks/a%2Fb/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		ch, sub, ok := splitHookPath(p)
		if !ok {
			if strings.HasPrefix(p, HooksPrefix) {
				t.Fatalf("%q rejected", p)
			}
			return
		}
		if strings.Contains(ch, "/") || !strings.HasPrefix(sub, "/") {
			t.Fatalf("%q → %q %q", p, ch, sub)
		}
		back := HooksPrefix + ch + sub
		if back != p && back != p+"/" {
			t.Fatalf("%q → %q %q does not rebuild the path (%q)", p, ch, sub, back)
		}
	})
}
