package store

import (
	"errors"
	"fmt"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// ErrIdentityTaken is returned when an identity already belongs to another
// user.
var ErrIdentityTaken = errors.New("identity belongs to another user")

// User returns the user with that id (merged users included, with
// MergedInto set), or ErrNotFound.
func (r *ReadTx) User(id uint64) (*ticket.User, error) {
	u, shared, ok, err := getRecord(r, userKey(id), fixUser, cloneUser)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("user %d: %w", id, ErrNotFound)
	}
	if shared {
		return cloneUser(u), nil
	}
	return u, nil
}

// fixUser gives a decoded user the empty identity list the API shows.
func fixUser(u *ticket.User) {
	if u.Identities == nil {
		u.Identities = []ticket.Identity{}
	}
}

// UserByIdentity returns the user owning an identity (normalised with
// ticket.NormalizeIdentity), or ErrNotFound.
func (r *ReadTx) UserByIdentity(typ, value string) (*ticket.User, error) {
	idn := ticket.NormalizeIdentity(typ, value)
	v, ok, err := r.r.get(identityKey(idn.Type, idn.Value))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("identity %s:%s: %w", idn.Type, idn.Value, ErrNotFound)
	}
	return r.User(getU64(v))
}

func normalizeUser(u *ticket.User) error {
	seen := map[ticket.Identity]bool{}
	ids := make([]ticket.Identity, 0, len(u.Identities))
	for _, i := range u.Identities {
		n := ticket.NormalizeIdentity(i.Type, i.Value)
		if n.Type == "" || n.Value == "" {
			return fmt.Errorf("store: identity %q:%q: %w", i.Type, i.Value, ErrInvalid)
		}
		if err := checkName("identity", n.Type+n.Value); err != nil {
			return err
		}
		if !seen[n] {
			seen[n] = true
			ids = append(ids, n)
		}
	}
	u.Identities = ids
	if u.Email == "" {
		for _, i := range ids {
			if i.Type == "email" {
				u.Email = i.Value
				break
			}
		}
	}
	if u.Role == "" {
		u.Role = ticket.RoleEndUser
	}
	return nil
}

// CreateUser assigns the next user id and stores the user with its
// identities indexed; an identity owned by someone else is
// ErrIdentityTaken.
func (tx *Tx) CreateUser(u *ticket.User) error {
	if err := normalizeUser(u); err != nil {
		return err
	}
	for _, i := range u.Identities {
		if _, ok, err := tx.r.get(identityKey(i.Type, i.Value)); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("%s:%s: %w", i.Type, i.Value, ErrIdentityTaken)
		}
	}
	id, err := tx.NextID(SeqUser)
	if err != nil {
		return err
	}
	u.ID = id
	if u.CreatedAt.IsZero() {
		u.CreatedAt = tx.now
	}
	u.UpdatedAt = u.CreatedAt
	for _, i := range u.Identities {
		tx.set(identityKey(i.Type, i.Value), u64(id))
	}
	if err := tx.setJSON(userKey(id), u); err != nil {
		return err
	}
	return tx.AppendEvent(&Event{Type: EventUserCreated, UserID: id, Data: u})
}

// UpdateUser stores a changed user, re-indexing identities that were added
// or removed; an added identity owned by someone else is ErrIdentityTaken.
func (tx *Tx) UpdateUser(u *ticket.User) error {
	if err := normalizeUser(u); err != nil {
		return err
	}
	old, err := tx.User(u.ID)
	if err != nil {
		return err
	}
	keep := map[ticket.Identity]bool{}
	for _, i := range u.Identities {
		keep[i] = true
		v, ok, err := tx.r.get(identityKey(i.Type, i.Value))
		if err != nil {
			return err
		}
		if ok && getU64(v) != u.ID {
			return fmt.Errorf("%s:%s: %w", i.Type, i.Value, ErrIdentityTaken)
		}
	}
	for _, i := range old.Identities {
		if !keep[i] {
			tx.del(identityKey(i.Type, i.Value))
		}
	}
	for _, i := range u.Identities {
		tx.set(identityKey(i.Type, i.Value), u64(u.ID))
	}
	u.CreatedAt = old.CreatedAt
	u.UpdatedAt = tx.now
	if err := tx.setJSON(userKey(u.ID), u); err != nil {
		return err
	}
	return tx.AppendEvent(&Event{Type: EventUserUpdated, UserID: u.ID, Data: u})
}

// AddIdentity links one more identity to a user (no-op when it is already
// theirs; ErrIdentityTaken when it is someone else's).
func (tx *Tx) AddIdentity(userID uint64, idn ticket.Identity) (*ticket.User, error) {
	u, err := tx.User(userID)
	if err != nil {
		return nil, err
	}
	n := ticket.NormalizeIdentity(idn.Type, idn.Value)
	for _, have := range u.Identities {
		if have == n {
			return u, nil
		}
	}
	u.Identities = append(u.Identities, n)
	return u, tx.UpdateUser(u)
}

// MergeUsers merges user src into dst: src's identities move to dst, every
// ticket requested by src is now requested by dst (closed tickets too: the
// requester link is not a change of the conversation), and src is kept with
// MergedInto = dst. Merging a user into itself or an already merged user is
// an error.
func (tx *Tx) MergeUsers(srcID, dstID uint64) (*ticket.User, error) {
	if srcID == dstID {
		return nil, fmt.Errorf("store: cannot merge user %d into itself: %w", srcID, ErrInvalid)
	}
	src, err := tx.User(srcID)
	if err != nil {
		return nil, err
	}
	dst, err := tx.User(dstID)
	if err != nil {
		return nil, err
	}
	if src.MergedInto != 0 || dst.MergedInto != 0 {
		return nil, fmt.Errorf("store: user already merged: %w", ErrInvalid)
	}
	moved := src.Identities
	src.Identities = []ticket.Identity{}
	src.MergedInto = dstID
	if err := tx.UpdateUser(src); err != nil {
		return nil, err
	}
	dst.Identities = append(dst.Identities, moved...)
	if dst.Email == "" {
		dst.Email = src.Email
	}
	if dst.Phone == "" {
		dst.Phone = src.Phone
	}
	if err := tx.UpdateUser(dst); err != nil {
		return nil, err
	}
	prefix := key(pIxReq, u64(srcID))
	for {
		pairs, err := tx.r.scan(prefix, nil, 256, true)
		if err != nil {
			return nil, err
		}
		if len(pairs) == 0 {
			break
		}
		for _, p := range pairs {
			id := ^getU64(p.Key[len(prefix):])
			t, err := tx.Ticket(id)
			if err != nil {
				return nil, err
			}
			if err := tx.moveRequester(t, dstID); err != nil {
				return nil, err
			}
		}
	}
	if err := tx.AppendEvent(&Event{Type: EventUserMerged, UserID: dstID, Data: map[string]uint64{"source_id": srcID, "target_id": dstID}}); err != nil {
		return nil, err
	}
	return dst, nil
}

// moveRequester rewrites a ticket's requester, closed tickets included (the
// one write allowed on a closed ticket: it follows its user).
func (tx *Tx) moveRequester(t *ticket.Ticket, to uint64) error {
	tx.del(key(pIxReq, u64(t.RequesterID), inv(t.ID)))
	t.RequesterID = to
	t.Version++
	tx.set(key(pIxReq, u64(to), inv(t.ID)), nil)
	if err := tx.setJSON(ticketKey(t.ID), t); err != nil {
		return err
	}
	tx.remember(t)
	return tx.AppendEvent(&Event{Type: EventTicketUpdated, TicketID: t.ID, Data: t})
}
