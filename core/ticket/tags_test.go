package ticket

import (
	"slices"
	"testing"
)

func TestNormalizeTags(t *testing.T) {
	cases := []struct {
		in   []string
		want []string // nil: refused
	}{
		{[]string{" VIP ", "billing", "vip"}, []string{"vip", "billing"}},
		{[]string{}, []string{}},
		{[]string{""}, nil},
		{[]string{"a b"}, nil},
		{[]string{"a,b"}, nil},
		{[]string{"a\x00b"}, nil},
		{[]string{"bell\x07"}, nil},
		{[]string{"c1\u0085x"}, nil},
		{[]string{"bad\xffutf8"}, nil},
		{[]string{"café"}, []string{"café"}},
	}
	for _, tc := range cases {
		got, err := NormalizeTags(tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%q accepted as %q", tc.in, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q: %q %v, want %q", tc.in, got, err, tc.want)
		}
	}
}
