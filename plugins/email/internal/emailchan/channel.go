// Package emailchan is the email channel: an sdk.Channel receiving mail over
// SMTP, LMTP or IMAP and sending replies over SMTP or into a directory of
// .eml files. The plugin binary's main serves it with sdk.Serve.
package emailchan

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/plugins/email/internal/plusaddr"
	"github.com/patchbayhq/patchbay/sdk"
)

// stateTokenSecret is the Host state key of the generated token secret.
const stateTokenSecret = "token_secret"

// stateMsgIDSecret is the Host state key of the secret signing our
// Message-IDs. It is generated on first start and never configured, so it
// is in no configuration file; it lives in the core's store (and its
// backups) with the channel's other state.
const stateMsgIDSecret = "message_id_secret"

// Channel is the email channel. The zero value is not usable; use New.
type Channel struct {
	mu   sync.Mutex
	inst *instance // set by Configure

	// running state, set by Start
	cancel context.CancelFunc
	smtp   *smtpReceiver
	imap   *imapPoller
}

// instance is what Configure set up; it never changes afterwards, so
// receivers and Send read it without holding the lock.
type instance struct {
	cfg    *config
	host   sdk.Host
	log    hclog.Logger
	name   string
	signer *plusaddr.Signer
	// ids mints and checks our Message-IDs; set with signer at Start.
	ids    *msgIDSigner
	sender transport
	// imapTLS, when set, replaces the IMAP client's TLS settings (tests
	// trust their own certificate with it); nil in production.
	imapTLS *tls.Config
}

// New returns an unconfigured email channel.
func New() *Channel {
	return &Channel{}
}

var _ sdk.Channel = (*Channel)(nil)

// Describe returns the manifest.
func (c *Channel) Describe(context.Context) (sdk.Manifest, error) {
	return manifest(), nil
}

// Configure validates the config block and prepares the channel. Invalid
// fields come back as sdk.FieldErrors and change nothing. Without a
// configured token_secret, a random one is created once and kept in the
// Host's state (at Start), so plus-addresses stay valid across restarts.
// Without a Host (req.Host nil), Configure only validates.
func (c *Channel) Configure(ctx context.Context, req sdk.ConfigureRequest) error {
	cfg, err := parseConfig(req)
	if err != nil {
		return err
	}
	if req.Host == nil {
		// Without a way back to the core there is nothing to apply:
		// the configuration was only checked.
		return nil
	}
	// A configured secret makes the signer now; a generated one is read
	// from (or written to) the Host's state at Start, so that Configure
	// needs no state and `patchbay validate` can run it without a store.
	var signer *plusaddr.Signer
	if cfg.TokenSecret != "" {
		if signer, err = plusaddr.New(cfg.Address, []byte(cfg.TokenSecret)); err != nil {
			return fmt.Errorf("email: %w", err)
		}
	}
	sender, err := newTransport(cfg)
	if err != nil {
		return err
	}
	log := req.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		return errors.New("email: Configure after Start")
	}
	c.inst = &instance{cfg: cfg, host: req.Host, log: log, name: req.Instance, signer: signer, sender: sender}
	log.Info("configured", "address", cfg.Address, "smtp_listen", cfg.Listen.Addr, "lmtp", cfg.LMTP,
		"imap", cfg.IMAP != nil, "outbound", cfg.Outbound.Kind, "max_message_mb", int(cfg.MaxBytes>>20))
	return nil
}

// loadOrCreateSecret returns the instance's generated secret kept under
// state key, creating and storing it on first use.
func loadOrCreateSecret(ctx context.Context, host sdk.Host, key string) ([]byte, error) {
	v, found, err := host.GetState(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("email: reading the %s from state: %w", key, err)
	}
	if found && len(v) >= minTokenSecretLen {
		return v, nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return nil, fmt.Errorf("email: generating the %s: %w", key, err)
	}
	secret := []byte(hex.EncodeToString(buf))
	if err := host.SetState(ctx, key, secret); err != nil {
		return nil, fmt.Errorf("email: storing the %s: %w", key, err)
	}
	return secret, nil
}

// Start opens the SMTP/LMTP listener and starts IMAP polling, as
// configured. It returns once the listener accepts connections.
func (c *Channel) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inst == nil {
		return errors.New("email: Start before Configure")
	}
	if c.cancel != nil {
		return nil
	}
	inst, err := c.withSignerLocked(ctx)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	if inst.cfg.Listen.Network != "" {
		r, err := startSMTP(c, inst)
		if err != nil {
			cancel()
			return err
		}
		c.smtp = r
	}
	if inst.cfg.IMAP != nil {
		c.imap = startIMAP(runCtx, c, inst)
	}
	c.cancel = cancel
	msg := "ready"
	if c.smtp != nil {
		msg = "listening on " + c.smtp.addr().String()
	}
	if err := inst.host.ReportStatus(ctx, sdk.Status{State: sdk.StateConnected, Message: msg}); err != nil {
		inst.log.Warn("reporting status", "error", err)
	}
	return nil
}

// Stop closes the listener, lets in-flight deliveries finish (until ctx
// ends), drops idle connections and stops IMAP polling.
func (c *Channel) Stop(ctx context.Context) error {
	c.mu.Lock()
	cancel, smtpR, imapP := c.cancel, c.smtp, c.imap
	c.cancel, c.smtp, c.imap = nil, nil, nil
	c.mu.Unlock()
	if cancel == nil {
		return nil
	}
	var err error
	if smtpR != nil {
		err = smtpR.stop(ctx)
	}
	cancel()
	if imapP != nil {
		imapP.wait(ctx)
	}
	return err
}

// SMTPAddr is the address the SMTP/LMTP listener is bound to (useful with
// port 0), or nil before Start.
func (c *Channel) SMTPAddr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.smtp == nil {
		return nil
	}
	return c.smtp.addr()
}

// HandleWebhook answers 404: the email channel receives no webhooks.
func (c *Channel) HandleWebhook(context.Context, *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
	return &sdk.WebhookResponse{
		Status: http.StatusNotFound,
		Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
		Body:   []byte("the email channel receives mail over SMTP, LMTP or IMAP, not webhooks\n"),
	}, nil
}

// current returns the configured instance, or nil before Configure.
func (c *Channel) current() *instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inst
}

// withSigner returns the configured instance with its plus-address signer,
// loading or creating the generated token secret on first use.
func (c *Channel) withSigner(ctx context.Context) (*instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inst == nil {
		return nil, errors.New("email: not configured")
	}
	return c.withSignerLocked(ctx)
}

func (c *Channel) withSignerLocked(ctx context.Context) (*instance, error) {
	if c.inst.signer != nil && c.inst.ids != nil {
		return c.inst, nil
	}
	inst := *c.inst
	if inst.signer == nil {
		secret, err := loadOrCreateSecret(ctx, inst.host, stateTokenSecret)
		if err != nil {
			return nil, err
		}
		if inst.signer, err = plusaddr.New(inst.cfg.Address, secret); err != nil {
			return nil, fmt.Errorf("email: %w", err)
		}
	}
	idSecret, err := loadOrCreateSecret(ctx, inst.host, stateMsgIDSecret)
	if err != nil {
		return nil, err
	}
	inst.ids = newMsgIDSigner(inst.cfg.Domain, idSecret)
	c.inst = &inst
	return c.inst, nil
}
