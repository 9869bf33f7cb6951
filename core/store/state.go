package store

import (
	"encoding/json"
	"fmt"
)

func jsonBytes(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("store: encode: %w", err)
	}
	return b, nil
}

// MaxStateValue bounds one channel state value.
const MaxStateValue = 64 << 10

// State returns a channel instance's value for key.
func (r *ReadTx) State(instance, k string) ([]byte, bool, error) {
	return r.r.get(stateKey(instance, k))
}

// SetState stores a channel instance's value for key.
func (tx *Tx) SetState(instance, k string, value []byte) error {
	if err := checkName("instance", instance); err != nil {
		return err
	}
	if k == "" {
		return fmt.Errorf("store: empty state key: %w", ErrInvalid)
	}
	if len(value) > MaxStateValue {
		return fmt.Errorf("store: state value over %d bytes: %w", MaxStateValue, ErrInvalid)
	}
	tx.set(stateKey(instance, k), append([]byte(nil), value...))
	return nil
}

// DeleteState removes a channel instance's value for key.
func (tx *Tx) DeleteState(instance, k string) error {
	if err := checkName("instance", instance); err != nil {
		return err
	}
	tx.del(stateKey(instance, k))
	return nil
}
