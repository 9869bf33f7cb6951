package rules

import (
	"errors"
	"fmt"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// MacroResult is a macro applied to a ticket: the resulting ticket and the
// comments the macro adds (stored, or for a preview only rendered).
type MacroResult struct {
	Ticket   *ticket.Ticket    `json:"ticket"`
	Comments []*ticket.Comment `json:"comments"`
}

// macroChanges loads the ticket and the macro and applies the macro's
// actions in memory.
func macroChanges(r *store.ReadTx, ticketID, macroID uint64, at time.Time) (*changeSet, ticketFields, error) {
	t, err := r.Ticket(ticketID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ticketFields{}, fmt.Errorf("ticket %d: %w", ticketID, ErrNotFound)
	}
	if err != nil {
		return nil, ticketFields{}, err
	}
	m, err := decodeRule(r, KindMacro, macroID)
	if err != nil {
		return nil, ticketFields{}, err
	}
	if !m.Active {
		return nil, ticketFields{}, invalid("macro_id", "macro %d is inactive", macroID)
	}
	if t.Status == ticket.StatusClosed {
		return nil, ticketFields{}, fmt.Errorf("ticket %d: %w", ticketID, ticket.ErrClosed)
	}
	cs := &changeSet{t: t, at: at}
	before := fieldsOf(t)
	for i := range m.Actions {
		if err := m.Actions[i].apply(cs, KindMacro, m.ID); err != nil {
			return nil, ticketFields{}, invalid(fmt.Sprintf("actions[%d]", i), "%s", err.Error())
		}
	}
	return cs, before, nil
}

// ApplyMacro applies macro macroID to a ticket as agent actorID, inside the
// caller's transaction: the ticket's changes, internal notes and public
// replies (authored by the agent, sent through the outbox) commit with it.
// The resulting update runs triggers like any agent update.
func (e *Engine) ApplyMacro(tx *store.Tx, ticketID, macroID, actorID uint64) (*MacroResult, error) {
	cs, before, err := macroChanges(&tx.ReadTx, ticketID, macroID, tx.Now())
	if err != nil {
		return nil, err
	}
	if cs.t.Status == ticket.StatusSolved && cs.t.AssigneeID == 0 {
		cs.t.AssigneeID = actorID
	}
	comments, err := writeChanges(tx, cs, before, author{id: actorID, via: ticket.ViaAPI})
	if err != nil {
		return nil, err
	}
	if comments == nil {
		comments = []*ticket.Comment{}
	}
	return &MacroResult{Ticket: cs.t, Comments: comments}, nil
}

// PreviewMacro returns what ApplyMacro would produce, without writing
// anything.
func (e *Engine) PreviewMacro(r *store.ReadTx, ticketID, macroID, actorID uint64) (*MacroResult, error) {
	cs, _, err := macroChanges(r, ticketID, macroID, e.opts.Clock())
	if err != nil {
		return nil, err
	}
	if cs.t.Status == ticket.StatusSolved && cs.t.AssigneeID == 0 {
		cs.t.AssigneeID = actorID
	}
	comments := buildComments(r, cs, author{id: actorID, via: ticket.ViaAPI})
	for _, c := range comments {
		if c.Public {
			_, _ = ticket.ApplyAgentComment(cs.t, actorID, true, nil, cs.at)
		}
	}
	if comments == nil {
		comments = []*ticket.Comment{}
	}
	return &MacroResult{Ticket: cs.t, Comments: comments}, nil
}
