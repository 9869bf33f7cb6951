package rules

import (
	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// ViewPage is one page of a view's tickets, newest first. Next is the id
// to pass as after for the next page (0: last page).
type ViewPage struct {
	Tickets []*ticket.Ticket
	Next    uint64
}

// maxViewScan bounds the tickets one page request examines; a sparse view
// returns a short page with a Next id to continue from.
const maxViewScan = 5000

// driverFilter picks the store index a view reads: the first condition of
// all that an index answers (status, channel, assignee, requester).
func driverFilter(cs *Conditions) store.TicketFilter {
	var f store.TicketFilter
	for _, c := range cs.All {
		if c.Operator != OpIs {
			continue
		}
		switch c.Field {
		case "status":
			f.Status = ticket.Status(c.c.str)
		case "channel":
			// Channel instance names are lower case (config checks it);
			// the condition is case-insensitive, so the index is read
			// with the normalised value.
			f.Channel = c.c.str
		case "assignee_id":
			f.AssigneeID = c.c.id
		case "requester_id":
			f.RequesterID = c.c.id
		}
	}
	return f
}

// ViewTickets returns up to limit tickets of view id matching its
// conditions, newest first, with ids below after (0: from the newest).
// The listing reads the store's index the conditions allow and checks the
// rest of the conditions on each ticket.
func (e *Engine) ViewTickets(id uint64, limit int, after uint64) (*ViewPage, error) {
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	limit = min(limit, store.MaxLimit)
	now := e.opts.Clock()
	page := &ViewPage{Tickets: []*ticket.Ticket{}}
	err := e.st.View(func(r *store.ReadTx) error {
		v, err := decodeRule(r, KindView, id)
		if err != nil {
			return err
		}
		f := driverFilter(v.Conditions)
		f.Limit = store.MaxLimit
		if after != 0 {
			f.Cursor = store.EncodeCursor(after)
		}
		scanned := 0
		for {
			list, next, err := r.ListTickets(f)
			if err != nil {
				return err
			}
			for _, t := range list {
				scanned++
				since, err := statusSince(r, t.ID)
				if err != nil {
					return err
				}
				if v.Conditions.match(&subject{t: t, now: now, statusSince: since.Since}) {
					if len(page.Tickets) == limit {
						page.Next = page.Tickets[limit-1].ID
						return nil
					}
					page.Tickets = append(page.Tickets, t)
				}
				if scanned >= maxViewScan && t.ID > 1 {
					page.Next = t.ID
					return nil
				}
			}
			if next == "" {
				return nil
			}
			f.Cursor = next
		}
	})
	return page, err
}
