package api

import (
	"net/http"
	"strconv"

	"github.com/patchbayhq/patchbay/core/rules"
)

// ruleInput is the body of POST and PUT on triggers, automations, macros
// and views (PUT replaces the whole definition).
type ruleInput struct {
	Title       string            `json:"title"`
	Description string            `json:"description"`
	Active      *bool             `json:"active"`
	Position    int               `json:"position"`
	Conditions  *rules.Conditions `json:"conditions"`
	Actions     []rules.Action    `json:"actions"`
}

func (in *ruleInput) rule(kind rules.Kind, id uint64) *rules.Rule {
	r := &rules.Rule{ID: id, Kind: kind, Title: in.Title, Description: in.Description, Active: true,
		Position: in.Position, Conditions: in.Conditions, Actions: in.Actions}
	if in.Active != nil {
		r.Active = *in.Active
	}
	return r
}

func readRuleInput(r *http.Request) (*ruleInput, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	var in ruleInput
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	return &in, nil
}

func listName(kind rules.Kind) string {
	switch kind {
	case rules.KindTrigger:
		return "triggers"
	case rules.KindAutomation:
		return "automations"
	case rules.KindMacro:
		return "macros"
	}
	return "views"
}

func (a *rulesAPI) listRules(kind rules.Kind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if _, err := query(r); err != nil {
			return err
		}
		rs, err := a.eng.Rules(kind)
		if err != nil {
			return rulesError(err)
		}
		if rs == nil {
			rs = []*rules.Rule{}
		}
		writeJSON(w, http.StatusOK, map[string]any{listName(kind): rs})
		return nil
	}
}

func (a *rulesAPI) getRule(kind rules.Kind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID(r, "id", string(kind))
		if err != nil {
			return err
		}
		rule, err := a.eng.Rule(kind, id)
		if err != nil {
			return rulesError(err)
		}
		writeJSON(w, http.StatusOK, rule)
		return nil
	}
}

func (a *rulesAPI) createRule(kind rules.Kind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		in, err := readRuleInput(r)
		if err != nil {
			return err
		}
		rule, err := a.eng.CreateRule(r.Context(), in.rule(kind, 0))
		if err != nil {
			return rulesError(err)
		}
		w.Header().Set("Location", "/api/v1/"+listName(kind)+"/"+strconv.FormatUint(rule.ID, 10))
		writeJSON(w, http.StatusCreated, rule)
		return nil
	}
}

func (a *rulesAPI) updateRule(kind rules.Kind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID(r, "id", string(kind))
		if err != nil {
			return err
		}
		in, err := readRuleInput(r)
		if err != nil {
			return err
		}
		rule, err := a.eng.UpdateRule(r.Context(), in.rule(kind, id))
		if err != nil {
			return rulesError(err)
		}
		writeJSON(w, http.StatusOK, rule)
		return nil
	}
}

func (a *rulesAPI) deleteRule(kind rules.Kind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID(r, "id", string(kind))
		if err != nil {
			return err
		}
		if err := a.eng.DeleteRule(r.Context(), kind, id); err != nil {
			return rulesError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}
