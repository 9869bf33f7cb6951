package channeltest_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
)

func TestFakeHostDeliver(t *testing.T) {
	ctx := context.Background()
	pdf := sdk.BytesAttachment("a.pdf", "application/pdf", []byte("%PDF"))
	exe := sdk.BytesAttachment("run.exe", "application/octet-stream", []byte("MZ"))
	big := sdk.BytesAttachment("big.txt", "text/plain", make([]byte, 2048))
	cases := []struct {
		name         string
		policy       *sdk.AttachmentPolicy
		fail         error
		msgs         []*sdk.InboundMessage
		wantErr      bool
		wantStored   int
		wantDup      bool
		wantFiles    int
		wantRejected []string
	}{
		{name: "stored", msgs: []*sdk.InboundMessage{{ExternalID: "m1", ConversationKey: "c"}}, wantStored: 1},
		{name: "redelivery is a duplicate", msgs: []*sdk.InboundMessage{{ExternalID: "m1", ConversationKey: "c"}, {ExternalID: "m1", ConversationKey: "c"}}, wantStored: 1, wantDup: true},
		{name: "failing core stores nothing", fail: errors.New("disk full"), msgs: []*sdk.InboundMessage{{ExternalID: "m1", ConversationKey: "c"}}, wantErr: true},
		{name: "no external id", msgs: []*sdk.InboundMessage{{ConversationKey: "c"}}, wantErr: true},
		{name: "no conversation", msgs: []*sdk.InboundMessage{{ExternalID: "m1"}}, wantErr: true},
		{name: "policy rejects a type", msgs: []*sdk.InboundMessage{{ExternalID: "m1", ConversationKey: "c", Attachments: []sdk.Attachment{pdf, exe}}}, wantStored: 1, wantFiles: 1, wantRejected: []string{"run.exe"}},
		{name: "policy rejects a size", policy: &sdk.AttachmentPolicy{MaxBytes: 1024}, msgs: []*sdk.InboundMessage{{ExternalID: "m1", ConversationKey: "c", Attachments: []sdk.Attachment{big, pdf}}}, wantStored: 1, wantFiles: 1, wantRejected: []string{"big.txt"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := channeltest.NewFakeHost()
			if c.policy != nil {
				h.SetPolicy(*c.policy)
			}
			h.FailDeliver(c.fail)
			var last *sdk.Receipt
			var err error
			for _, m := range c.msgs {
				last, err = h.Deliver(ctx, m)
			}
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			ds := h.Deliveries()
			if len(ds) != c.wantStored {
				t.Fatalf("stored %d, want %d", len(ds), c.wantStored)
			}
			if h.DeliverCalls() != len(c.msgs) {
				t.Errorf("DeliverCalls = %d, want %d", h.DeliverCalls(), len(c.msgs))
			}
			if err != nil {
				return
			}
			if last.Duplicate != c.wantDup {
				t.Errorf("Duplicate = %v", last.Duplicate)
			}
			if c.wantDup && (last.TicketID != ds[0].Receipt.TicketID || last.CommentID != ds[0].Receipt.CommentID || ds[0].Times != 2) {
				t.Errorf("duplicate receipt %+v does not name the stored comment %+v", last, ds[0])
			}
			if len(ds[0].Files) != c.wantFiles {
				t.Errorf("files %d, want %d", len(ds[0].Files), c.wantFiles)
			}
			if len(last.Rejected) != len(c.wantRejected) {
				t.Fatalf("rejected %v, want %v", last.Rejected, c.wantRejected)
			}
			for i, name := range c.wantRejected {
				if last.Rejected[i].Filename != name || last.Rejected[i].Reason == "" {
					t.Errorf("rejected[%d] = %+v, want %s with a reason", i, last.Rejected[i], name)
				}
			}
		})
	}
}

func TestFakeHostThreadsByConversation(t *testing.T) {
	ctx := context.Background()
	h := channeltest.NewFakeHost()
	r1, _ := h.Deliver(ctx, &sdk.InboundMessage{ExternalID: "a", ConversationKey: "c1"})
	r2, _ := h.Deliver(ctx, &sdk.InboundMessage{ExternalID: "b", ConversationKey: "c1"})
	r3, _ := h.Deliver(ctx, &sdk.InboundMessage{ExternalID: "c", ConversationKey: "c2"})
	if r1.TicketID != r2.TicketID || r1.TicketID == r3.TicketID || r1.CommentID == r2.CommentID {
		t.Errorf("receipts %+v %+v %+v", r1, r2, r3)
	}
}

func TestFakeHostStateStatusUpdatesAttachments(t *testing.T) {
	ctx := context.Background()
	h := channeltest.NewFakeHost()
	if err := h.SetState(ctx, "uid", []byte("42")); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := h.GetState(ctx, "uid"); !ok || string(v) != "42" {
		t.Errorf("GetState = %q %v", v, ok)
	}
	_ = h.DeleteState(ctx, "uid")
	if _, ok, _ := h.GetState(ctx, "uid"); ok || len(h.State()) != 0 {
		t.Error("state not deleted")
	}
	_ = h.ReportStatus(ctx, sdk.Status{State: sdk.StateAuthFailed, Message: "token revoked"})
	if s := h.Statuses(); len(s) != 1 || s[0].State != sdk.StateAuthFailed {
		t.Errorf("statuses %v", s)
	}
	h.MarkSent("wamid.1")
	if found, _ := h.UpdateDelivery(ctx, sdk.DeliveryUpdate{ExternalID: "wamid.1", Status: "read"}); !found {
		t.Error("a sent id was not found")
	}
	if found, _ := h.UpdateDelivery(ctx, sdk.DeliveryUpdate{ExternalID: "other", Status: "read"}); found {
		t.Error("an unknown id was found")
	}
	if n := len(h.DeliveryUpdates()); n != 2 {
		t.Errorf("updates %d", n)
	}
	a := h.StoreAttachment(channeltest.File{Filename: "r.pdf", Data: []byte("abc")})
	rc, err := h.OpenAttachment(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	if string(data) != "abc" || a.Size != 3 {
		t.Errorf("stored attachment %q %d", data, a.Size)
	}
	if _, err := h.OpenAttachment(ctx, "nope"); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("unknown attachment: %v, want ErrNotFound", err)
	}
}

func TestFakeHostWaitForDeliveries(t *testing.T) {
	h := channeltest.NewFakeHost()
	go func() {
		_, _ = h.Deliver(context.Background(), &sdk.InboundMessage{ExternalID: "late", ConversationKey: "c"})
	}()
	ds := h.WaitForDeliveries(t, 1)
	if len(ds) != 1 || ds[0].Message.ExternalID != "late" {
		t.Errorf("deliveries %+v", ds)
	}
}
