package api

import (
	"fmt"
	"net/http"

	"github.com/patchbayhq/patchbay/core/rules"
	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// viewTicketList is the answer of GET /api/v1/views/{id}/tickets.
type viewTicketList struct {
	Tickets    []*ticket.Ticket `json:"tickets"`
	NextCursor *string          `json:"next_cursor"`
}

func (a *rulesAPI) viewTickets(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", "view")
	if err != nil {
		return err
	}
	q, err := query(r, "limit", "cursor")
	if err != nil {
		return err
	}
	limit, err := parseLimit(q, DefaultLimit)
	if err != nil {
		return err
	}
	scope := fmt.Sprintf("view\x00%d", id)
	c, _, err := decodeCursor(scope, q.Get("cursor"))
	if err != nil {
		return err
	}
	page, err := a.eng.ViewTickets(id, limit, c.After)
	if err != nil {
		return rulesError(err)
	}
	out := viewTicketList{Tickets: page.Tickets}
	if page.Next != 0 {
		next := encodeCursor(scope, page.Next)
		out.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func macroIDs(r *http.Request) (uint64, uint64, error) {
	id, err := parseID(r, "id", "ticket")
	if err != nil {
		return 0, 0, err
	}
	macroID, err := parseID(r, "macro_id", "macro")
	return id, macroID, err
}

// applyMacro applies a macro to a ticket as the calling agent: the changes,
// notes and replies commit together (honouring Idempotency-Key), and the
// answer is {"ticket": …, "comments": […]}.
func (a *rulesAPI) applyMacro(w http.ResponseWriter, r *http.Request) error {
	id, macroID, err := macroIDs(r)
	if err != nil {
		return err
	}
	if _, err := query(r); err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if len(body) > 0 {
		var empty struct{}
		if err := decodeJSON(body, &empty); err != nil {
			return err
		}
	}
	principal := principalFrom(r.Context())
	return a.s.commit(w, r, body, func(tx *store.Tx) (*result, error) {
		actor, err := a.s.actorID(tx, principal)
		if err != nil {
			return nil, err
		}
		res, err := a.eng.ApplyMacro(tx, id, macroID, actor)
		if err != nil {
			return nil, rulesError(err)
		}
		return &result{status: http.StatusOK, body: res}, nil
	})
}

// previewMacro answers what applying the macro would produce, without
// saving anything.
func (a *rulesAPI) previewMacro(w http.ResponseWriter, r *http.Request) error {
	id, macroID, err := macroIDs(r)
	if err != nil {
		return err
	}
	if _, err := query(r); err != nil {
		return err
	}
	var actor uint64
	if p := principalFrom(r.Context()); p != nil {
		actor = p.UserID
	}
	var res *rules.MacroResult
	err = a.s.store.View(func(tx *store.ReadTx) error {
		var err error
		res, err = a.eng.PreviewMacro(tx, id, macroID, actor)
		return err
	})
	if err != nil {
		return rulesError(err)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
