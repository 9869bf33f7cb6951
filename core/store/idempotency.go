package store

import (
	"fmt"
	"net/http"
	"time"
)

// IdempotencyRecord is the stored answer to a request carrying an
// Idempotency-Key, scoped (e.g. by token id) so that callers cannot see
// each other's answers.
type IdempotencyRecord struct {
	Scope       string      `json:"scope"`
	Key         string      `json:"key"`
	RequestHash string      `json:"request_hash"`
	Status      int         `json:"status"`
	Header      http.Header `json:"header,omitempty"`
	Body        []byte      `json:"body"`
	CreatedAt   time.Time   `json:"created_at"`
	ExpiresAt   time.Time   `json:"expires_at"`
}

// DefaultIdempotencyTTL is how long records are kept when ExpiresAt is zero.
const DefaultIdempotencyTTL = 24 * time.Hour

// Idempotency returns the unexpired record for (scope, key), or ErrNotFound.
func (r *ReadTx) Idempotency(scope, k string) (*IdempotencyRecord, error) {
	var rec IdempotencyRecord
	ok, err := r.getJSON(idemKey(scope, k), &rec)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("idempotency key: %w", ErrNotFound)
	}
	return &rec, nil
}

// PutIdempotency stores a record until its ExpiresAt (default: 24 h from
// the transaction time); Badger drops it after that.
func (tx *Tx) PutIdempotency(rec *IdempotencyRecord) error {
	if err := checkName("idempotency scope", rec.Scope); err != nil {
		return err
	}
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = tx.now
	}
	if rec.ExpiresAt.IsZero() {
		rec.ExpiresAt = rec.CreatedAt.Add(DefaultIdempotencyTTL)
	}
	b, err := jsonBytes(rec)
	if err != nil {
		return err
	}
	tx.setTTL(idemKey(rec.Scope, rec.Key), b, rec.ExpiresAt)
	return nil
}
