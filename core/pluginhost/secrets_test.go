package pluginhost

import (
	"context"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/sdk"
)

// Secrets in the core's log: the log scrubber learns a channel's secret
// values from the Manager, including a value written literally in the file
// that only the plugin's manifest marks secret (the test plugin's token),
// as soon as the plugin has described itself, before it is configured or
// reports a status. Validate does the same.
func TestSecretSinkLearnsManifestSecrets(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]string{}
	sink := WithSecretSink(func(channel string, secrets []string) {
		mu.Lock()
		defer mu.Unlock()
		got[channel] = secrets
	})
	known := func(channel, v string) bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(got[channel], v)
	}
	ch := testChannel("alpha", map[string]any{"status": sdk.StateConnected})
	cfg := Options{PluginDir: testPluginDir, Channels: []Channel{ch}}
	logger := hclog.New(&hclog.LoggerOptions{Output: io.Discard})

	m, err := New(cfg, newFakeBackend(), logger, sink)
	if err != nil {
		t.Fatal(err)
	}
	if known("alpha", "tok-alpha") {
		t.Fatal("a literal value was reported secret before the manifest said so")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Stop(context.Background()) }()
	if !known("alpha", "tok-alpha") {
		t.Fatalf("the manifest-secret token is not in the sink: %v", got)
	}

	mu.Lock()
	got = map[string][]string{}
	mu.Unlock()
	Validate(ctx, cfg, logger, sink)
	if !known("alpha", "tok-alpha") {
		t.Fatalf("Validate did not report the manifest-secret token: %v", got)
	}
}
