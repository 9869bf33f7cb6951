package store

import (
	"context"
	"errors"
	"testing"
)

func TestRuleValues(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	err = s.Update(ctx, func(tx *Tx) error {
		for _, k := range []string{"b/2", "a/1", "b/1", "c"} {
			if err := tx.PutRuleValue("sp", k, []byte("v"+k)); err != nil {
				return err
			}
		}
		if err := tx.PutRuleValue("other", "a/1", []byte("x")); err != nil {
			return err
		}
		// The writer's own writes are visible in the transaction.
		kvs, err := tx.RuleValues("sp", "b/", "", 10)
		if err != nil || len(kvs) != 2 || kvs[0].Key != "b/1" || string(kvs[1].Value) != "vb/2" {
			t.Errorf("in-transaction scan %+v (%v)", kvs, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		prefix, from string
		limit        int
		want         []string
	}{
		{"", "", 10, []string{"a/1", "b/1", "b/2", "c"}},
		{"b/", "", 10, []string{"b/1", "b/2"}},
		{"", "b/2", 10, []string{"b/2", "c"}},
		{"", "", 2, []string{"a/1", "b/1"}},
		{"z", "", 10, nil},
	}
	for _, c := range cases {
		var kvs []RuleKV
		if err := s.View(func(r *ReadTx) error {
			var err error
			kvs, err = r.RuleValues("sp", c.prefix, c.from, c.limit)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, kv := range kvs {
			got = append(got, kv.Key)
		}
		if len(got) != len(c.want) {
			t.Errorf("%+v: got %v", c, got)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%+v: got %v", c, got)
			}
		}
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.DeleteRuleValue("sp", "c") }); err != nil {
		t.Fatal(err)
	}
	_ = s.View(func(r *ReadTx) error {
		if _, ok, _ := r.RuleValue("sp", "c"); ok {
			t.Error("deleted value still there")
		}
		if v, ok, _ := r.RuleValue("other", "a/1"); !ok || string(v) != "x" {
			t.Error("spaces are not separate")
		}
		return nil
	})
	for _, bad := range [][2]string{{"", "k"}, {"sp", ""}, {"s\x00p", "k"}, {"sp", "k\x00"}} {
		err := s.Update(ctx, func(tx *Tx) error { return tx.PutRuleValue(bad[0], bad[1], nil) })
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("put %q: %v", bad, err)
		}
	}
}
