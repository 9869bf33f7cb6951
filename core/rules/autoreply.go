package rules

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

func compileAutoReply(ar *AutoReply) error {
	if strings.TrimSpace(ar.Channel) == "" || len(ar.Channel) > maxNameValue || strings.ContainsAny(ar.Channel, "\x00/") {
		return invalid("channel", "must be a channel instance name")
	}
	if strings.TrimSpace(ar.Body) == "" {
		return invalid("body", "must not be empty")
	}
	if len(ar.Body) > maxTextAction || strings.IndexByte(ar.Body, 0) >= 0 {
		return invalid("body", "must be at most %d bytes without NUL", maxTextAction)
	}
	if bad := checkPlaceholders(ar.Body); bad != "" {
		return invalid("body", "unknown placeholder {{%s}}; known: %s", bad, strings.Join(placeholderNames, ", "))
	}
	return nil
}

// AutoReplies returns every channel's auto-reply, by channel name.
func (e *Engine) AutoReplies() ([]*AutoReply, error) {
	var out []*AutoReply
	err := e.st.View(func(r *store.ReadTx) error {
		kvs, err := scanAll(r, spaceAutoReply, "")
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			var ar AutoReply
			if _, err := getJSON(r, spaceAutoReply, kv.Key, &ar); err != nil {
				return err
			}
			out = append(out, &ar)
		}
		return nil
	})
	return out, err
}

// AutoReply returns a channel's auto-reply.
func (e *Engine) AutoReply(channel string) (*AutoReply, error) {
	if channel == "" || strings.ContainsAny(channel, "\x00") {
		return nil, fmt.Errorf("auto-reply %q: %w", channel, ErrNotFound)
	}
	var ar AutoReply
	var ok bool
	err := e.st.View(func(r *store.ReadTx) error {
		var err error
		ok, err = getJSON(r, spaceAutoReply, channel, &ar)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("auto-reply of channel %q: %w", channel, ErrNotFound)
	}
	return &ar, nil
}

// PutAutoReply creates or replaces a channel's auto-reply; created reports
// whether it is new.
func (e *Engine) PutAutoReply(ctx context.Context, ar *AutoReply) (out *AutoReply, created bool, err error) {
	if err := compileAutoReply(ar); err != nil {
		return nil, false, err
	}
	err = e.st.Update(ctx, func(tx *store.Tx) error {
		var old AutoReply
		ok, err := getJSON(&tx.ReadTx, spaceAutoReply, ar.Channel, &old)
		if err != nil {
			return err
		}
		created = !ok
		ar.CreatedAt, ar.UpdatedAt = tx.Now(), tx.Now()
		if ok {
			ar.CreatedAt = old.CreatedAt
		}
		return putJSON(tx, spaceAutoReply, ar.Channel, ar)
	})
	if err != nil {
		return nil, false, err
	}
	e.invalidate()
	return ar, created, nil
}

// DeleteAutoReply removes a channel's auto-reply.
func (e *Engine) DeleteAutoReply(ctx context.Context, channel string) error {
	if channel == "" || strings.ContainsAny(channel, "\x00") {
		return fmt.Errorf("auto-reply %q: %w", channel, ErrNotFound)
	}
	err := e.st.Update(ctx, func(tx *store.Tx) error {
		if _, ok, err := tx.RuleValue(spaceAutoReply, channel); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("auto-reply of channel %q: %w", channel, ErrNotFound)
		}
		return tx.DeleteRuleValue(spaceAutoReply, channel)
	})
	if err == nil {
		e.invalidate()
	}
	return err
}

// activeAutoReplies returns the active auto-replies by channel, cached.
func (e *Engine) activeAutoReplies() (map[string]*AutoReply, error) {
	e.mu.Lock()
	m, gen := e.arc, e.gen
	e.mu.Unlock()
	if m != nil {
		return m, nil
	}
	all, err := e.AutoReplies()
	if err != nil {
		return nil, err
	}
	m = map[string]*AutoReply{}
	for _, ar := range all {
		if ar.Active {
			m[ar.Channel] = ar
		}
	}
	e.mu.Lock()
	if e.gen == gen {
		e.arc = m
	}
	e.mu.Unlock()
	return m, nil
}

// autoReplyDue reports whether a new ticket gets its channel's auto-reply:
// it came from a channel with an active auto-reply, its first message is
// from an end user (not an agent's echo), not auto-submitted, and no
// auto-reply was sent on it before.
func autoReplyDue(tx *store.Tx, t *ticket.Ticket, g *group, replies map[string]*AutoReply) (*AutoReply, error) {
	ar := replies[t.Channel]
	if ar == nil || t.Channel == "" || !g.created || t.Status == ticket.StatusClosed {
		return nil, nil
	}
	var first *ticket.Comment
	for _, c := range g.comments {
		if c.Public {
			first = c
			break
		}
	}
	if first == nil || first.AutoSubmitted || first.ExternalID == "" {
		return nil, nil // no channel message: an API ticket, or an agent's own note
	}
	switch first.Via {
	case ticket.ViaAPI, ticket.ViaRule, ticket.ViaSystem:
		return nil, nil
	}
	if first.AuthorID != 0 {
		u, err := tx.User(first.AuthorID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if u != nil && u.Role != ticket.RoleEndUser {
			return nil, nil // an agent writing on the channel: an echo
		}
	}
	if _, ok, err := tx.RuleValue(spaceReplied, id20(t.ID)); err != nil || ok {
		return nil, err
	}
	return ar, nil
}
