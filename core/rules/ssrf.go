package rules

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenAddress is the error of a webhook call refused because the
// receiver's address is internal (see NetworkPolicy).
var ErrForbiddenAddress = errors.New("webhook receiver address is not allowed")

// NetworkPolicy says which addresses outgoing webhooks may reach. By
// default a webhook may not reach loopback, private (RFC 1918, RFC 6598
// shared, IPv6 unique-local), link-local (cloud metadata services live at
// 169.254.169.254), multicast, broadcast or unspecified addresses: a rule
// author must not be able to make the server call its own admin endpoints
// or the cloud provider's credentials service (server-side request
// forgery). Allow lists networks that are reachable even so (an internal
// CRM at 10.1.2.3, a test receiver on 127.0.0.1).
//
// The check runs when the connection is made, on the address the name
// resolved to, so a name that resolves to an internal address (or is
// re-pointed there after the webhook was saved: DNS rebinding) is refused
// too. Redirects are never followed.
type NetworkPolicy struct {
	// Allow lists networks a webhook may reach although they are internal.
	Allow []netip.Prefix
}

// internalNets are the special-purpose networks no webhook reaches unless
// allowed (besides those netip.Addr's predicates name).
var internalNets = []struct {
	prefix netip.Prefix
	class  string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("100.64.0.0/10"), "private"}, // RFC 6598 shared address space
	{netip.MustParsePrefix("192.0.0.0/24"), "private"},  // IETF protocol assignments
	{netip.MustParsePrefix("198.18.0.0/15"), "private"}, // benchmarking
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},  // and 255.255.255.255
	{netip.MustParsePrefix("64:ff9b::/96"), "translated"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "translated"},
}

// addrClass returns why addr is internal ("loopback", "private", …), or
// "" for a public address.
func addrClass(addr netip.Addr) string {
	addr = addr.Unmap().WithZone("")
	switch {
	case !addr.IsValid():
		return "invalid"
	case addr.IsUnspecified():
		return "unspecified"
	case addr.IsLoopback():
		return "loopback"
	case addr.IsLinkLocalUnicast(), addr.IsLinkLocalMulticast():
		return "link-local"
	case addr.IsPrivate():
		if addr.Is6() {
			return "unique-local"
		}
		return "private"
	case addr.IsMulticast(), addr.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, n := range internalNets {
		if n.prefix.Contains(addr) {
			return n.class
		}
	}
	return ""
}

// check returns nil when a webhook may connect to addr, else an error
// wrapping ErrForbiddenAddress that names the class of address.
func (p NetworkPolicy) check(addr netip.Addr) error {
	addr = addr.Unmap().WithZone("")
	class := addrClass(addr)
	if class == "" {
		return nil
	}
	for _, n := range p.Allow {
		if n.Contains(addr) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is a %s address (allow its network in outgoing_webhooks.allow_networks to reach it)", ErrForbiddenAddress, addr, class)
}

// checkURLHost refuses, when a webhook is saved, a URL whose host is a
// literal internal address (in any notation: 127.0.0.1, [::1],
// 0x7f000001, 2130706433, 0177.1) unless allowed, and a literal IPv4
// address in a notation other than dotted decimal. Names are checked when
// the call is made.
func (p NetworkPolicy) checkURLHost(u *url.URL) error {
	host := u.Hostname()
	addr, err := netip.ParseAddr(host)
	if err != nil {
		legacy, ok := parseLegacyIPv4(host)
		if !ok {
			return nil // a name
		}
		if perr := p.check(legacy); perr != nil {
			return perr
		}
		return fmt.Errorf("host %q is an IPv4 address in a legacy notation: write it as %s", host, legacy)
	}
	return p.check(addr)
}

// parseLegacyIPv4 parses the numeric host forms that inet_aton (and so
// many resolvers and browsers) accept besides dotted decimal: one to four
// parts, each decimal, 0x-hex or 0-octal, the last filling the remaining
// bytes (2130706433, 0x7f000001, 0177.0.0.1, 127.1).
func parseLegacyIPv4(host string) (netip.Addr, bool) {
	host = strings.TrimSuffix(host, ".")
	parts := strings.Split(host, ".")
	if host == "" || len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, part := range parts {
		if part == "" {
			return netip.Addr{}, false
		}
		base, digits := 10, part
		switch {
		case len(part) > 2 && (part[:2] == "0x" || part[:2] == "0X"):
			base, digits = 16, part[2:]
		case len(part) > 1 && part[0] == '0':
			base, digits = 8, part[1:]
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 0xff {
			return netip.Addr{}, false
		}
		n |= v << (8 * (3 - i))
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// client returns the HTTP client of webhook calls: every connection is
// checked against the policy on the resolved address it is about to use,
// no proxy (a proxy would hide the receiver's address from the check), no
// redirects (a 3xx is the answer: a public receiver cannot bounce the call
// to an internal one), and timeout for the whole call.
func (p NetworkPolicy) client(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{
		Timeout:   timeout,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: cannot check address %q", ErrForbiddenAddress, address)
			}
			return p.check(ap.Addr())
		},
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   8,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   timeout,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
