package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/patchbayhq/patchbay/core/store"
)

// MaxIdempotencyKeyLength bounds the Idempotency-Key header.
const MaxIdempotencyKeyLength = 255

// result is a successful answer computed inside a store transaction.
type result struct {
	status int
	header http.Header
	body   any
	// stored, when set, is what an idempotent replay answers instead of
	// body (token creation stores its answer without the secret).
	stored any
}

// idempotencyKey returns the request's Idempotency-Key ("" when absent):
// 1 to 255 printable ASCII characters.
func idempotencyKey(r *http.Request) (string, error) {
	k := r.Header.Get("Idempotency-Key")
	if k == "" {
		return "", nil
	}
	if len(k) > MaxIdempotencyKeyLength {
		return "", invalidField("Idempotency-Key", "must be at most %d characters", MaxIdempotencyKeyLength)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return "", invalidField("Idempotency-Key", "must be printable ASCII without spaces (a UUID is a good key)")
		}
	}
	return k, nil
}

// requestHash fingerprints a request for idempotency: method, path and
// the body in canonical JSON (object keys sorted, no insignificant
// whitespace), so that the same request re-encoded matches.
func requestHash(r *http.Request, body []byte) string {
	canon := body
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err == nil {
		if b, err := json.Marshal(v); err == nil {
			canon = b
		}
	}
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
	h.Write(canon)
	return hex.EncodeToString(h.Sum(nil))
}

// commit runs fn in one store transaction and writes its answer. With an
// Idempotency-Key the answer is stored in the same transaction, scoped to
// the caller's token and kept for the server's idempotency TTL (24 h): a
// retry with the same key and body gets the stored answer (with
// Idempotent-Replayed: true) and changes nothing; the same key with another
// body is 422. Errors are not stored: nothing changed, so a retry is safe.
func (s *Server) commit(w http.ResponseWriter, r *http.Request, body []byte, fn func(tx *store.Tx) (*result, error)) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	return s.commitResult(w, r, key, body, fn)
}

// commitResult is commit with the key already read; body is what
// identifies the request besides its method and path.
func (s *Server) commitResult(w http.ResponseWriter, r *http.Request, key string, body []byte, fn func(tx *store.Tx) (*result, error)) error {
	scope := adminTokenID
	if p := principalFrom(r.Context()); p != nil {
		scope = p.TokenID
	}
	hash := requestHash(r, body)
	var err error
	var (
		status   int
		header   http.Header
		payload  []byte
		replayed bool
	)
	err = s.store.Update(r.Context(), func(tx *store.Tx) error {
		status, header, payload, replayed = 0, nil, nil, false
		if key != "" {
			rec, err := tx.Idempotency(scope, key)
			switch {
			case err == nil:
				if rec.RequestHash != hash {
					return &Error{Status: http.StatusUnprocessableEntity, Code: CodeIdempotencyKeyUsed, Field: "Idempotency-Key",
						Message: "this Idempotency-Key was used with a different request; use a new key for a new request"}
				}
				status, header, payload, replayed = rec.Status, rec.Header, rec.Body, true
				return nil
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
		}
		res, err := fn(tx)
		if err != nil {
			return err
		}
		b, err := json.Marshal(res.body)
		if err != nil {
			return err
		}
		status, header, payload = res.status, res.header, append(b, '\n')
		if key == "" {
			return nil
		}
		keep := payload
		if res.stored != nil {
			sb, err := json.Marshal(res.stored)
			if err != nil {
				return err
			}
			keep = append(sb, '\n')
		}
		return tx.PutIdempotency(&store.IdempotencyRecord{
			Scope: scope, Key: key, RequestHash: hash,
			Status: status, Header: header, Body: keep,
			ExpiresAt: tx.Now().Add(s.idemTTL),
		})
	})
	if err != nil {
		return storeError(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(payload)
	return nil
}
