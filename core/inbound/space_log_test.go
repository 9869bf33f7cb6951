package inbound

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/internal/testutil"
	"github.com/patchbayhq/patchbay/sdk"
)

// TestDiskFullRefusalsLogOnce: while the disk is short every message is
// refused, and the log says so once per instance and interval, not once
// per message.
func TestDiskFullRefusalsLogOnce(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 20)
	st, err := store.Open(store.Options{Dir: t.TempDir(), GCInterval: -1, FreeSpace: func(string) (uint64, error) { return free.Load(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logs testutil.LockedBuffer
	svc := New(st, testInstances, Options{Logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Trace})})
	for i := range 200 {
		msg := &sdk.InboundMessage{ExternalID: fmt.Sprint("wamid.", i), ConversationKey: "3377700000", Author: sdk.Party{ExternalID: "3377700000", Name: "Ann"}, Text: "hello", SentAt: time.Now()}
		if _, err := svc.Deliver(context.Background(), "wa", msg, nil); !errors.Is(err, store.ErrInsufficientSpace) {
			t.Fatalf("Deliver %d on a full disk: %v", i, err)
		}
	}
	if n := strings.Count(logs.String(), "inbound messages refused"); n != 1 {
		t.Fatalf("%d log lines for 200 refusals within %v, want 1:\n%s", n, QuietInterval, logs.String())
	}
	if strings.Contains(logs.String(), "inbound message not stored") {
		t.Fatalf("a refusal logged per message:\n%s", logs.String())
	}
}
