package whatsappchan

import (
	"context"
	"fmt"
	"strings"

	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/graph"
	"github.com/patchbayhq/patchbay/plugins/whatsapp/internal/webhook"
	"github.com/patchbayhq/patchbay/sdk"
)

// statusRank orders delivery statuses. A status is applied only when it
// ranks above the one already recorded, so duplicates and out-of-order
// webhooks never move a message backwards (read never returns to
// delivered). failed ranks below delivered: a message that reached one of
// the customer's devices was delivered even if another device failed.
var statusRank = map[string]int{
	"sent":      1,
	"failed":    2,
	"delivered": 3,
	"read":      4,
}

// errStatusAhead marks a receipt for a message the core has not recorded yet.
type errStatusAhead struct{ id string }

func (e errStatusAhead) Error() string {
	return fmt.Sprintf("status for %s arrived before the send was recorded", e.id)
}

// handleStatus applies one delivery receipt. The last applied status of
// each message is kept in the instance's state, so the check survives
// restarts.
func (c *Channel) handleStatus(ctx context.Context, rt *runtime, s webhook.Status) error {
	rank := statusRank[s.Status]
	if s.ID == "" || rank == 0 {
		rt.log.Debug("status ignored", "wamid", s.ID, "status", s.Status)
		return nil
	}
	mu := c.statusLock(s.ID)
	mu.Lock()
	defer mu.Unlock()
	key := statusKey(s.ID)
	prev, found, err := rt.host.GetState(ctx, key)
	if err != nil {
		return fmt.Errorf("read status of %s: %w", s.ID, err)
	}
	if found && statusRank[string(prev)] >= rank {
		rt.log.Debug("duplicate or out-of-order status ignored", "wamid", s.ID, "status", s.Status, "recorded", string(prev))
		return nil
	}
	u := sdk.DeliveryUpdate{ExternalID: s.ID, Status: s.Status, At: s.Timestamp.Time, Error: statusError(s)}
	if u.At.IsZero() {
		u.At = c.now().UTC()
	}
	known, err := rt.host.UpdateDelivery(ctx, u)
	if err != nil {
		return fmt.Errorf("update delivery of %s: %w", s.ID, err)
	}
	if !known {
		if c.recent.has(s.ID, c.now()) {
			// Meta's "sent" can overtake the core's record of our own
			// send; a retried webhook will find it.
			return errStatusAhead{id: s.ID}
		}
		rt.log.Debug("status for a message this instance did not send", "wamid", s.ID, "status", s.Status)
		return nil
	}
	if err := rt.host.SetState(ctx, key, []byte(s.Status)); err != nil {
		return fmt.Errorf("record status of %s: %w", s.ID, err)
	}
	return nil
}

// statusError describes a failed status's errors; 131047 is reported as
// window_closed, as a synchronous send error would be.
func statusError(s webhook.Status) string {
	if s.Status != "failed" {
		return ""
	}
	if len(s.Errors) == 0 {
		return "WhatsApp reported the message as failed without a reason"
	}
	parts := make([]string, 0, len(s.Errors))
	for _, e := range s.Errors {
		d := e.Describe()
		if e.Code == graph.CodeReEngagement {
			d = "window_closed: " + d
		}
		parts = append(parts, d)
	}
	return strings.Join(parts, "; ")
}

func statusKey(wamid string) string { return "status/" + wamid }
