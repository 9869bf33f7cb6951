package plusaddr

import (
	"strings"
	"testing"
)

func testSigner(t *testing.T, addr, secret string) *Signer {
	t.Helper()
	s, err := New(addr, []byte(secret))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestAddressRoundTrip(t *testing.T) {
	s := testSigner(t, "Support@Acme.test", "0123456789abcdef0123456789abcdef")
	addr := s.Address(42)
	if !strings.HasPrefix(addr, "support+t42.") || !strings.HasSuffix(addr, "@acme.test") {
		t.Fatalf("Address(42) = %q", addr)
	}
	cases := []struct {
		name       string
		addr       string
		wantOurs   bool
		wantTicket uint64
	}{
		{"signed", addr, true, 42},
		{"signed upper-cased by a relay", strings.ToUpper(addr), true, 42},
		{"plain address", "support@acme.test", true, 0},
		{"other plus tag", "support+billing@acme.test", true, 0},
		{"forged id", strings.Replace(addr, "t42.", "t43.", 1), true, 0},
		{"forged mac", addr[:strings.Index(addr, ".")+1] + "aaaaaaaaaaaaaaaa@acme.test", true, 0},
		{"leading zero", strings.Replace(addr, "t42.", "t042.", 1), true, 0},
		{"zero ticket", "support+t0." + s.mac("0") + "@acme.test", true, 0},
		{"other domain", strings.Replace(addr, "acme.test", "evil.test", 1), false, 0},
		{"other local", "sales@acme.test", false, 0},
		{"no at", "support", false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ours, ticket := s.Match(c.addr)
			if ours != c.wantOurs || ticket != c.wantTicket {
				t.Fatalf("Match(%q) = %v, %d; want %v, %d", c.addr, ours, ticket, c.wantOurs, c.wantTicket)
			}
		})
	}
}

func TestDifferentSecretsDifferentTokens(t *testing.T) {
	a := testSigner(t, "support@acme.test", "0123456789abcdef0123456789abcdef")
	b := testSigner(t, "support@acme.test", "fedcba9876543210fedcba9876543210")
	if a.Token(7) == b.Token(7) {
		t.Fatal("tokens under different secrets are equal")
	}
	if _, ticket := b.Match(a.Address(7)); ticket != 0 {
		t.Fatal("a token signed with another secret was accepted")
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	for _, c := range []struct{ addr, secret string }{
		{"support", "0123456789abcdef"},
		{"@acme.test", "0123456789abcdef"},
		{"support@", "0123456789abcdef"},
		{"support@acme.test", "short"},
	} {
		if _, err := New(c.addr, []byte(c.secret)); err == nil {
			t.Errorf("New(%q, %q) succeeded", c.addr, c.secret)
		}
	}
}

func FuzzVerify(f *testing.F) {
	s, _ := New("support@acme.test", []byte("0123456789abcdef0123456789abcdef"))
	f.Add(s.Token(42))
	f.Add("t1.")
	f.Add("t18446744073709551615.aaaaaaaaaaaaaaaa")
	f.Add("x")
	f.Fuzz(func(t *testing.T, token string) {
		n := s.Verify(token)
		if n != 0 && s.Token(n) != strings.ToLower(token) {
			t.Fatalf("Verify(%q) = %d but Token(%d) = %q", token, n, n, s.Token(n))
		}
	})
}
