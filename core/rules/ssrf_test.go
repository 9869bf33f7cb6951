package rules

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

// Server-side request forgery, literal forms: a webhook whose URL names an
// internal address in any notation is refused when saved (422 in the
// API), unless the operator allowed its network; public addresses and
// names pass (names are checked when the call is made).
func TestWebhookSSRFLiteralAddressesRefusedAtCreation(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.WebhookNetworks = NetworkPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	})
	ctx := context.Background()
	tests := []struct {
		url  string
		want string // substring of the refusal; "" accepted
	}{
		{"http://169.254.169.254/latest/meta-data/", "link-local"},
		{"http://[::1]:8080/", "loopback"},
		{"http://0x7f000001/", "loopback"},
		{"http://2130706433/", "loopback"},
		{"http://0177.0.0.1/", "loopback"},
		{"http://127.1/", "loopback"},
		{"http://127.0.0.1:9/", "loopback"},
		{"http://[::ffff:127.0.0.1]/", "loopback"},
		{"http://0.0.0.0:8080/", "unspecified"},
		{"http://[::]/", "unspecified"},
		{"http://10.0.0.1/", "private"},
		{"http://192.168.1.1/", "private"},
		{"http://172.16.5.4/", "private"},
		{"http://100.64.0.1/", "private"},
		{"http://[fd00::1]/", "unique-local"},
		{"http://[fe80::1%25eth0]/", "link-local"},
		{"http://239.1.2.3/", "multicast"},
		{"http://255.255.255.255/", "reserved"},
		{"http://0x08080808/", "legacy notation"},
		{"https://93.184.216.34/hook", ""},
		{"https://[2606:4700::1111]/hook", ""},
		{"https://crm.example.test/hook", ""},
		{"http://localhost:8080/", ""}, // a name: refused when called
		{"http://10.1.2.3/hook", ""},   // allowed network
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			wh, err := e.eng.CreateWebhook(ctx, &Webhook{Name: "w", URL: tt.url, Active: true})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != "url" || !strings.Contains(ve.Message, tt.want) {
				t.Fatalf("CreateWebhook = %v, %v; want a url error containing %q", wh, err, tt.want)
			}
		})
	}
	// Editing a webhook to point inward is refused the same way.
	wh, err := e.eng.CreateWebhook(ctx, &Webhook{Name: "ok", URL: "https://crm.example.test/", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	wh.URL = "http://169.254.169.254/"
	var ve *ValidationError
	if _, err := e.eng.UpdateWebhook(ctx, wh); !errors.As(err, &ve) || ve.Field != "url" {
		t.Fatalf("UpdateWebhook to the metadata address: %v", err)
	}
}

// countingServer is a receiver that counts the requests it gets.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// Server-side request forgery through a name: the check runs when the
// connection is made, on the address the name resolved to (DNS
// rebinding), so a name pointing at loopback is refused although it was
// accepted when saved. The call is not retried and never reaches the
// receiver.
func TestWebhookSSRFDialTimeCheckOnResolvedAddress(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.WebhookNetworks = NetworkPolicy{} })
	ctx := context.Background()
	srv, hits := countingServer(t, nil)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	wh, err := e.eng.CreateWebhook(ctx, &Webhook{Name: "rebound", URL: "http://localhost:" + port + "/hook", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	e.rule(&Rule{Kind: KindTrigger, Title: "t", Active: true, Conditions: all(cond("update_type", OpIs, "created")),
		Actions: []Action{act(ActNotifyWebhook, float64(wh.ID))}})
	e.deliver("support", "m1", "c1", "ann", "hello")
	e.process()
	if _, err := e.eng.DeliverWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the loopback receiver got %d requests", n)
	}
	ds, err := e.eng.Deliveries(wh.ID, 10, 0)
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries: %+v (%v)", ds, err)
	}
	d := ds[0]
	if d.Status != DeliveryFailed || d.AttemptCount != 1 || !strings.Contains(d.Attempts[0].Error, "refused") || !strings.Contains(d.Attempts[0].Error, "loopback") {
		t.Fatalf("delivery: %+v", d)
	}
}

// Server-side request forgery through a redirect: a receiver (allowed)
// answering 3xx towards another address is not followed; the 3xx is the
// answer, logged as a failure that is not retried.
func TestWebhookSSRFRedirectsNotFollowed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	target, targetHits := countingServer(t, nil)
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		redirector, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/internal", code)
		})
		wh, err := e.eng.CreateWebhook(ctx, &Webhook{Name: "r", URL: redirector.URL, Active: true})
		if err != nil {
			t.Fatal(err)
		}
		rule := e.rule(&Rule{Kind: KindTrigger, Title: "t", Active: true, Conditions: all(cond("update_type", OpIs, "created")),
			Actions: []Action{act(ActNotifyWebhook, float64(wh.ID))}})
		e.deliver("support", "m"+http.StatusText(code), "c"+http.StatusText(code), "ann", "hello")
		e.process()
		if _, err := e.eng.DeliverWebhooks(ctx); err != nil {
			t.Fatal(err)
		}
		ds, err := e.eng.Deliveries(wh.ID, 10, 0)
		if err != nil || len(ds) != 1 || ds[0].Status != DeliveryFailed || ds[0].Attempts[0].StatusCode != code ||
			!strings.Contains(ds[0].Attempts[0].Error, "redirects are not followed") {
			t.Fatalf("%d: deliveries %+v (%v)", code, ds, err)
		}
		if err := e.eng.DeleteRule(ctx, rule.Kind, rule.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := targetHits.Load(); n != 0 {
		t.Fatalf("the redirect target got %d requests", n)
	}
}

// parseLegacyIPv4 reads a URL host: it must never panic, and whatever it
// accepts must agree with dotted decimal where the input is dotted
// decimal.
func FuzzParseLegacyIPv4(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "0x7f000001", "2130706433", "0177.0.0.1", "127.1", "1.2.3", "0x", "08", "1.2.3.4.5", "4294967296", "", ".", "1..2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		addr, ok := parseLegacyIPv4(host)
		if !ok {
			return
		}
		if !addr.Is4() {
			t.Fatalf("%q: %v is not IPv4", host, addr)
		}
		if std, err := netip.ParseAddr(host); err == nil && std != addr {
			t.Fatalf("%q: %v, netip says %v", host, addr, std)
		}
	})
}
