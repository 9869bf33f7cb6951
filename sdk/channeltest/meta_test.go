package channeltest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
	"github.com/patchbayhq/patchbay/sdk/channeltest/internal/refchannel"
)

const faultEnv = "CHANNELTEST_FAULT"

// faulty is the reference channel with one contract violation.
type faulty struct {
	*refchannel.Channel
	fault string
	n     atomic.Int64
}

func (f *faulty) Configure(ctx context.Context, req sdk.ConfigureRequest) error {
	req.Host = &faultyHost{Host: req.Host, f: f}
	err := f.Channel.Configure(ctx, req)
	if err != nil && f.fault == "plain_config_error" {
		return errors.New("the configuration is wrong somewhere")
	}
	return err
}

func (f *faulty) HandleWebhook(ctx context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
	if f.fault == "no_signature_check" {
		req.Header = refchannel.Sign(secret, time.Now(), req.Body)
	}
	resp, err := f.Channel.HandleWebhook(ctx, req)
	if f.fault == "ack_on_failure" && err == nil && resp.Status >= 500 {
		resp.Status = http.StatusOK
	}
	return resp, err
}

func (f *faulty) Send(ctx context.Context, msg *sdk.OutboundMessage) (*sdk.SendResult, error) {
	res, err := f.Channel.Send(ctx, msg)
	var se *sdk.SendError
	if f.fault == "send_errors_permanent" && errors.As(err, &se) {
		se.Retryable = false
	}
	return res, err
}

type faultyHost struct {
	sdk.Host
	f *faulty
}

func (h *faultyHost) Deliver(ctx context.Context, msg *sdk.InboundMessage) (*sdk.Receipt, error) {
	switch h.f.fault {
	case "fresh_ids":
		msg.ExternalID = fmt.Sprintf("%s-%d", msg.ExternalID, h.f.n.Add(1))
	case "corrupt_bytes":
		for i, a := range msg.Attachments {
			open := a.Open
			msg.Attachments[i].Open = func(ctx context.Context) (io.ReadCloser, error) {
				rc, err := open(ctx)
				if err != nil {
					return nil, err
				}
				data, err := io.ReadAll(rc)
				_ = rc.Close()
				if err != nil || len(data) == 0 {
					return nil, errors.New("cannot corrupt")
				}
				data[len(data)/2] ^= 0xff
				return io.NopCloser(bytes.NewReader(data)), nil
			}
		}
	}
	return h.Host.Deliver(ctx, msg)
}

// TestFaultyTarget runs the suite against a faulty channel; it only runs as
// the subprocess of TestSuiteDetectsFaults.
func TestFaultyTarget(t *testing.T) {
	fault := os.Getenv(faultEnv)
	if fault == "" {
		t.Skip("run by TestSuiteDetectsFaults")
	}
	p := newProvider(t)
	tg := target(p, pdfBytes(64<<10))
	tg.New = func() sdk.Channel { return &faulty{Channel: refchannel.New(), fault: fault} }
	channeltest.Run(t, tg)
}

// TestSuiteDetectsFaults proves that each contract violation fails the
// suite with a message that names it.
func TestSuiteDetectsFaults(t *testing.T) {
	cases := []struct {
		fault string
		want  string
	}{
		{"ack_on_failure", "want an answer that makes it retry"},
		{"fresh_ids", "messages stored after a redelivery; want 1"},
		{"no_signature_check", "want 401"},
		{"send_errors_permanent", "Retryable = false, want true"},
		{"plain_config_error", "not sdk.FieldErrors"},
		{"corrupt_bytes", "bytes stored differ"},
	}
	for _, c := range cases {
		t.Run(c.fault, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run", "^TestFaultyTarget$", "-test.count", "1")
			cmd.Env = append(os.Environ(), faultEnv+"="+c.fault)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the suite passed a channel with fault %s (err %v):\n%s", c.fault, err, out)
			}
			if !bytes.Contains(out, []byte(c.want)) {
				t.Errorf("the suite's failure does not say %q:\n%s", c.want, out)
			}
		})
	}
}
