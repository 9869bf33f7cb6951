package store_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/inbound"
	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/sdk"
)

// TestSpaceInboundDeliver: on a disk short of space inbound.Deliver (and
// attachment staging) fail with an error wrapping ErrInsufficientSpace, so
// the plugin answers 5xx / SMTP 451 and the provider retries; the
// redelivery after space returns is stored once, as a new message.
func TestSpaceInboundDeliver(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 40)
	opts := store.Options{Dir: t.TempDir(), GCInterval: -1, FreeSpace: func(string) (uint64, error) { return free.Load(), nil }}
	st, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := inbound.New(st, []inbound.Instance{{Name: "wa", Kind: "whatsapp", Attachments: sdk.AttachmentPolicy{Allow: []string{".txt"}, MaxBytes: 1 << 20}}}, inbound.Options{})
	ctx := context.Background()
	msg := func(id string) *sdk.InboundMessage {
		return &sdk.InboundMessage{ExternalID: id, ConversationKey: "3377700000", Author: sdk.Party{ExternalID: "3377700000", Name: "Ann"}, Text: "hello " + id, SentAt: time.Now()}
	}
	if _, err := svc.Deliver(ctx, "wa", msg("wamid.1"), nil); err != nil {
		t.Fatal(err)
	}

	free.Store(1 << 20)
	if _, err := svc.Deliver(ctx, "wa", msg("wamid.2"), nil); !errors.Is(err, store.ErrInsufficientSpace) {
		t.Fatalf("Deliver on a full disk: %v, want ErrInsufficientSpace", err)
	}
	if _, err := svc.StageAttachment(ctx, "wa", inbound.StagedHeader{Filename: "a.txt", ContentType: "text/plain", Size: 5}, strings.NewReader("hello")); !errors.Is(err, store.ErrInsufficientSpace) {
		t.Fatalf("StageAttachment on a full disk: %v, want ErrInsufficientSpace", err)
	}
	if err := st.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}

	free.Store(1 << 40)
	deadline := time.Now().Add(30 * time.Second)
	for st.Writable() != nil {
		if time.Now().After(deadline) {
			t.Fatal("writes did not resume")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i, wantDup := range []bool{false, true} {
		rec, err := svc.Deliver(ctx, "wa", msg("wamid.2"), nil)
		if err != nil {
			t.Fatalf("redelivery %d: %v", i, err)
		}
		if rec.Duplicate != wantDup {
			t.Fatalf("redelivery %d: duplicate=%v, want %v (the refused delivery must have stored nothing)", i, rec.Duplicate, wantDup)
		}
	}
}
