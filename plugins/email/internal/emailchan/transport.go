package emailchan

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/patchbayhq/patchbay/sdk"
)

const smtpTimeout = 30 * time.Second

// transport sends one composed message.
type transport interface {
	send(ctx context.Context, c *composed) error
}

func newTransport(cfg *config) (transport, error) {
	switch cfg.Outbound.Kind {
	case "dir":
		if err := os.MkdirAll(cfg.Outbound.Dir, 0o750); err != nil {
			return nil, fmt.Errorf("email: creating the outbound directory: %w", err)
		}
		return dirTransport{dir: cfg.Outbound.Dir}, nil
	case "smtp":
		return smtpTransport{spec: cfg.Outbound}, nil
	default:
		return noTransport{}, nil
	}
}

// Send composes and sends one public reply. The result's ExternalID is our
// Message-ID (without angle brackets), which the core records so that the
// customer's answer threads back by In-Reply-To/References.
func (c *Channel) Send(ctx context.Context, out *sdk.OutboundMessage) (*sdk.SendResult, error) {
	inst, err := c.withSigner(ctx)
	if err != nil {
		return nil, sdk.Retryable("not_ready", err, 0)
	}
	host, sender, log := inst.host, inst.sender, inst.log
	msg, err := compose(ctx, inst.cfg, inst.signer, inst.ids, out)
	if err != nil {
		return nil, err
	}
	if err := sender.send(ctx, msg); err != nil {
		var se *sdk.SendError
		if !errors.As(err, &se) {
			se = sdk.Retryable("send_failed", err, 0)
		}
		if se.Code == "smtp_535" {
			_ = host.ReportStatus(ctx, sdk.Status{State: sdk.StateAuthFailed, Message: "outbound SMTP: " + se.Message})
		}
		log.Warn("reply not sent", "ticket", out.TicketID, "comment", out.CommentID, "retryable", se.Retryable, "error", se.Error())
		return nil, se
	}
	log.Info("reply sent", "ticket", out.TicketID, "comment", out.CommentID, "message_id", msg.messageID, "auto_reply", out.AutoReply)
	return &sdk.SendResult{ExternalID: msg.messageID}, nil
}

// noTransport fails every send: no outbound was configured.
type noTransport struct{}

func (noTransport) send(context.Context, *composed) error {
	return sdk.Permanent("no_outbound", errors.New("the email channel has no outbound configured (set outbound = \"smtp://…\" or \"dir:PATH\")"))
}

// dirTransport writes each message as an .eml file. The file name comes
// from the Message-ID, so a retried reply overwrites its earlier file
// instead of adding a second one.
type dirTransport struct{ dir string }

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

func (t dirTransport) send(_ context.Context, c *composed) error {
	local, _, _ := strings.Cut(c.messageID, "@")
	name := unsafeFileChars.ReplaceAllString(local, "_") + ".eml"
	tmp, err := os.CreateTemp(t.dir, ".tmp-*.eml")
	if err != nil {
		return sdk.Retryable("write_failed", fmt.Errorf("creating a file in the outbound directory: %w", err), 0)
	}
	defer os.Remove(tmp.Name())
	if _, err := c.msg.WriteTo(tmp); err != nil {
		tmp.Close()
		return sdk.Retryable("write_failed", fmt.Errorf("writing the message: %w", err), 0)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return sdk.Retryable("write_failed", fmt.Errorf("syncing the message: %w", err), 0)
	}
	if err := tmp.Close(); err != nil {
		return sdk.Retryable("write_failed", fmt.Errorf("closing the message: %w", err), 0)
	}
	if err := os.Chmod(tmp.Name(), 0o640); err != nil {
		return sdk.Retryable("write_failed", err, 0)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(t.dir, name)); err != nil {
		return sdk.Retryable("write_failed", fmt.Errorf("moving the message into place: %w", err), 0)
	}
	return nil
}

// smtpTransport relays through an SMTP server: STARTTLS when offered for
// smtp://, implicit TLS for smtps://, authenticating when the URL has a
// user (never in plain text except to localhost).
type smtpTransport struct {
	spec outboundSpec
	// tlsConfig overrides the system TLS settings (tests trust their own
	// certificate with it); nil in production.
	tlsConfig *tls.Config
}

func (t smtpTransport) send(ctx context.Context, c *composed) error {
	opts := []gomail.Option{gomail.WithPort(t.spec.Port), gomail.WithTimeout(smtpTimeout)}
	switch {
	case t.spec.Implicit:
		opts = append(opts, gomail.WithSSL())
	case t.spec.TLS == "required":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case t.spec.TLS == "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if t.tlsConfig != nil {
		opts = append(opts, gomail.WithTLSConfig(t.tlsConfig))
	}
	if t.spec.Username != "" && t.spec.Auth != "none" {
		mech := map[string]gomail.SMTPAuthType{
			"auto": gomail.SMTPAuthAutoDiscover, "plain": gomail.SMTPAuthPlain, "login": gomail.SMTPAuthLogin,
			"cram-md5": gomail.SMTPAuthCramMD5, "scram-sha-256": gomail.SMTPAuthSCRAMSHA256,
		}[t.spec.Auth]
		if mech == "" {
			mech = gomail.SMTPAuthAutoDiscover
		}
		opts = append(opts, gomail.WithSMTPAuth(mech),
			gomail.WithUsername(t.spec.Username), gomail.WithPassword(t.spec.Password))
	}
	client, err := gomail.NewClient(t.spec.Host, opts...)
	if err != nil {
		return sdk.Permanent("invalid_outbound", err)
	}
	conn, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return classifySMTPError(fmt.Errorf("dial failed: %w", err))
	}
	defer func() { _ = client.CloseWithSMTPClient(conn) }()
	// An internationalized address (a non-ASCII local part, RFC 6531) can
	// only be sent through a relay that offers SMTPUTF8; go-mail then asks
	// for it in MAIL FROM. Without it the relay would refuse or mangle
	// the address: fail clearly instead.
	if needsSMTPUTF8(c.rcpt) || needsSMTPUTF8(c.from) {
		if ok, _ := conn.Extension("SMTPUTF8"); !ok {
			return sdk.Permanent("smtputf8_unsupported", fmt.Errorf("the address %q is not ASCII and the relay does not offer SMTPUTF8", c.rcpt))
		}
	}
	if err := client.SendWithSMTPClient(conn, c.msg); err != nil {
		return classifySMTPError(fmt.Errorf("send failed: %w", err))
	}
	return nil
}

// needsSMTPUTF8 reports whether an address has non-ASCII characters.
func needsSMTPUTF8(addr string) bool {
	for i := 0; i < len(addr); i++ {
		if addr[i] >= 0x80 {
			return true
		}
	}
	return false
}

var replyCodeRE = regexp.MustCompile(`\b([2-5][0-9][0-9])[ -]`)

// classifySMTPError maps a send failure to a SendError: 4xx replies and
// connection failures are retried, 5xx replies are permanent and keep the
// server's reply text for the agent.
func classifySMTPError(err error) *sdk.SendError {
	code, text := smtpReply(err)
	switch {
	case code >= 500:
		return sdk.Permanent("smtp_"+strconv.Itoa(code), errors.New(text))
	case code >= 400:
		return sdk.Retryable("smtp_"+strconv.Itoa(code), errors.New(text), 0)
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		switch se.Reason {
		case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
			return sdk.Permanent("invalid_message", err)
		}
	}
	return sdk.Retryable("smtp_unavailable", err, 0)
}

// smtpReply finds the SMTP reply code and text in a go-mail error.
func smtpReply(err error) (int, string) {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return tp.Code, strconv.Itoa(tp.Code) + " " + tp.Msg
	}
	var se *gomail.SendError
	if errors.As(err, &se) && se.ErrorCode() != 0 {
		// go-mail renders the reply as `550 "5.1.1 No such user", affected …`.
		code := strconv.Itoa(se.ErrorCode())
		msg := se.Error()
		if i := strings.Index(msg, code+" "); i >= 0 {
			msg = msg[i+len(code)+1:]
		}
		if i := strings.Index(msg, ", affected"); i >= 0 {
			msg = msg[:i]
		}
		if u, err := strconv.Unquote(msg); err == nil {
			msg = u
		}
		return se.ErrorCode(), code + " " + strings.TrimSpace(msg)
	}
	msg := err.Error()
	if m := replyCodeRE.FindStringSubmatchIndex(msg); m != nil && m[2] == strings.IndexAny(msg, "0123456789") {
		code, _ := strconv.Atoi(msg[m[2]:m[3]])
		return code, msg[m[2]:]
	}
	return 0, ""
}
