package rules

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// Limits of definitions.
const (
	MaxTitle      = 255
	MaxConditions = 50
	MaxActions    = 50
)

func validKind(k Kind) bool { return slices.Contains(Kinds, k) }

// compileRule checks a definition of its kind and compiles its conditions
// and actions. It reads nothing; references (assignees, webhooks) are
// checked by checkRefs.
func compileRule(r *Rule) error {
	if !validKind(r.Kind) {
		return invalid("kind", "must be one of trigger, automation, macro, view")
	}
	r.Title = strings.TrimSpace(r.Title)
	if r.Title == "" {
		return invalid("title", "must not be empty")
	}
	if len(r.Title) > MaxTitle || strings.IndexByte(r.Title, 0) >= 0 {
		return invalid("title", "must be at most %d bytes without NUL", MaxTitle)
	}
	if len(r.Description) > 4096 {
		return invalid("description", "must be at most 4096 bytes")
	}
	hasConds := r.Conditions != nil && len(r.Conditions.All)+len(r.Conditions.Any) > 0
	switch r.Kind {
	case KindMacro:
		if hasConds {
			return invalid("conditions", "macros have no conditions")
		}
		r.Conditions = nil
	default:
		if !hasConds {
			return invalid("conditions", "must have at least one condition in all or any")
		}
		if len(r.Conditions.All)+len(r.Conditions.Any) > MaxConditions {
			return invalid("conditions", "must have at most %d conditions", MaxConditions)
		}
		if err := compileConditions(r.Conditions, r.Kind); err != nil {
			return err
		}
		if r.Conditions.All == nil {
			r.Conditions.All = []Condition{}
		}
		if r.Conditions.Any == nil {
			r.Conditions.Any = []Condition{}
		}
	}
	if r.Kind == KindAutomation {
		timed := false
		for _, c := range r.Conditions.All {
			timed = timed || isHours(c.Field)
		}
		if !timed {
			return invalid("conditions.all", "an automation needs a time condition (hours_since_…) in all")
		}
	}
	switch r.Kind {
	case KindView:
		if len(r.Actions) > 0 {
			return invalid("actions", "views have no actions")
		}
		r.Actions = nil
	default:
		if len(r.Actions) == 0 {
			return invalid("actions", "must have at least one action")
		}
		if len(r.Actions) > MaxActions {
			return invalid("actions", "must have at most %d actions", MaxActions)
		}
		for i := range r.Actions {
			if err := compileAction(&r.Actions[i], r.Kind, fmt.Sprintf("actions[%d]", i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkRefs checks that the users and webhooks a rule names exist.
func checkRefs(r *store.ReadTx, rule *Rule) error {
	for i, a := range rule.Actions {
		path := fmt.Sprintf("actions[%d].value", i)
		switch a.Field {
		case ActAssignee:
			if a.a.id == 0 {
				continue
			}
			u, err := r.User(a.a.id)
			if errors.Is(err, store.ErrNotFound) {
				return invalid(path, "user %d does not exist", a.a.id)
			}
			if err != nil {
				return err
			}
			if u.Role != ticket.RoleAgent && u.Role != ticket.RoleAdmin || u.MergedInto != 0 {
				return invalid(path, "user %d is not an agent", a.a.id)
			}
		case ActNotifyWebhook:
			if _, ok, err := r.RuleValue(spaceWebhook, id20(a.a.id)); err != nil {
				return err
			} else if !ok {
				return invalid(path, "webhook %d does not exist", a.a.id)
			}
		}
	}
	return nil
}

// decodeRule reads a stored rule and compiles it.
func decodeRule(r *store.ReadTx, kind Kind, id uint64) (*Rule, error) {
	var rule Rule
	ok, err := getJSON(r, ruleSpace(kind), id20(id), &rule)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s %d: %w", kind, id, ErrNotFound)
	}
	rule.Kind = kind
	if err := compileRule(&rule); err != nil {
		return nil, fmt.Errorf("rules: stored %s %d no longer valid: %w", kind, id, err)
	}
	return &rule, nil
}

func sortRules(rs []*Rule) {
	slices.SortStableFunc(rs, func(a, b *Rule) int {
		if c := cmp.Compare(a.Position, b.Position); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// Rules returns every rule of a kind, ordered by position then id.
func (e *Engine) Rules(kind Kind) ([]*Rule, error) {
	if !validKind(kind) {
		return nil, invalid("kind", "unknown kind %q", kind)
	}
	var out []*Rule
	err := e.st.View(func(r *store.ReadTx) error {
		kvs, err := scanAll(r, ruleSpace(kind), "")
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			rule, err := decodeRule(r, kind, parseID20(kv.Key))
			if err != nil {
				e.log.Error("skipping a stored rule", "kind", kind, "id", kv.Key, "error", err)
				continue
			}
			out = append(out, rule)
		}
		return nil
	})
	sortRules(out)
	return out, err
}

// Rule returns one rule.
func (e *Engine) Rule(kind Kind, id uint64) (*Rule, error) {
	var out *Rule
	err := e.st.View(func(r *store.ReadTx) error {
		var err error
		out, err = decodeRule(r, kind, id)
		return err
	})
	return out, err
}

func (e *Engine) insertRule(tx *store.Tx, r *Rule) error {
	id, err := tx.NextID(seqRule)
	if err != nil {
		return err
	}
	r.ID = id
	r.CreatedAt, r.UpdatedAt = tx.Now(), tx.Now()
	return putJSON(tx, ruleSpace(r.Kind), id20(id), r)
}

// CreateRule validates and stores a new rule (r.Kind names its kind) and
// returns it with its id.
func (e *Engine) CreateRule(ctx context.Context, r *Rule) (*Rule, error) {
	if err := compileRule(r); err != nil {
		return nil, err
	}
	err := e.st.Update(ctx, func(tx *store.Tx) error {
		if err := checkRefs(&tx.ReadTx, r); err != nil {
			return err
		}
		return e.insertRule(tx, r)
	})
	if err != nil {
		return nil, err
	}
	e.invalidate()
	return r, nil
}

// UpdateRule replaces the definition of rule r.ID of kind r.Kind.
func (e *Engine) UpdateRule(ctx context.Context, r *Rule) (*Rule, error) {
	if err := compileRule(r); err != nil {
		return nil, err
	}
	err := e.st.Update(ctx, func(tx *store.Tx) error {
		var old Rule
		ok, err := getJSON(&tx.ReadTx, ruleSpace(r.Kind), id20(r.ID), &old)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s %d: %w", r.Kind, r.ID, ErrNotFound)
		}
		if err := checkRefs(&tx.ReadTx, r); err != nil {
			return err
		}
		if err := releaseAutoClose(tx, r.Kind, r.ID); err != nil {
			return err
		}
		r.CreatedAt, r.UpdatedAt = old.CreatedAt, tx.Now()
		return putJSON(tx, ruleSpace(r.Kind), id20(r.ID), r)
	})
	if err != nil {
		return nil, err
	}
	e.invalidate()
	return r, nil
}

// DeleteRule removes a rule (an automation's firing markers go with it).
func (e *Engine) DeleteRule(ctx context.Context, kind Kind, id uint64) error {
	if !validKind(kind) {
		return invalid("kind", "unknown kind %q", kind)
	}
	err := e.st.Update(ctx, func(tx *store.Tx) error {
		if _, ok, err := tx.RuleValue(ruleSpace(kind), id20(id)); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%s %d: %w", kind, id, ErrNotFound)
		}
		if err := releaseAutoClose(tx, kind, id); err != nil {
			return err
		}
		if kind == KindAutomation {
			markers, err := tx.RuleValues(spaceFired, id20(id)+"/", "", 10000)
			if err != nil {
				return err
			}
			for _, m := range markers {
				if err := tx.DeleteRuleValue(spaceFired, m.Key); err != nil {
					return err
				}
			}
		}
		return tx.DeleteRuleValue(ruleSpace(kind), id20(id))
	})
	if err != nil {
		return err
	}
	e.invalidate()
	return nil
}

func (e *Engine) invalidate() {
	e.mu.Lock()
	e.cache = map[Kind][]*Rule{}
	e.arc = nil
	e.gen++
	e.mu.Unlock()
}

// active returns the active rules of a kind, ordered, from the cache.
func (e *Engine) active(kind Kind) ([]*Rule, error) {
	e.mu.Lock()
	rs, ok := e.cache[kind]
	gen := e.gen
	e.mu.Unlock()
	if ok {
		return rs, nil
	}
	all, err := e.Rules(kind)
	if err != nil {
		return nil, err
	}
	rs = make([]*Rule, 0, len(all))
	for _, r := range all {
		if r.Active {
			rs = append(rs, r)
		}
	}
	e.mu.Lock()
	if e.gen == gen {
		e.cache[kind] = rs
	}
	e.mu.Unlock()
	return rs, nil
}
