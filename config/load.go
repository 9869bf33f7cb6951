package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// Limits on values an operator may set.
const (
	maxAttachmentMB = 1024
	maxNameLen      = 63
)

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	extRE    = regexp.MustCompile(`^\.[a-z0-9][a-z0-9._+-]*$`)
)

// secretMark marks cty values that came from env().
type secretMark struct{}

// Options tune loading; the zero value reads the process environment and
// resolves relative paths against the working directory.
type Options struct {
	// LookupEnv replaces os.LookupEnv for env().
	LookupEnv func(name string) (string, bool)
	// BaseDir replaces the working directory for relative paths.
	BaseDir string
}

// Error is a configuration error carrying HCL diagnostics; its message names
// file, line and field.
type Error struct {
	Diags hcl.Diagnostics
}

// Error lists every diagnostic as "file:line,col: summary; detail".
func (e *Error) Error() string {
	var b strings.Builder
	for i, d := range e.Diags {
		if i > 0 {
			b.WriteString("\n")
		}
		if d.Subject != nil {
			fmt.Fprintf(&b, "%s:%d,%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		b.WriteString(d.Summary)
		if d.Detail != "" {
			b.WriteString("; ")
			b.WriteString(d.Detail)
		}
	}
	return b.String()
}

// Load reads and validates the configuration file at path.
func Load(path string) (*Config, error) {
	return LoadWith(path, Options{})
}

// LoadWith is Load with options.
func LoadWith(path string, opts Options) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config path: %w", err)
	}
	cfg, err := Parse(src, path, opts)
	if err != nil {
		return nil, err
	}
	cfg.Path = abs
	return cfg, nil
}

// Parse parses and validates configuration source; filename is used in
// error messages only.
func Parse(src []byte, filename string, opts Options) (*Config, error) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if opts.BaseDir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("working directory: %w", err)
		}
		opts.BaseDir = wd
	}
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, &Error{Diags: diags}
	}
	l := &loader{opts: opts, ctx: evalContext(opts.LookupEnv)}
	cfg := l.root(file.Body)
	if l.diags.HasErrors() {
		return nil, &Error{Diags: l.diags}
	}
	return cfg, nil
}

func evalContext(lookup func(string) (string, bool)) *hcl.EvalContext {
	env := function.New(&function.Spec{
		Description: "Reads an environment variable; the optional second argument is the default.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		VarParam:    &function.Parameter{Name: "default", Type: cty.String},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if len(args) > 2 {
				return cty.NilVal, errors.New(`env takes a name and at most one default: env("NAME") or env("NAME", "default")`)
			}
			name := args[0].AsString()
			if v, ok := lookup(name); ok {
				return cty.StringVal(v).Mark(secretMark{}), nil
			}
			if len(args) == 2 {
				return args[1].Mark(secretMark{}), nil
			}
			return cty.NilVal, fmt.Errorf("environment variable %q is not set", name)
		},
	})
	return &hcl.EvalContext{Functions: map[string]function.Function{"env": env}}
}

type loader struct {
	opts  Options
	ctx   *hcl.EvalContext
	diags hcl.Diagnostics
}

func (l *loader) errorf(rng hcl.Range, summary, format string, args ...any) {
	r := rng
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  &r,
	})
}

var rootSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "data_dir"}, {Name: "plugin_dir"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "http"}, {Type: "tickets"}, {Type: "outbox"}, {Type: "rate_limit"}, {Type: "outgoing_webhooks"},
		{Type: "channel", LabelNames: []string{"name"}},
	},
}

func (l *loader) root(body hcl.Body) *Config {
	content, diags := body.Content(rootSchema)
	l.diags = append(l.diags, diags...)
	if content == nil {
		return nil
	}
	cfg := &Config{
		DataDir:   DefaultDataDir,
		PluginDir: DefaultPluginDir,
		HTTP: HTTP{
			Listen:          DefaultListen,
			MaxWebhookBytes: DefaultMaxWebhookBytes,
			MaxBodyBytes:    DefaultMaxBodyBytes,

			BodyReadTimeout:    DefaultBodyReadTimeout,
			UploadReadTimeout:  DefaultUploadReadTimeout,
			MaxWebhookInFlight: DefaultMaxWebhookInFlight,
			MaxStreamsPerToken: DefaultMaxStreamsPerToken,
			StreamWriteTimeout: DefaultStreamWriteTimeout,
			MaxFailedAuth:      DefaultMaxFailedAuth,
		},
		Tickets:   Tickets{AutoCloseAfter: DefaultAutoCloseAfter},
		Outbox:    Outbox{MaxAttempts: DefaultMaxAttempts, MaxBackoff: DefaultMaxBackoff},
		RateLimit: RateLimit{RequestsPerMinute: DefaultRateLimitPerMinute, Burst: DefaultRateLimitBurst},
	}
	l.str(content.Attributes["data_dir"], "data_dir", &cfg.DataDir, true)
	l.str(content.Attributes["plugin_dir"], "plugin_dir", &cfg.PluginDir, true)
	cfg.DataDir = l.path(cfg.DataDir)
	cfg.PluginDir = l.path(cfg.PluginDir)

	seenBlock := map[string]*hcl.Block{}
	seenChannel := map[string]*hcl.Block{}
	for _, blk := range content.Blocks {
		if blk.Type != "channel" {
			if prev, ok := seenBlock[blk.Type]; ok {
				l.errorf(blk.DefRange, "Duplicate "+blk.Type+" block",
					"only one %s block is allowed; the first one is at line %d", blk.Type, prev.DefRange.Start.Line)
				continue
			}
			seenBlock[blk.Type] = blk
		}
		switch blk.Type {
		case "http":
			l.http(blk.Body, &cfg.HTTP)
		case "tickets":
			l.tickets(blk.Body, &cfg.Tickets)
		case "outbox":
			l.outbox(blk.Body, &cfg.Outbox)
		case "rate_limit":
			l.rateLimit(blk.Body, &cfg.RateLimit)
		case "outgoing_webhooks":
			l.outgoingWebhooks(blk.Body, &cfg.OutgoingWebhooks)
		case "channel":
			name := blk.Labels[0]
			rng := blk.LabelRanges[0]
			if !validName(name) {
				l.errorf(rng, "Invalid channel name",
					"channel name %q must be 1-%d characters of a-z, 0-9, '-' or '_', starting with a letter or digit (it is used in URLs: /hooks/<name>)", name, maxNameLen)
				continue
			}
			if prev, ok := seenChannel[name]; ok {
				l.errorf(rng, "Duplicate channel name",
					"channel %q is already defined at line %d", name, prev.DefRange.Start.Line)
				continue
			}
			seenChannel[name] = blk
			if ch, ok := l.channel(name, blk); ok {
				cfg.Channels = append(cfg.Channels, ch)
			}
		}
	}
	return cfg
}

func validName(s string) bool {
	return len(s) <= maxNameLen && nameRE.MatchString(s)
}

func (l *loader) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(l.opts.BaseDir, p)
}

var httpSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "listen"}, {Name: "public_url"}, {Name: "max_webhook_bytes"}, {Name: "max_body_bytes"},
	{Name: "body_read_timeout"}, {Name: "upload_read_timeout"}, {Name: "max_webhook_in_flight"},
	{Name: "max_streams_per_token"}, {Name: "stream_write_timeout"}, {Name: "max_failed_auth"},
	{Name: "trusted_proxies"},
}}

func (l *loader) http(body hcl.Body, h *HTTP) {
	content, diags := body.Content(httpSchema)
	l.diags = append(l.diags, diags...)
	if content == nil {
		return
	}
	l.str(content.Attributes["listen"], "http.listen", &h.Listen, true)
	if a := content.Attributes["public_url"]; a != nil && l.str(a, "http.public_url", &h.PublicURL, false) && h.PublicURL != "" {
		u, err := url.Parse(h.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			l.errorf(a.Expr.Range(), "Invalid http.public_url", "public_url must be an absolute http:// or https:// URL such as \"https://help.acme.test\"")
		}
		h.PublicURL = strings.TrimRight(h.PublicURL, "/")
	}
	l.positive(content.Attributes["max_webhook_bytes"], "http.max_webhook_bytes", &h.MaxWebhookBytes, 1<<30)
	l.positive(content.Attributes["max_body_bytes"], "http.max_body_bytes", &h.MaxBodyBytes, 1<<30)
	l.duration(content.Attributes["body_read_timeout"], "http.body_read_timeout", &h.BodyReadTimeout)
	l.duration(content.Attributes["upload_read_timeout"], "http.upload_read_timeout", &h.UploadReadTimeout)
	l.duration(content.Attributes["stream_write_timeout"], "http.stream_write_timeout", &h.StreamWriteTimeout)
	var n int64
	if l.positive(content.Attributes["max_webhook_in_flight"], "http.max_webhook_in_flight", &n, 100000) {
		h.MaxWebhookInFlight = int(n)
	}
	if l.positive(content.Attributes["max_streams_per_token"], "http.max_streams_per_token", &n, 10000) {
		h.MaxStreamsPerToken = int(n)
	}
	if l.positive(content.Attributes["max_failed_auth"], "http.max_failed_auth", &n, 100000) {
		h.MaxFailedAuth = int(n)
	}
	if ps, ok := l.prefixes(content.Attributes["trusted_proxies"], "http.trusted_proxies"); ok {
		h.TrustedProxies = ps
	}
}

var outgoingWebhooksSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "allow_networks"}}}

func (l *loader) outgoingWebhooks(body hcl.Body, o *OutgoingWebhooks) {
	content, diags := body.Content(outgoingWebhooksSchema)
	l.diags = append(l.diags, diags...)
	if content == nil {
		return
	}
	if ps, ok := l.prefixes(content.Attributes["allow_networks"], "outgoing_webhooks.allow_networks"); ok {
		o.AllowNetworks = ps
	}
}

// prefixes reads a list of networks in CIDR notation ("10.0.0.0/8",
// "::1/128"); a bare address means that address alone.
func (l *loader) prefixes(a *hcl.Attribute, field string) ([]netip.Prefix, bool) {
	if a == nil {
		return nil, false
	}
	v, ok := l.value(a, field)
	if !ok {
		return nil, false
	}
	if v.IsNull() || !(v.Type().IsListType() || v.Type().IsTupleType() || v.Type().IsSetType()) {
		l.errorf(a.Expr.Range(), "Invalid "+lastField(field), "%s must be a list of networks such as [\"127.0.0.1/32\", \"10.0.0.0/8\"]", field)
		return nil, false
	}
	out := []netip.Prefix{}
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() || e.Type() != cty.String {
			l.errorf(a.Expr.Range(), "Invalid "+lastField(field), "%s must contain only strings", field)
			return nil, false
		}
		s := strings.TrimSpace(e.AsString())
		p, err := netip.ParsePrefix(s)
		if err != nil {
			addr, aerr := netip.ParseAddr(s)
			if aerr != nil {
				l.errorf(a.Expr.Range(), "Invalid "+lastField(field), "%s: %q is not a network in CIDR notation such as \"10.0.0.0/8\" or an IP address", field, s)
				return nil, false
			}
			addr = addr.Unmap()
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out, true
}

var rateLimitSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "requests_per_minute"}, {Name: "burst"}}}

// maxRateLimit bounds both rate limit settings.
const maxRateLimit = 1_000_000

func (l *loader) rateLimit(body hcl.Body, rl *RateLimit) {
	content, diags := body.Content(rateLimitSchema)
	l.diags = append(l.diags, diags...)
	if content == nil {
		return
	}
	var n int64
	if a := content.Attributes["requests_per_minute"]; a != nil {
		// 0 is allowed here (the limit is off); positive() refuses it.
		if v, ok := l.value(a, "rate_limit.requests_per_minute"); ok && v.Type() == cty.Number && !v.IsNull() && v.AsBigFloat().Sign() == 0 {
			rl.RequestsPerMinute = 0
		} else if l.positive(a, "rate_limit.requests_per_minute", &n, maxRateLimit) {
			rl.RequestsPerMinute = int(n)
		}
	}
	if l.positive(content.Attributes["burst"], "rate_limit.burst", &n, maxRateLimit) {
		rl.Burst = int(n)
	}
}

var ticketsSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "auto_close_after"}}}

func (l *loader) tickets(body hcl.Body, t *Tickets) {
	content, diags := body.Content(ticketsSchema)
	l.diags = append(l.diags, diags...)
	if content == nil {
		return
	}
	l.duration(content.Attributes["auto_close_after"], "tickets.auto_close_after", &t.AutoCloseAfter)
}

var outboxSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "max_attempts"}, {Name: "max_backoff"}, {Name: "workers"}, {Name: "channel_workers"}}}

func (l *loader) outbox(body hcl.Body, o *Outbox) {
	content, diags := body.Content(outboxSchema)
	l.diags = append(l.diags, diags...)
	if content == nil {
		return
	}
	var n int64
	if l.positive(content.Attributes["max_attempts"], "outbox.max_attempts", &n, 1000) {
		o.MaxAttempts = int(n)
	}
	l.duration(content.Attributes["max_backoff"], "outbox.max_backoff", &o.MaxBackoff)
	if l.positive(content.Attributes["workers"], "outbox.workers", &n, 1024) {
		o.Workers = int(n)
	}
	if a := content.Attributes["channel_workers"]; l.positive(a, "outbox.channel_workers", &n, 1024) {
		workers := o.Workers
		if workers == 0 {
			workers = DefaultOutboxWorkers
		}
		if int(n) > workers {
			l.errorf(a.Expr.Range(), "Invalid channel_workers", "outbox.channel_workers (%d) must not exceed outbox.workers (%d)", n, workers)
		} else {
			o.ChannelWorkers = int(n)
		}
	}
}

var channelSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "plugin", Required: true}, {Name: "command"}, {Name: "sha256"}, {Name: "brand"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "attachments"}, {Type: "config"}},
}

var attachmentsSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "allow"}, {Name: "max_size_mb"}}}

func (l *loader) channel(name string, blk *hcl.Block) (Channel, bool) {
	before := len(l.diags.Errs())
	ch := Channel{
		Name: name,
		Line: blk.DefRange.Start.Line,
		Attachments: AttachmentPolicy{
			Allow:    append([]string(nil), DefaultAttachmentAllow...),
			MaxBytes: DefaultMaxAttachmentMB << 20,
		},
		Config:   json.RawMessage("{}"),
		redacted: json.RawMessage("{}"),
	}
	field := func(f string) string { return fmt.Sprintf("channel %q: %s", name, f) }
	content, diags := blk.Body.Content(channelSchema)
	l.diags = append(l.diags, diags...)
	if content == nil {
		return ch, false
	}
	if a := content.Attributes["plugin"]; a != nil && l.str(a, field("plugin"), &ch.Plugin, true) && !validName(ch.Plugin) {
		l.errorf(a.Expr.Range(), "Invalid plugin kind",
			"%s: the plugin kind must be 1-%d characters of a-z, 0-9, '-' or '_' (the binary is patchbay-plugin-<kind>)", field("plugin"), maxNameLen)
	}
	if a := content.Attributes["command"]; a != nil && l.str(a, field("command"), &ch.Command, true) {
		ch.Command = l.path(ch.Command)
	}
	if a := content.Attributes["sha256"]; a != nil && l.str(a, field("sha256"), &ch.SHA256, false) {
		ch.SHA256 = strings.ToLower(strings.TrimSpace(ch.SHA256))
		if !sha256RE.MatchString(ch.SHA256) {
			l.errorf(a.Expr.Range(), "Invalid sha256", "%s: must be 64 hexadecimal characters (sha256sum of the plugin binary)", field("sha256"))
		}
	}
	l.str(content.Attributes["brand"], field("brand"), &ch.Brand, false)

	var seenAtt, seenCfg *hcl.Block
	for _, b := range content.Blocks {
		switch b.Type {
		case "attachments":
			if seenAtt != nil {
				l.errorf(b.DefRange, "Duplicate attachments block", "%s: only one attachments block is allowed (first at line %d)", field("attachments"), seenAtt.DefRange.Start.Line)
				continue
			}
			seenAtt = b
			l.attachments(b.Body, field("attachments"), &ch.Attachments)
		case "config":
			if seenCfg != nil {
				l.errorf(b.DefRange, "Duplicate config block", "%s: only one config block is allowed (first at line %d)", field("config"), seenCfg.DefRange.Start.Line)
				continue
			}
			seenCfg = b
			real, red, secrets, ok := l.configBody(b.Body, "")
			if ok {
				ch.Config = mustJSON(real)
				ch.redacted = mustJSON(red)
				ch.SecretFields = secrets
			}
		}
	}
	return ch, len(l.diags.Errs()) == before
}

func (l *loader) attachments(body hcl.Body, field string, p *AttachmentPolicy) {
	content, diags := body.Content(attachmentsSchema)
	l.diags = append(l.diags, diags...)
	if content == nil {
		return
	}
	if a := content.Attributes["allow"]; a != nil {
		v, ok := l.value(a, field+".allow")
		if ok {
			if !(v.Type().IsListType() || v.Type().IsTupleType() || v.Type().IsSetType()) || v.IsNull() {
				l.errorf(a.Expr.Range(), "Invalid attachments.allow", "%s.allow must be a list of extensions such as [\".pdf\", \".png\"]", field)
			} else {
				allow := []string{}
				for it := v.ElementIterator(); it.Next(); {
					idx, e := it.Element()
					if e.IsNull() || e.Type() != cty.String {
						l.errorf(a.Expr.Range(), "Invalid attachments.allow", "%s.allow must contain only strings", field)
						return
					}
					ext := strings.ToLower(strings.TrimSpace(e.AsString()))
					if !extRE.MatchString(ext) {
						l.errorf(a.Expr.Range(), "Invalid attachments.allow", "%s.allow[%s]: not an extension; write it with the dot, e.g. \".pdf\"", field, idx.AsBigFloat().String())
						return
					}
					allow = append(allow, ext)
				}
				p.Allow = allow
			}
		}
	}
	var mb int64
	if l.positive(content.Attributes["max_size_mb"], field+".max_size_mb", &mb, maxAttachmentMB) {
		p.MaxBytes = mb << 20
	}
}

// value evaluates an attribute and strips the secret marks.
func (l *loader) value(a *hcl.Attribute, field string) (cty.Value, bool) {
	v, diags := a.Expr.Value(l.ctx)
	if diags.HasErrors() {
		for _, d := range diags {
			if d.Detail != "" {
				d.Detail = field + ": " + d.Detail
			}
		}
		l.diags = append(l.diags, diags...)
		return cty.NilVal, false
	}
	v, _ = v.UnmarkDeep()
	if !v.IsWhollyKnown() {
		l.errorf(a.Expr.Range(), "Invalid value", "%s: the value must be known when the file is loaded", field)
		return cty.NilVal, false
	}
	return v, true
}

func (l *loader) str(a *hcl.Attribute, field string, dst *string, nonEmpty bool) bool {
	if a == nil {
		return false
	}
	v, ok := l.value(a, field)
	if !ok {
		return false
	}
	if v.IsNull() || v.Type() != cty.String {
		l.errorf(a.Expr.Range(), "Invalid "+lastField(field), "%s must be a string", field)
		return false
	}
	s := v.AsString()
	if nonEmpty && strings.TrimSpace(s) == "" {
		l.errorf(a.Expr.Range(), "Invalid "+lastField(field), "%s must not be empty", field)
		return false
	}
	*dst = s
	return true
}

func (l *loader) positive(a *hcl.Attribute, field string, dst *int64, max int64) bool {
	if a == nil {
		return false
	}
	v, ok := l.value(a, field)
	if !ok {
		return false
	}
	if v.IsNull() || v.Type() != cty.Number {
		l.errorf(a.Expr.Range(), "Invalid "+lastField(field), "%s must be a number", field)
		return false
	}
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		l.errorf(a.Expr.Range(), "Invalid "+lastField(field), "%s must be a whole number", field)
		return false
	}
	n, acc := bf.Int64()
	if acc != big.Exact || n <= 0 || n > max {
		l.errorf(a.Expr.Range(), "Invalid "+lastField(field), "%s must be between 1 and %d", field, max)
		return false
	}
	*dst = n
	return true
}

func (l *loader) duration(a *hcl.Attribute, field string, dst *time.Duration) {
	var s string
	if !l.str(a, field, &s, true) {
		return
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		l.errorf(a.Expr.Range(), "Invalid "+lastField(field), "%s must be a positive duration such as \"96h\" or \"10m\"", field)
		return
	}
	*dst = d
}

func lastField(field string) string {
	if i := strings.LastIndex(field, ": "); i >= 0 {
		field = field[i+2:]
	}
	return field
}

// configBody turns a plugin's config block into JSON: attributes become
// keys; a nested block `name { … }` becomes an object, repeated blocks of
// one type become a list of objects, and a labelled block `name "x" { … }`
// becomes {"name": {"x": {…}}}. It returns the real value, the redacted
// value and the dotted paths of secret values.
func (l *loader) configBody(body hcl.Body, prefix string) (real, red map[string]any, secrets []string, ok bool) {
	sb, isSyntax := body.(*hclsyntax.Body)
	if !isSyntax {
		l.errorf(body.MissingItemRange(), "Unsupported config syntax", "the config block must be written in HCL native syntax")
		return nil, nil, nil, false
	}
	ok = true
	real, red = map[string]any{}, map[string]any{}
	for name, a := range sb.Attributes {
		path := prefix + name
		value, redacted, secret, attrOK := l.configAttribute(a, path)
		if !attrOK {
			ok = false
			continue
		}
		real[name], red[name] = value, redacted
		if secret {
			secrets = append(secrets, path)
		}
	}
	blockSecrets, blocksOK := l.configBlocks(sb, prefix, real, red)
	return real, red, append(secrets, blockSecrets...), ok && blocksOK
}

// configAttribute evaluates one attribute of a config block (at the dotted
// path): its JSON value, the value shown when redacted, and whether it is
// a secret. It reports false, with the error recorded, if the attribute
// has no known value.
func (l *loader) configAttribute(a *hclsyntax.Attribute, path string) (value json.RawMessage, redacted any, secret, ok bool) {
	v, diags := a.Expr.Value(l.ctx)
	if diags.HasErrors() {
		for _, d := range diags {
			if d.Detail != "" {
				d.Detail = "config." + path + ": " + d.Detail
			}
		}
		l.diags = append(l.diags, diags...)
		return nil, nil, false, false
	}
	secret = v.ContainsMarked()
	v, _ = v.UnmarkDeep()
	if !v.IsWhollyKnown() {
		l.errorf(a.Expr.Range(), "Invalid value", "config.%s: the value must be known when the file is loaded", path)
		return nil, nil, false, false
	}
	raw, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		l.errorf(a.Expr.Range(), "Invalid value", "config.%s: %v", path, err)
		return nil, nil, false, false
	}
	if secret {
		return raw, RedactedValue, true, true
	}
	return raw, redactURLs(v), false, true
}

// configBlocks adds the nested blocks of a config block to real and red:
// unlabelled blocks of one type become an object, or a list when
// repeated; labelled blocks become nested objects keyed by their labels.
// It returns the dotted paths of the secrets inside them, and false if any
// block was in error.
func (l *loader) configBlocks(sb *hclsyntax.Body, prefix string, real, red map[string]any) (secrets []string, ok bool) {
	ok = true
	lists := map[string][2][]any{}
	firstLine := map[string]int{}
	labelCount := map[string]int{}
	var order []string
	for _, b := range sb.Blocks {
		key := prefix + b.Type
		if _, clash := sb.Attributes[b.Type]; clash {
			l.errorf(b.DefRange(), "Duplicate config key", "config.%s is set both as an attribute and as a block", key)
			ok = false
			continue
		}
		labelled := len(b.Labels) > 0
		if line, seen := firstLine[b.Type]; seen && labelCount[b.Type] != len(b.Labels) {
			l.errorf(b.DefRange(), "Inconsistent config blocks", "config.%s blocks must all have the same number of labels (first at line %d)", key, line)
			ok = false
			continue
		} else if !seen {
			firstLine[b.Type] = b.DefRange().Start.Line
			labelCount[b.Type] = len(b.Labels)
			if labelled {
				real[b.Type], red[b.Type] = map[string]any{}, map[string]any{}
			} else {
				lists[b.Type] = [2][]any{}
				order = append(order, b.Type)
			}
		}
		subPrefix := key + "." + strings.Join(b.Labels, ".")
		if labelled {
			subPrefix += "."
		}
		r, rd, s, subOK := l.configBody(b.Body, subPrefix)
		if !subOK {
			ok = false
			continue
		}
		secrets = append(secrets, s...)
		if !labelled {
			pair := lists[b.Type]
			lists[b.Type] = [2][]any{append(pair[0], r), append(pair[1], rd)}
			continue
		}
		if !placeLabelled(real[b.Type].(map[string]any), red[b.Type].(map[string]any), b.Labels, r, rd) {
			l.errorf(b.DefRange(), "Duplicate config block", "config.%s is defined twice", strings.TrimSuffix(subPrefix, "."))
			ok = false
		}
	}
	for _, typ := range order {
		pair := lists[typ]
		if len(pair[0]) == 1 {
			real[typ], red[typ] = pair[0][0], pair[1][0]
		} else {
			real[typ], red[typ] = pair[0], pair[1]
		}
	}
	return secrets, ok
}

// placeLabelled puts a labelled block's real and redacted values under its
// labels in rm and rdm, one level of objects per label, creating the levels
// on the way. It reports false if a block with these labels is there
// already.
func placeLabelled(rm, rdm map[string]any, labels []string, r, rd map[string]any) bool {
	last := len(labels) - 1
	for _, lab := range labels[:last] {
		next, isMap := rm[lab].(map[string]any)
		if !isMap {
			next = map[string]any{}
			rm[lab], rdm[lab] = next, map[string]any{}
		}
		nextRed, _ := rdm[lab].(map[string]any)
		rm, rdm = next, nextRed
	}
	if _, dup := rm[labels[last]]; dup {
		return false
	}
	rm[labels[last]], rdm[labels[last]] = r, rd
	return true
}

// secretName reports config keys that name a secret (bot_token,
// signing_secret, password, api_key…): Redacted hides their literal string
// values too, not only values that came from env().
func secretName(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"secret", "token", "password", "passwd", "apikey", "api_key", "private_key", "credential"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// redactURLs returns v as a JSON-ready value with passwords in URL strings
// masked (smtp://user:pass@host → smtp://user:(redacted)@host).
func redactURLs(v cty.Value) any {
	raw, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return RedactedValue
	}
	var x any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&x); err != nil {
		return RedactedValue
	}
	return maskURLs(x)
}

func maskURLs(x any) any {
	switch t := x.(type) {
	case string:
		if !strings.Contains(t, "://") || !strings.Contains(t, "@") {
			return t
		}
		u, err := url.Parse(t)
		if err != nil || u.User == nil {
			return t
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), RedactedValue)
			return strings.Replace(u.String(), url.QueryEscape(RedactedValue), RedactedValue, 1)
		}
		return t
	case []any:
		for i := range t {
			t[i] = maskURLs(t[i])
		}
		return t
	case map[string]any:
		for k := range t {
			t[k] = maskURLs(t[k])
		}
		return t
	default:
		return x
	}
}

func mustJSON(v map[string]any) json.RawMessage {
	raw, err := json.Marshal(v)
	if err != nil {
		// Values come from ctyjson and encoding/json; they always marshal.
		panic(fmt.Sprintf("config: marshal JSON: %v", err))
	}
	return raw
}
