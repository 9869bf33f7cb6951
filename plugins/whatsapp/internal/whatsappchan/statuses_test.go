package whatsappchan

import (
	"strings"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/fakegraph"
)

func TestStatusesUpdateDelivery(t *testing.T) {
	at := func(s int) time.Time { return testNow.Add(time.Duration(s) * time.Second) }
	st := fakegraph.StatusUpdate
	tests := []struct {
		name     string
		batches  [][]map[string]any
		want     []string // statuses applied, in order
		wantErr  string
		wantCode int
	}{
		{"in order", [][]map[string]any{{st("wamid.A", "sent", customerWaID, at(1))}, {st("wamid.A", "delivered", customerWaID, at(2))}, {st("wamid.A", "read", customerWaID, at(3))}},
			[]string{"sent", "delivered", "read"}, "", 200},
		{"duplicates collapse", [][]map[string]any{{st("wamid.A", "sent", customerWaID, at(1)), st("wamid.A", "sent", customerWaID, at(1))}, {st("wamid.A", "sent", customerWaID, at(1))}},
			[]string{"sent"}, "", 200},
		{"read never goes back to delivered", [][]map[string]any{{st("wamid.A", "read", customerWaID, at(3))}, {st("wamid.A", "delivered", customerWaID, at(2))}, {st("wamid.A", "sent", customerWaID, at(1))}},
			[]string{"read"}, "", 200},
		{"out of order in one batch", [][]map[string]any{{st("wamid.A", "delivered", customerWaID, at(2)), st("wamid.A", "sent", customerWaID, at(1))}},
			[]string{"delivered"}, "", 200},
		{"failed with error", [][]map[string]any{{st("wamid.A", "sent", customerWaID, at(1))}, {st("wamid.A", "failed", customerWaID, at(2), fakegraph.StatusError(131026, "Message undeliverable", "Unable to deliver message."))}},
			[]string{"sent", "failed"}, "Message undeliverable (code 131026): Unable to deliver message.", 200},
		{"window closed reported as such", [][]map[string]any{{st("wamid.A", "failed", customerWaID, at(2), fakegraph.StatusError(131047, "Re-engagement message", "Message failed to send because more than 24 hours have passed since the customer last replied to this number."))}},
			[]string{"failed"}, "window_closed: Re-engagement message (code 131047)", 200},
		{"delivered on another device after failed", [][]map[string]any{{st("wamid.A", "failed", customerWaID, at(1), fakegraph.StatusError(131000, "Something went wrong", ""))}, {st("wamid.A", "delivered", customerWaID, at(2))}},
			[]string{"failed", "delivered"}, "", 200},
		{"failed after delivered ignored", [][]map[string]any{{st("wamid.A", "delivered", customerWaID, at(1))}, {st("wamid.A", "failed", customerWaID, at(2), fakegraph.StatusError(131000, "x", ""))}},
			[]string{"delivered"}, "", 200},
		{"unknown message ignored", [][]map[string]any{{st("wamid.NOT-OURS", "delivered", customerWaID, at(1))}},
			nil, "", 200},
		{"other statuses ignored", [][]map[string]any{{st("wamid.A", "deleted", customerWaID, at(1)), st("wamid.A", "warning", customerWaID, at(1))}},
			nil, "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.host.MarkSent("wamid.A")
			for _, b := range tt.batches {
				wantStatus(t, h.post(h.statuses(b...)), tt.wantCode)
			}
			ups := h.host.updatesFor("wamid.A")
			var got []string
			for _, u := range ups {
				if u.ExternalID != "wamid.A" {
					t.Errorf("update for %s", u.ExternalID)
				}
				got = append(got, u.Status)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("applied %v, want %v", got, tt.want)
			}
			if tt.wantErr != "" {
				last := ups[len(ups)-1]
				if !strings.Contains(last.Error, tt.wantErr) {
					t.Errorf("error = %q, want it to contain %q", last.Error, tt.wantErr)
				}
			}
			for _, u := range ups {
				if u.At.IsZero() {
					t.Errorf("update %s without time", u.Status)
				}
			}
		})
	}
}

// A status for a message this channel just sent can reach the webhook
// before the core recorded the send: it is refused with 5xx so that Meta
// redelivers it, then applied.
func TestStatusRacingAheadOfSendIsRetried(t *testing.T) {
	h := newHarness(t)
	h.ch.recent.add("wamid.JUST-SENT", testNow)
	body := h.statuses(fakegraph.StatusUpdate("wamid.JUST-SENT", "sent", customerWaID, testNow))
	wantStatus(t, h.post(body), 500)
	if st := h.host.State()[statusKey("wamid.JUST-SENT")]; st != nil {
		t.Fatalf("a status the core did not take was recorded as applied: %q", st)
	}
	h.host.MarkSent("wamid.JUST-SENT")
	wantStatus(t, h.post(body), 200)
	ups := h.host.updatesFor("wamid.JUST-SENT")
	if len(ups) != 2 || ups[1].Status != "sent" {
		t.Fatalf("updates = %+v, want the sent status offered twice", ups)
	}
	if st := string(h.host.State()[statusKey("wamid.JUST-SENT")]); st != "sent" {
		t.Fatalf("recorded status = %q", st)
	}
}
