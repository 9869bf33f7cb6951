package store

import (
	"fmt"
	"time"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// Token is an API token as stored: only a hash of the secret is kept (the
// API hashes the presented bearer token, e.g. hex SHA-256, and looks it up).
type Token struct {
	ID     uint64      `json:"id"`
	Hash   string      `json:"hash"`
	UserID uint64      `json:"user_id"`
	Role   ticket.Role `json:"role"`
	Name   string      `json:"name,omitempty"`
	// Scope limits what the token may do: ScopeRead (reads only) or
	// ScopeWrite. Empty, as stored by versions before scopes, is
	// ScopeWrite.
	Scope     string    `json:"scope,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Token scopes.
const (
	// ScopeRead allows only reading: GET routes, read-only MCP tools.
	ScopeRead = "read"
	// ScopeWrite allows everything the token's role allows.
	ScopeWrite = "write"
)

// EffectiveScope is the token's scope, ScopeWrite when none is stored.
func (t *Token) EffectiveScope() string {
	if t.Scope == "" {
		return ScopeWrite
	}
	return t.Scope
}

// Revoked reports whether the token was revoked.
func (t *Token) Revoked() bool { return !t.RevokedAt.IsZero() }

// TokenByHash returns the token stored under that hash, or ErrNotFound.
func (r *ReadTx) TokenByHash(hash string) (*Token, error) {
	var t Token
	ok, err := r.getJSON(tokenKey(hash), &t)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("token: %w", ErrNotFound)
	}
	return &t, nil
}

// TokenByID returns the token with that id, or ErrNotFound.
func (r *ReadTx) TokenByID(id uint64) (*Token, error) {
	h, ok, err := r.r.get(tokenIDKey(id))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("token %d: %w", id, ErrNotFound)
	}
	return r.TokenByHash(string(h))
}

// Tokens returns every token, oldest first.
func (r *ReadTx) Tokens() ([]*Token, error) {
	pairs, err := r.r.scan([]byte(pTokenID), nil, 1<<30, false)
	if err != nil {
		return nil, err
	}
	out := make([]*Token, 0, len(pairs))
	for _, p := range pairs {
		t, err := r.TokenByHash(string(p.Value))
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// PutToken stores a token: a new one (ID 0) gets the next token id; an
// existing one is replaced (e.g. to set RevokedAt). The hash of a stored
// token cannot change.
func (tx *Tx) PutToken(t *Token) error {
	if t.Hash == "" {
		return fmt.Errorf("store: token without hash: %w", ErrInvalid)
	}
	if t.ID == 0 {
		if _, ok, err := tx.r.get(tokenKey(t.Hash)); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("store: token hash already stored: %w", ErrInvalid)
		}
		id, err := tx.NextID(SeqToken)
		if err != nil {
			return err
		}
		t.ID = id
		if t.CreatedAt.IsZero() {
			t.CreatedAt = tx.now
		}
		tx.set(tokenIDKey(id), []byte(t.Hash))
	} else {
		old, err := tx.TokenByID(t.ID)
		if err != nil {
			return err
		}
		if old.Hash != t.Hash {
			return fmt.Errorf("store: token %d: hash is fixed: %w", t.ID, ErrInvalid)
		}
	}
	return tx.setJSON(tokenKey(t.Hash), t)
}

// RevokeToken marks a token revoked (idempotent), or ErrNotFound.
func (tx *Tx) RevokeToken(id uint64) (*Token, error) {
	t, err := tx.TokenByID(id)
	if err != nil {
		return nil, err
	}
	if t.RevokedAt.IsZero() {
		t.RevokedAt = tx.now
		if err := tx.PutToken(t); err != nil {
			return nil, err
		}
	}
	return t, nil
}
