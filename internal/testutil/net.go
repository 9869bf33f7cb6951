package testutil

import (
	"net"
	"testing"
)

// FreeAddr returns a loopback TCP address whose port was free a moment ago,
// for a listener that must be named in a configuration before it starts.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
