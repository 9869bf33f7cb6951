package emailch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/plugins/email/internal/plusaddr"
	"github.com/patchbayhq/patchbay/sdk"
)

// testSecret is the token_secret of the test channels.
const testSecret = "test-secret-0123456789abcdef"

// fakeHost is an in-memory sdk.Host: it records deliveries (reading each
// attachment and checking its SHA-256 as the core does), applies an
// attachment policy, can fail or block Deliver, and keeps state.
type fakeHost struct {
	mu       sync.Mutex
	msgs     []*sdk.InboundMessage
	files    map[string][]byte // filename -> content of accepted files
	state    map[string][]byte
	statuses []sdk.Status
	policy   sdk.AttachmentPolicy
	failErr  error
	// block, when set, makes Deliver wait for it to close; entered is
	// closed when Deliver is first entered.
	block   chan struct{}
	entered chan struct{}
	// returned counts Deliver calls that returned successfully; it is
	// incremented before Deliver returns.
	returned atomic.Int64
}

func newFakeHost() *fakeHost {
	return &fakeHost{files: map[string][]byte{}, state: map[string][]byte{}}
}

func (h *fakeHost) Deliver(ctx context.Context, msg *sdk.InboundMessage) (*sdk.Receipt, error) {
	h.mu.Lock()
	block, entered, failErr := h.block, h.entered, h.failErr
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
	if failErr != nil {
		return nil, failErr
	}
	rcpt := &sdk.Receipt{TicketID: 1, CommentID: uint64(h.returned.Load() + 1)}
	files := map[string][]byte{}
	for _, a := range msg.Attachments {
		rc, err := a.Open(ctx)
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		if sum := sha256.Sum256(data); a.SHA256 != "" && a.SHA256 != hex.EncodeToString(sum[:]) {
			return nil, fmt.Errorf("attachment %q: checksum mismatch", a.Filename)
		}
		if !h.policy.Allows(a.Filename, int64(len(data))) {
			rcpt.Rejected = append(rcpt.Rejected, sdk.RejectedAttachment{Filename: a.Filename, Reason: "type not allowed"})
			continue
		}
		files[a.Filename] = data
	}
	h.mu.Lock()
	h.msgs = append(h.msgs, msg)
	for k, v := range files {
		h.files[k] = v
	}
	h.mu.Unlock()
	h.returned.Add(1)
	return rcpt, nil
}

func (h *fakeHost) UpdateDelivery(context.Context, sdk.DeliveryUpdate) (bool, error) {
	return false, nil
}

func (h *fakeHost) OpenAttachment(context.Context, string) (io.ReadCloser, error) {
	return nil, errors.New("not found")
}

func (h *fakeHost) GetState(_ context.Context, key string) ([]byte, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.state[key]
	return append([]byte(nil), v...), ok, nil
}

func (h *fakeHost) SetState(_ context.Context, key string, value []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.state[key] = append([]byte(nil), value...)
	return nil
}

func (h *fakeHost) DeleteState(_ context.Context, key string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.state, key)
	return nil
}

func (h *fakeHost) ReportStatus(_ context.Context, s sdk.Status) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.statuses = append(h.statuses, s)
	return nil
}

func (h *fakeHost) setFail(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failErr = err
}

func (h *fakeHost) delivered() []*sdk.InboundMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*sdk.InboundMessage(nil), h.msgs...)
}

func (h *fakeHost) lastStatus() sdk.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.statuses) == 0 {
		return sdk.Status{}
	}
	return h.statuses[len(h.statuses)-1]
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline (the machine may be loaded).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
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
func startChannel(t *testing.T, host *fakeHost, cfg map[string]any) *Channel {
	t.Helper()
	ch := New()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := sdk.ConfigureRequest{Instance: "support", Config: raw, Host: host, Attachments: host.policy,
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

func testSigner(t *testing.T) *plusaddr.Signer {
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
