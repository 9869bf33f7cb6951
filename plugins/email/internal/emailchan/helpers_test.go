package emailchan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/internal/testutil"
	"github.com/patchbayhq/patchbay/plugins/email/internal/plusaddr"
	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
)

// testSecret is the token_secret of the test channels.
const testSecret = "test-secret-0123456789abcdef"

// testHost is the SDK's channeltest.FakeHost (dedupe on ExternalID,
// attachment policy with size and SHA-256 checks, state, statuses) with one
// addition: Deliver can be held, to prove the SMTP 250 and the IMAP \Seen
// come only after Deliver returned.
type testHost struct {
	*channeltest.FakeHost
	mu sync.Mutex
	// block, when set, makes Deliver wait for it to close; entered is
	// closed when Deliver is first entered.
	block   chan struct{}
	entered chan struct{}
	// returned counts Deliver calls that returned successfully; it is
	// incremented before Deliver returns.
	returned atomic.Int64
}

func newFakeHost() *testHost { return &testHost{FakeHost: channeltest.NewFakeHost()} }

func (h *testHost) Deliver(ctx context.Context, msg *sdk.InboundMessage) (*sdk.Receipt, error) {
	h.mu.Lock()
	block, entered := h.block, h.entered
	if entered != nil {
		close(entered)
		h.entered = nil
	}
	h.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	r, err := h.FakeHost.Deliver(ctx, msg)
	if err == nil {
		h.returned.Add(1)
	}
	return r, err
}

// delivered returns the stored messages (one per ExternalID) in order.
func (h *testHost) delivered() []*sdk.InboundMessage {
	var out []*sdk.InboundMessage
	for _, d := range h.Deliveries() {
		m := d.Message
		out = append(out, &m)
	}
	return out
}

func (h *testHost) setFail(err error) { h.FailDeliver(err) }

func (h *testHost) lastStatus() sdk.Status {
	s := h.Statuses()
	if len(s) == 0 {
		return sdk.Status{}
	}
	return s[len(s)-1]
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline (the machine may be loaded).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, what, cond)
}

// baseConfig returns a config map for a channel listening on a free
// loopback port.
func baseConfig() map[string]any {
	return map[string]any{
		"address":      "support@acme.test",
		"smtp_listen":  "127.0.0.1:0",
		"token_secret": testSecret,
	}
}

// startChannel configures and starts a channel with cfg on host.
func startChannel(t *testing.T, host *testHost, cfg map[string]any) *Channel {
	t.Helper()
	ch := New()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := sdk.ConfigureRequest{Instance: "support", Config: raw, Host: host, Attachments: host.Policy(),
		Logger: hclog.New(&hclog.LoggerOptions{Output: io.Discard})}
	if err := ch.Configure(ctx, req); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if err := ch.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ch.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return ch
}

func testSigner(t testing.TB) *plusaddr.Signer {
	t.Helper()
	s, err := plusaddr.New("support@acme.test", []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sendSMTP sends raw over a real SMTP exchange and returns the server's
// final reply error (nil for 250).
func sendSMTP(t *testing.T, addr, from string, to []string, raw []byte) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if err := c.Hello("client.example.com"); err != nil {
		t.Fatalf("EHLO: %v", err)
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(raw); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	_ = c.Quit()
	return nil
}

// smtpCode returns the SMTP reply code and enhanced code of err.
func smtpCode(err error) (int, smtp.EnhancedCode) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code, se.EnhancedCode
	}
	return 0, smtp.EnhancedCode{}
}

// buildMail builds a CRLF message from header lines and a body.
func buildMail(headers []string, body string) []byte {
	var b bytes.Buffer
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return b.Bytes()
}

func addrOf(ch *Channel) string { return ch.SMTPAddr().(*net.TCPAddr).String() }
