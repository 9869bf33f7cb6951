package emailchan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/patchbayhq/patchbay/sdk"
)

// Defaults of the config block.
const (
	DefaultMaxMessageMB     = 25
	DefaultIMAPMailbox      = "INBOX"
	DefaultIMAPPollInterval = time.Minute
	minPollInterval         = 100 * time.Millisecond
	maxMessageMBLimit       = 1024
	minTokenSecretLen       = 16
)

// rawConfig is the config block as the operator writes it.
type rawConfig struct {
	Address      string          `json:"address"`
	FromName     string          `json:"from_name"`
	SMTPListen   string          `json:"smtp_listen"`
	LMTP         bool            `json:"lmtp"`
	MaxMessageMB *int            `json:"max_message_mb"`
	IMAP         json.RawMessage `json:"imap"`
	Outbound     string          `json:"outbound"`
	TokenSecret  string          `json:"token_secret"`
	// TrustedRelays are authserv-ids whose Authentication-Results header
	// (the topmost one) the channel believes.
	TrustedRelays []string `json:"trusted_relays"`
}

type rawIMAP struct {
	URL          string `json:"url"`
	Username     string `json:"username"`
	Password     string `json:"password"`
	Mailbox      string `json:"mailbox"`
	PollInterval string `json:"poll_interval"`
}

// config is the validated configuration.
type config struct {
	Address     string // lower-cased bare address
	FromName    string
	Domain      string
	Listen      listenSpec
	LMTP        bool
	MaxBytes    int64
	IMAP        *imapConfig
	Outbound    outboundSpec
	TokenSecret string
	// TrustedRelays are the lower-cased authserv-ids of the relays whose
	// Authentication-Results header verifies a sender (verifiedAuthor).
	TrustedRelays []string
}

type listenSpec struct {
	Network string // "tcp" or "unix"; "" when not listening
	Addr    string
}

type imapConfig struct {
	Host         string // host:port
	ServerName   string // for TLS verification
	TLS          string // "implicit", "starttls", "none"
	Username     string
	Password     string
	Mailbox      string
	PollInterval time.Duration
}

// outboundSpec is where replies go.
type outboundSpec struct {
	Kind     string // "", "dir", "smtp"
	Dir      string
	Host     string
	Port     int
	Implicit bool // smtps://
	Username string
	Password string
	// Auth is the SMTP AUTH mechanism: "auto" (the strongest the server
	// offers; PLAIN and LOGIN only over TLS), "plain", "login",
	// "cram-md5", "scram-sha-256" or "none".
	Auth string
	// TLS is the STARTTLS policy of smtp://: "opportunistic" (default),
	// "required" or "none".
	TLS string
}

// parseConfig decodes and validates the config block, reporting every bad
// field at once.
func parseConfig(req sdk.ConfigureRequest) (*config, error) {
	var raw rawConfig
	if err := req.Decode(&raw); err != nil {
		return nil, err
	}
	var errs sdk.FieldErrors
	bad := func(field, format string, args ...any) {
		errs = append(errs, sdk.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	cfg := &config{FromName: strings.TrimSpace(raw.FromName), LMTP: raw.LMTP, TokenSecret: raw.TokenSecret}

	switch addr := strings.TrimSpace(raw.Address); {
	case addr == "":
		bad("address", "is required (the support address, e.g. support@example.com)")
	default:
		a, err := mail.ParseAddress(addr)
		if err != nil {
			bad("address", "is not an email address: %v", err)
			break
		}
		local, domain, _ := strings.Cut(strings.ToLower(a.Address), "@")
		if strings.Contains(local, "+") {
			bad("address", "must not contain \"+\": plus-addresses of it are used for ticket replies")
			break
		}
		cfg.Address, cfg.Domain = local+"@"+domain, domain
		if cfg.FromName == "" {
			cfg.FromName = a.Name
		}
	}

	if l := strings.TrimSpace(raw.SMTPListen); l != "" {
		if path, ok := strings.CutPrefix(l, "unix:"); ok {
			if path == "" {
				bad("smtp_listen", "unix: needs a socket path")
			}
			cfg.Listen = listenSpec{Network: "unix", Addr: path}
		} else if _, port, err := net.SplitHostPort(l); err != nil {
			bad("smtp_listen", "must be host:port (e.g. 127.0.0.1:2525) or unix:/path: %v", err)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			bad("smtp_listen", "port %q is not a number between 0 and 65535", port)
		} else {
			cfg.Listen = listenSpec{Network: "tcp", Addr: l}
		}
	} else if raw.LMTP {
		bad("lmtp", "needs smtp_listen (the LMTP socket or host:port)")
	}

	cfg.MaxBytes = DefaultMaxMessageMB << 20
	if raw.MaxMessageMB != nil {
		if n := *raw.MaxMessageMB; n < 1 || n > maxMessageMBLimit {
			bad("max_message_mb", "must be between 1 and %d", maxMessageMBLimit)
		} else {
			cfg.MaxBytes = int64(n) << 20
		}
	}

	if len(bytes.TrimSpace(raw.IMAP)) > 0 && string(bytes.TrimSpace(raw.IMAP)) != "null" {
		ic, fe := parseIMAP(raw.IMAP)
		errs = append(errs, fe...)
		cfg.IMAP = ic
	}
	if cfg.Listen.Network == "" && cfg.IMAP == nil && len(errs) == 0 {
		bad("smtp_listen", "set smtp_listen or imap: the channel needs a way to receive mail")
	}

	if o := strings.TrimSpace(raw.Outbound); o != "" {
		spec, err := parseOutbound(o)
		if err != nil {
			bad("outbound", "%v", err)
		}
		cfg.Outbound = spec
	}

	for i, r := range raw.TrustedRelays {
		r = strings.ToLower(strings.TrimSpace(r))
		if r == "" || strings.ContainsAny(r, " \t;()\"") {
			bad(fmt.Sprintf("trusted_relays[%d]", i), "must be a relay's authserv-id (a host name such as mx.example.com)")
			continue
		}
		cfg.TrustedRelays = append(cfg.TrustedRelays, r)
	}

	if raw.TokenSecret != "" && len(raw.TokenSecret) < minTokenSecretLen {
		bad("token_secret", "must be at least %d characters", minTokenSecretLen)
	}

	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

// parseIMAP decodes the imap block, which the core may hand over as an
// object or (HCL blocks) as a list of one object.
func parseIMAP(data json.RawMessage) (*imapConfig, sdk.FieldErrors) {
	var errs sdk.FieldErrors
	bad := func(field, format string, args ...any) {
		errs = append(errs, sdk.FieldError{Field: "imap." + field, Message: fmt.Sprintf(format, args...)})
	}
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		var list []json.RawMessage
		if err := json.Unmarshal(data, &list); err != nil || len(list) != 1 {
			return nil, sdk.FieldErrors{{Field: "imap", Message: "must be one block"}}
		}
		data = list[0]
	}
	var raw rawIMAP
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			bad(te.Field, "must be a %s", te.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			bad(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown field")
		default:
			errs = append(errs, sdk.FieldError{Field: "imap", Message: "must be a block with url, username, password, mailbox"})
		}
		return nil, errs
	}
	ic := &imapConfig{Username: raw.Username, Password: raw.Password, Mailbox: raw.Mailbox, PollInterval: DefaultIMAPPollInterval}
	if ic.Mailbox == "" {
		ic.Mailbox = DefaultIMAPMailbox
	}
	if raw.URL == "" {
		bad("url", "is required (imaps://host:993, or imap://host:143 with STARTTLS)")
	} else if u, err := url.Parse(raw.URL); err != nil {
		bad("url", "is not a URL")
	} else {
		switch {
		case u.User != nil:
			bad("url", "must not contain credentials: use imap.username and imap.password")
		case u.Hostname() == "":
			bad("url", "needs a host")
		case u.Scheme == "imaps":
			ic.TLS = "implicit"
		case u.Scheme == "imap":
			ic.TLS = "starttls"
			switch t := u.Query().Get("tls"); t {
			case "", "starttls":
			case "none":
				ic.TLS = "none"
			default:
				bad("url", "tls=%q: use tls=starttls (the default) or tls=none", t)
			}
		default:
			bad("url", "scheme must be imaps or imap, not %q", u.Scheme)
		}
		port := u.Port()
		if port == "" {
			port = "993"
			if u.Scheme == "imap" {
				port = "143"
			}
		}
		ic.Host = net.JoinHostPort(u.Hostname(), port)
		ic.ServerName = u.Hostname()
	}
	if raw.Username == "" {
		bad("username", "is required")
	}
	if raw.Password == "" {
		bad("password", "is required")
	}
	if raw.PollInterval != "" {
		d, err := time.ParseDuration(raw.PollInterval)
		if err != nil || d < minPollInterval {
			bad("poll_interval", "must be a duration of at least %s, e.g. \"60s\"", minPollInterval)
		} else {
			ic.PollInterval = d
		}
	}
	return ic, errs
}

// parseOutbound parses the outbound setting. Its errors never contain the
// password.
func parseOutbound(s string) (outboundSpec, error) {
	if dir, ok := strings.CutPrefix(s, "dir:"); ok {
		if strings.TrimSpace(dir) == "" {
			return outboundSpec{}, errors.New("dir: needs a directory path, e.g. dir:./data/outbound-mail")
		}
		return outboundSpec{Kind: "dir", Dir: dir}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return outboundSpec{}, fmt.Errorf("%q is not dir:PATH or an smtp:// or smtps:// URL", redactURL(s))
	}
	spec := outboundSpec{Kind: "smtp", Host: u.Hostname()}
	switch u.Scheme {
	case "smtp":
		spec.Port = 587
	case "smtps":
		spec.Port, spec.Implicit = 465, true
	default:
		return outboundSpec{}, fmt.Errorf("%q: the scheme must be smtp, smtps or dir", redactURL(s))
	}
	if spec.Host == "" {
		return outboundSpec{}, fmt.Errorf("%q needs a host", redactURL(s))
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return outboundSpec{}, fmt.Errorf("%q: port must be between 1 and 65535", redactURL(s))
		}
		spec.Port = n
	}
	if u.User != nil {
		spec.Username = u.User.Username()
		spec.Password, _ = u.User.Password()
	}
	q := u.Query()
	for k := range q {
		if k != "auth" && k != "tls" {
			return outboundSpec{}, fmt.Errorf("unknown parameter %q (known: auth, tls)", k)
		}
	}
	spec.Auth, spec.TLS = "auto", "opportunistic"
	if a := strings.ToLower(q.Get("auth")); a != "" {
		switch a {
		case "auto", "plain", "login", "cram-md5", "scram-sha-256", "none":
			spec.Auth = a
		default:
			return outboundSpec{}, fmt.Errorf("auth=%q: use auto, plain, login, cram-md5, scram-sha-256 or none", a)
		}
	}
	if t := strings.ToLower(q.Get("tls")); t != "" {
		switch {
		case spec.Implicit:
			return outboundSpec{}, errors.New("tls= applies to smtp:// only; smtps:// always uses TLS")
		case t == "opportunistic" || t == "required" || t == "none":
			spec.TLS = t
		default:
			return outboundSpec{}, fmt.Errorf("tls=%q: use opportunistic, required or none", t)
		}
	}
	return spec, nil
}

// redactURL replaces the password of a URL (or anything that looks like
// user:password@ before a host) with "xxxxx".
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			return u.Redacted()
		}
		return s
	}
	// Unparsable: cut "scheme://user:pass@" by hand.
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if colon := strings.Index(rest[:at], ":"); colon >= 0 {
				return s[:i+3] + rest[:colon] + ":xxxxx" + rest[at:]
			}
		}
	}
	return s
}
