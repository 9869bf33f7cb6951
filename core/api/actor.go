package api

import (
	"errors"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// The admin token acts as this user (created on first use) when it writes
// a comment or solves a ticket, so that every change has an author.
const (
	adminIdentityType  = "api"
	adminIdentityValue = "admin-token"
	adminUserName      = "Administrator"
)

// actorID returns the user a principal acts as: the token's agent user,
// or for the admin token the administrator user, created on first use in
// the same transaction.
func (s *Server) actorID(tx *store.Tx, p *Principal) (uint64, error) {
	if p == nil {
		return 0, errors.New("api: no principal")
	}
	if p.UserID != 0 {
		return p.UserID, nil
	}
	u, err := tx.UserByIdentity(adminIdentityType, adminIdentityValue)
	if err == nil {
		return u.ID, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	u = &ticket.User{
		Name:       adminUserName,
		Role:       ticket.RoleAdmin,
		Identities: []ticket.Identity{{Type: adminIdentityType, Value: adminIdentityValue}},
	}
	if err := tx.CreateUser(u); err != nil {
		return 0, err
	}
	return u.ID, nil
}

// requireAgent checks that id names an agent or admin user (for
// assignee_id), reporting field on failure.
func requireAgent(tx *store.Tx, id uint64, field string) error {
	u, err := tx.User(id)
	if errors.Is(err, store.ErrNotFound) {
		return invalidField(field, "user %d does not exist", id)
	}
	if err != nil {
		return err
	}
	if u.MergedInto != 0 {
		return invalidField(field, "user %d was merged into user %d", id, u.MergedInto)
	}
	if u.Role != ticket.RoleAgent && u.Role != ticket.RoleAdmin {
		return invalidField(field, "user %d is not an agent", id)
	}
	return nil
}
