package store

import (
	"fmt"
	"strings"
)

// pRules holds the rules engine's data (core/rules): definitions, the
// trigger cursor, firing markers, webhook deliveries. Keys are
// ru/<space>0<key>; the store gives the values no meaning.
const pRules = "ru/"

func ruleKey(space, k string) []byte { return key(pRules, str2(space, k)) }

// RuleKV is one key/value of a rules space.
type RuleKV struct {
	Key   string
	Value []byte
}

func checkRuleKey(space, k string) error {
	if space == "" || strings.IndexByte(space, 0) >= 0 {
		return fmt.Errorf("store: rules space %q: %w", space, ErrInvalid)
	}
	if k == "" || strings.IndexByte(k, 0) >= 0 {
		return fmt.Errorf("store: rules key %q: %w", k, ErrInvalid)
	}
	return nil
}

// RuleValue returns the value stored under (space, key) by the rules engine.
func (r *ReadTx) RuleValue(space, k string) ([]byte, bool, error) {
	return r.r.get(ruleKey(space, k))
}

// RuleObject returns the value under (space, key) as decode turns it into
// an object. Inside Update the writer cache keeps the decoded object with
// the value (cache.go), so a record read by every update is decoded once
// per change, not once per read. The object is shared: callers must not
// modify it, and decode must always return the same type for a space.
func (r *ReadTx) RuleObject(space, k string, decode func([]byte) (any, error)) (any, bool, error) {
	key := ruleKey(space, k)
	or, isObj := r.r.(objReader)
	if !isObj {
		v, ok, err := r.r.get(key)
		if err != nil || !ok {
			return nil, ok, err
		}
		obj, err := decode(v)
		return obj, err == nil, err
	}
	v, obj, ok, err := or.getObj(key)
	if err != nil || !ok {
		return nil, ok, err
	}
	if obj != nil {
		return obj, true, nil
	}
	if obj, err = decode(v); err != nil {
		return nil, false, err
	}
	or.attach(key, v, obj)
	return obj, true, nil
}

// PutRuleValue stores value under (space, key) in the transaction.
func (tx *Tx) PutRuleValue(space, k string, value []byte) error {
	if err := checkRuleKey(space, k); err != nil {
		return err
	}
	tx.set(ruleKey(space, k), append([]byte(nil), value...))
	return nil
}

// DeleteRuleValue removes (space, key); removing a missing key is not an
// error.
func (tx *Tx) DeleteRuleValue(space, k string) error {
	if err := checkRuleKey(space, k); err != nil {
		return err
	}
	tx.del(ruleKey(space, k))
	return nil
}

// RuleValues returns up to limit pairs of space whose key starts with
// prefix and is >= from (from "" : the first), in ascending byte order of
// their keys.
func (r *ReadTx) RuleValues(space, prefix, from string, limit int) ([]RuleKV, error) {
	if space == "" || strings.IndexByte(space, 0) >= 0 {
		return nil, fmt.Errorf("store: rules space %q: %w", space, ErrInvalid)
	}
	p := ruleKey(space, prefix)
	var f []byte
	if from != "" {
		f = ruleKey(space, from)
	}
	pairs, err := r.r.scan(p, f, limit, false)
	if err != nil {
		return nil, err
	}
	base := len(pRules) + len(space) + 1
	out := make([]RuleKV, len(pairs))
	for i, kv := range pairs {
		out[i] = RuleKV{Key: string(kv.Key[base:]), Value: kv.Value}
	}
	return out, nil
}
