package whatsappchan

import (
	"net/http"
	"time"
)

// maxIdleGraphConns is how many idle connections to the Graph API the
// channel keeps. Every call goes to one host, and the core's outbox sends
// up to its worker count (default 128) replies at once; net/http's default
// of two idle connections per host would close and reopen a TCP (and TLS)
// connection for most sends under load.
const maxIdleGraphConns = 256

// newGraphHTTPClient returns the HTTP client for Graph API calls: the
// default transport's settings (proxy from the environment, timeouts,
// HTTP/2) with enough idle connections kept for concurrent sends.
func newGraphHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = maxIdleGraphConns
	t.MaxIdleConnsPerHost = maxIdleGraphConns
	return &http.Client{Timeout: 60 * time.Second, Transport: t}
}
