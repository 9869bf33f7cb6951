package rules

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// openStatuses are the statuses automations look at (closed is final).
var openStatuses = []ticket.Status{ticket.StatusNew, ticket.StatusOpen, ticket.StatusPending, ticket.StatusHold, ticket.StatusSolved}

func (e *Engine) runAutomationLoop(ctx context.Context) {
	t := time.NewTicker(e.opts.AutomationInterval)
	defer t.Stop()
	for {
		if n, err := e.RunAutomations(ctx); err != nil {
			if isStopping(ctx, err) {
				return
			}
			e.log.Error("automations failed", "error", err)
			e.m.errors.WithLabelValues("automation").Inc()
		} else if n > 0 {
			e.log.Info("automations fired", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func firedKey(autoID, ticketID uint64) string { return id20(autoID) + "/" + id20(ticketID) }

// RunAutomations evaluates every active automation, in order, against the
// tickets that are not closed, at the engine clock's time. An automation
// fires once per ticket while its conditions keep matching: a firing
// marker is kept for (automation, ticket) and removed when the conditions
// no longer match, so the ticket can qualify again later. It returns how
// many times automations fired.
func (e *Engine) RunAutomations(ctx context.Context) (int, error) {
	autos, err := e.active(KindAutomation)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, a := range autos {
		ids, err := e.automationCandidates(a)
		if err != nil {
			return total, err
		}
		for len(ids) > 0 {
			chunk := ids[:min(len(ids), 100)]
			ids = ids[len(chunk):]
			n, err := e.runAutomationChunk(ctx, a, chunk)
			if err != nil && !isStopping(ctx, err) {
				// One ticket that cannot be written must not hold up the
				// others: run the chunk again ticket by ticket, skipping
				// (and logging) the ones that fail.
				n, err = e.runAutomationSingly(ctx, a, chunk)
			}
			total += n
			if err != nil {
				return total, err
			}
		}
	}
	e.m.automations.Add(float64(total))
	return total, nil
}

// automationCandidates lists the tickets holding a firing marker of a (to
// clear it when it no longer matches) and the open tickets, read from the
// status index the conditions allow.
func (e *Engine) automationCandidates(a *Rule) ([]uint64, error) {
	statuses := openStatuses
	solvedFor := -1.0 // hours_since_solved greater_than this, with status is solved
	for _, c := range a.Conditions.All {
		if c.Field == "status" && c.Operator == OpIs {
			statuses = []ticket.Status{ticket.Status(c.c.str)}
		}
		if c.Field == "hours_since_solved" && c.Operator == OpGreaterThan {
			solvedFor = max(solvedFor, c.c.num)
		}
	}
	if len(statuses) != 1 || statuses[0] != ticket.StatusSolved {
		solvedFor = -1
	}
	now := e.opts.Clock()
	seen := map[uint64]bool{}
	var ids []uint64
	err := e.st.View(func(r *store.ReadTx) error {
		markers, err := scanAll(r, spaceFired, id20(a.ID)+"/")
		if err != nil {
			return err
		}
		for _, m := range markers {
			_, tid, _ := strings.Cut(m.Key, "/")
			if id := parseID20(tid); id != 0 && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		if solvedFor >= 0 {
			// "Solved for more than N hours": the solved-time index gives
			// exactly the tickets solved before the cut-off.
			cut := now.Add(-time.Duration(solvedFor * float64(time.Hour)))
			solved, err := r.SolvedBefore(cut, 1<<24)
			if err != nil {
				return err
			}
			for _, id := range solved {
				if !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
			return nil
		}
		for _, st := range statuses {
			if st == ticket.StatusClosed {
				continue
			}
			cursor := ""
			for {
				page, next, err := r.ListTickets(store.TicketFilter{Status: st, Limit: store.MaxLimit, Cursor: cursor})
				if err != nil {
					return err
				}
				for _, t := range page {
					if !seen[t.ID] {
						seen[t.ID] = true
						ids = append(ids, t.ID)
					}
				}
				if next == "" {
					break
				}
				cursor = next
			}
		}
		return nil
	})
	return ids, err
}

// runAutomationSingly runs automation a on each ticket in its own
// transaction; a ticket that fails is logged and skipped.
func (e *Engine) runAutomationSingly(ctx context.Context, a *Rule, ids []uint64) (int, error) {
	total := 0
	for _, id := range ids {
		n, err := e.runAutomationChunk(ctx, a, []uint64{id})
		if err != nil {
			if isStopping(ctx, err) {
				return total, err
			}
			e.log.Error("automation skipped a ticket it cannot update", "automation_id", a.ID, "ticket_id", id, "error", err)
			e.m.errors.WithLabelValues("automation").Inc()
			continue
		}
		total += n
	}
	return total, nil
}

func (e *Engine) runAutomationChunk(ctx context.Context, a *Rule, ids []uint64) (int, error) {
	now := e.opts.Clock()
	fired := 0
	e.beginMarking()
	defer e.endMarking(true)
	err := e.st.Update(ctx, func(tx *store.Tx) error {
		fired = 0
		for _, id := range ids {
			key := firedKey(a.ID, id)
			_, marked, err := tx.RuleValue(spaceFired, key)
			if err != nil {
				return err
			}
			t, err := tx.Ticket(id)
			if errors.Is(err, store.ErrNotFound) || err == nil && t.Status == ticket.StatusClosed {
				if marked {
					if err := tx.DeleteRuleValue(spaceFired, key); err != nil {
						return err
					}
				}
				continue
			}
			if err != nil {
				return err
			}
			since, err := statusSince(&tx.ReadTx, id)
			if err != nil {
				return err
			}
			match := a.Conditions.match(&subject{t: t, now: now, statusSince: since.Since})
			switch {
			case !match && marked:
				if err := tx.DeleteRuleValue(spaceFired, key); err != nil {
					return err
				}
			case match && !marked:
				cs := &changeSet{t: t, at: tx.Now()}
				before := fieldsOf(t)
				for i := range a.Actions {
					if err := a.Actions[i].apply(cs, KindAutomation, a.ID); err != nil {
						e.log.Warn("automation action skipped", "automation_id", a.ID, "ticket_id", id, "action", a.Actions[i].Field, "error", err)
					}
				}
				if err := markWrites(tx, sourceAutomation, func() error {
					_, err := writeChanges(tx, cs, before, ruleAuthor)
					return err
				}); err != nil {
					return err
				}
				if t.Status != ticket.StatusClosed {
					if err := tx.PutRuleValue(spaceFired, key, []byte(now.UTC().Format(time.RFC3339Nano))); err != nil {
						return err
					}
				}
				fired++
			}
		}
		return nil
	})
	return fired, err
}
