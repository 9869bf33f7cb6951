package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// Password is a user's sign-in credential for the workspace. Only a
// password hash is stored (a PHC-format string such as
// "$argon2id$v=19$m=…,t=…,p=…$salt$hash"; the API chooses the KDF).
// Generation grows with every change, so sessions opened with an older
// password end when it is reset or removed.
type Password struct {
	UserID     uint64    `json:"user_id"`
	Hash       string    `json:"hash"`
	Generation uint64    `json:"generation"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Session is a signed-in browser session of the workspace. Only a hash of
// the session's cookie value is stored. A session opened with an API
// token names that token (TokenID), so revoking the token ends it; one
// opened with a password records the password's Generation.
type Session struct {
	Hash   string      `json:"hash"`
	UserID uint64      `json:"user_id"`
	Role   ticket.Role `json:"role"`
	// TokenID is the id of the API token the session was opened with
	// ("admin" for the admin token); empty for a password sign-in.
	TokenID string `json:"token_id,omitempty"`
	// PasswordGeneration is the Password.Generation signed in with.
	PasswordGeneration uint64 `json:"password_generation,omitempty"`
	// CSRF is the token every state-changing request of the session must
	// carry in its X-CSRF-Token header.
	CSRF      string    `json:"csrf"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// PasswordOf returns the user's password credential, or ErrNotFound.
func (r *ReadTx) PasswordOf(userID uint64) (*Password, error) {
	var p Password
	ok, err := r.getJSON(passwordKey(userID), &p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("password of user %d: %w", userID, ErrNotFound)
	}
	return &p, nil
}

// SetPassword stores a new password hash for the user, replacing any
// earlier one (its Generation is the earlier one's plus one).
func (tx *Tx) SetPassword(userID uint64, hash string) (*Password, error) {
	if userID == 0 || hash == "" {
		return nil, fmt.Errorf("store: password without user or hash: %w", ErrInvalid)
	}
	p := &Password{UserID: userID, Hash: hash, Generation: 1, UpdatedAt: tx.now}
	old, err := tx.PasswordOf(userID)
	switch {
	case err == nil:
		p.Generation = old.Generation + 1
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	if err := tx.setJSON(passwordKey(userID), p); err != nil {
		return nil, err
	}
	return p, nil
}

// DeletePassword removes the user's password (ErrNotFound when there is
// none): the user can no longer sign in with one, and sessions opened with
// it end.
func (tx *Tx) DeletePassword(userID uint64) error {
	if _, err := tx.PasswordOf(userID); err != nil {
		return err
	}
	tx.del(passwordKey(userID))
	return nil
}

// SessionByHash returns the unexpired session stored under that hash, or
// ErrNotFound.
func (r *ReadTx) SessionByHash(hash string, now time.Time) (*Session, error) {
	var s Session
	ok, err := r.getJSON(sessionKey(hash), &s)
	if err != nil {
		return nil, err
	}
	if !ok || !now.Before(s.ExpiresAt) {
		return nil, fmt.Errorf("session: %w", ErrNotFound)
	}
	return &s, nil
}

// PutSession stores a session until its ExpiresAt; Badger drops it after
// that.
func (tx *Tx) PutSession(s *Session) error {
	if s.Hash == "" || s.ExpiresAt.IsZero() {
		return fmt.Errorf("store: session without hash or expiry: %w", ErrInvalid)
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = tx.now
	}
	b, err := jsonBytes(s)
	if err != nil {
		return err
	}
	tx.setTTL(sessionKey(s.Hash), b, s.ExpiresAt)
	return nil
}

// DeleteSession removes a session (signing out); removing an unknown one
// is not an error.
func (tx *Tx) DeleteSession(hash string) {
	tx.del(sessionKey(hash))
}
