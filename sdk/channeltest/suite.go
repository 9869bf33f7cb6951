package channeltest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/patchbayhq/patchbay/sdk"
)

// Ack is how the provider was answered when it handed the plugin a message.
type Ack struct {
	// OK is a positive acknowledgement: HTTP 2xx, SMTP 250, a socket ack.
	OK bool
	// Retry is an answer that makes the provider try again later: HTTP 5xx
	// or 429, SMTP 4xx, no ack.
	Retry bool
	// Detail describes the answer in failure messages ("HTTP 503").
	Detail string
}

// Receiver makes a running, configured plugin receive one particular
// provider message the way the provider hands it over, and reports how the
// provider was answered. Calling it twice must hand over the same message
// twice (a provider's redelivery): same provider message id, freshly signed
// if signatures carry a timestamp.
//
// A webhook channel builds one with WebhookReceiver. Another channel does
// what its provider does: the email plugin's Receiver speaks SMTP to the
// plugin's listener and maps 250 to OK and 4xx to Retry. A Receiver that
// hands over asynchronously should wait until its fake provider saw the
// answer (for example the Socket Mode ack) before returning.
type Receiver func(t testing.TB, p *Plugin) Ack

// WebhookReceiver returns a Receiver that forwards the request built by
// build to the plugin's HandleWebhook. build is called for every delivery
// and must sign the request as the provider does.
func WebhookReceiver(build func(t testing.TB) *sdk.WebhookRequest) Receiver {
	return func(t testing.TB, p *Plugin) Ack {
		t.Helper()
		resp := p.WebhookRequest(t, build(t))
		return WebhookAck(resp.Status)
	}
}

// WebhookAck describes an HTTP status as a provider sees it.
func WebhookAck(status int) Ack {
	return Ack{
		OK:     status >= 200 && status < 300,
		Retry:  status >= 500 || status == http.StatusTooManyRequests,
		Detail: fmt.Sprintf("HTTP %d", status),
	}
}

// SendFailure is one way the provider refuses a send.
type SendFailure struct {
	// Name names the subtest ("rate_limited", "window_closed").
	Name string
	// Arrange makes the author's fake provider refuse the following sends
	// in this way, until t ends (restore it with t.Cleanup).
	Arrange func(t testing.TB)
	// Retryable is the SendError.Retryable the plugin must report.
	Retryable bool
	// Code, when set, is the SendError.Code the plugin must report.
	Code string
}

// InvalidConfig is a configuration the plugin must reject, naming Field.
type InvalidConfig struct {
	Name   string
	Config json.RawMessage
	// Field is the name the FieldError must carry.
	Field string
}

// Target describes a channel plugin to the conformance suite. Only New (or
// Binary) and Config are required; every other case runs when its fields
// are set, so a channel without webhooks (email over SMTP) leaves the
// webhook fields empty and gives a Receiver.
type Target struct {
	// New returns a fresh channel for one case, run in process through the
	// real gRPC boundary. Set New or Binary.
	New func() sdk.Channel
	// Binary is the path of a built plugin, launched as the core does.
	Binary string
	// Env is the binary's whole environment (nothing is inherited).
	Env []string

	// Config is a valid configuration (pointing at your fake provider).
	Config json.RawMessage
	// InvalidConfigs must each be rejected with a FieldError naming Field.
	// The suite also checks, on its own, that an empty configuration is
	// rejected when the manifest has required fields, that an unknown key
	// and a string field given a number are rejected, and that no field
	// error repeats a secret's value from Config.
	InvalidConfigs []InvalidConfig
	// Policy is the attachment policy sent with Configure (default:
	// DefaultPolicy, the core's).
	Policy *sdk.AttachmentPolicy
	// Start makes the suite call Start after Configure (receivers such as
	// an SMTP listener or a poller).
	Start bool

	// Inbound hands over one message (see Receiver). It enables the
	// delivery, redelivery and failing-core cases.
	Inbound Receiver
	// CheckDelivery, if set, checks the stored message of Inbound.
	CheckDelivery func(t testing.TB, d Delivery)
	// InboundWithAttachments hands over one message carrying the files in
	// WantFiles; the suite checks the core received exactly those bytes.
	InboundWithAttachments Receiver
	WantFiles              []File
	// BadSignature builds a provider request with a wrong signature. It
	// must be answered 401 and deliver nothing.
	BadSignature func(t testing.TB) *sdk.WebhookRequest

	// Reply is a reply your fake provider accepts. It enables the send
	// cases; Recipient and ConversationKey should name a known user.
	Reply func(t testing.TB) *sdk.OutboundMessage
	// CheckSent, if set, checks at the fake provider that Reply arrived.
	CheckSent func(t testing.TB, msg *sdk.OutboundMessage, res *sdk.SendResult)
	// CheckSentAttachment, if set (and the manifest says AttachmentsOut),
	// runs a send of Reply carrying file f stored in the core; it checks
	// at the fake provider that f's bytes arrived.
	CheckSentAttachment func(t testing.TB, res *sdk.SendResult, f File)
	// SendFailures are the provider failures and the SendError each must
	// give.
	SendFailures []SendFailure
}

var kindPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

var fieldTypes = map[string]bool{"string": true, "bool": true, "int": true, "duration": true, "object": true, "list": true}

// Run runs the conformance suite against tg, one subtest per case, each on
// a freshly started plugin.
func Run(t *testing.T, tg Target) {
	if (tg.New == nil) == (tg.Binary == "") {
		t.Fatal("channeltest: set exactly one of Target.New and Target.Binary")
	}
	if len(tg.Config) == 0 {
		t.Fatal("channeltest: Target.Config (a valid configuration) is required")
	}
	s := &suite{tg: tg}
	t.Run("describe", s.describe)
	t.Run("configure/valid", func(t *testing.T) { s.configured(t) })
	t.Run("configure/invalid", s.invalidConfig)
	if tg.Inbound != nil {
		t.Run("inbound/deliver", s.deliver)
		t.Run("inbound/redelivery_stored_once", s.redelivery)
		t.Run("inbound/core_failure_makes_provider_retry", s.coreFailure)
	}
	if tg.InboundWithAttachments != nil {
		t.Run("inbound/attachments", s.attachments)
	}
	if tg.BadSignature != nil {
		t.Run("inbound/bad_signature", s.badSignature)
	}
	t.Run("inbound/malformed_webhook", s.malformedWebhook)
	if tg.Reply != nil {
		t.Run("send/ok", s.sendOK)
		if tg.CheckSentAttachment != nil {
			t.Run("send/attachment", s.sendAttachment)
		}
	}
	for _, f := range tg.SendFailures {
		t.Run("send/failure/"+f.Name, func(t *testing.T) { s.sendFailure(t, f) })
	}
	t.Run("stop", s.stop)
}

type suite struct{ tg Target }

// start launches a fresh plugin with the target's policy.
func (s *suite) start(t *testing.T) *Plugin {
	t.Helper()
	var p *Plugin
	if s.tg.New != nil {
		p = New(t, s.tg.New())
	} else {
		p = Launch(t, s.tg.Binary, s.tg.Env...)
	}
	if s.tg.Policy != nil {
		p.Host.SetPolicy(*s.tg.Policy)
	}
	return p
}

// configured launches a plugin and configures (and starts) it.
func (s *suite) configured(t *testing.T) *Plugin {
	t.Helper()
	p := s.start(t)
	p.MustConfigure(t, s.tg.Config)
	if s.tg.Start {
		p.Start(t)
	}
	return p
}

func (s *suite) describe(t *testing.T) {
	p := s.start(t)
	m := p.Describe(t)
	if !kindPattern.MatchString(m.Kind) {
		t.Errorf("Manifest.Kind %q: want a lower-case name such as \"slack\" (the binary is patchbay-plugin-<kind>)", m.Kind)
	}
	if m.Version == "" {
		t.Error("Manifest.Version is empty")
	}
	if m.ProtocolVersion != sdk.ProtocolVersion {
		t.Errorf("Manifest.ProtocolVersion = %d, want %d", m.ProtocolVersion, sdk.ProtocolVersion)
	}
	seen := map[string]bool{}
	for i, f := range m.ConfigFields {
		switch {
		case f.Name == "":
			t.Errorf("ConfigFields[%d] has no Name", i)
		case seen[f.Name]:
			t.Errorf("ConfigFields: %q is listed twice", f.Name)
		}
		seen[f.Name] = true
		if !fieldTypes[f.Type] {
			t.Errorf("ConfigFields[%d] (%q): Type %q, want one of string, bool, int, duration, object, list", i, f.Name, f.Type)
		}
	}
	if m.Capabilities.MaxAttachmentBytes < 0 {
		t.Errorf("Capabilities.MaxAttachmentBytes = %d, want >= 0", m.Capabilities.MaxAttachmentBytes)
	}
	if s.tg.BadSignature != nil && !m.Capabilities.Webhooks {
		t.Error("the target gives BadSignature but Capabilities.Webhooks is false")
	}
}

// invalidConfig checks the generic and the author's invalid
// configurations.
func (s *suite) invalidConfig(t *testing.T) {
	m := s.start(t).Describe(t)
	var valid map[string]any
	if err := json.Unmarshal(s.tg.Config, &valid); err != nil {
		t.Fatalf("Target.Config is not a JSON object: %v", err)
	}
	var secrets []string
	for _, f := range m.ConfigFields {
		if v, ok := valid[f.Name].(string); ok && f.Secret && len(v) >= 4 {
			secrets = append(secrets, v)
		}
	}
	cases := append([]InvalidConfig(nil), s.tg.InvalidConfigs...)
	for _, f := range m.ConfigFields {
		if f.Required {
			cases = append(cases, InvalidConfig{Name: "empty", Config: json.RawMessage(`{}`)})
			break
		}
	}
	cases = append(cases, InvalidConfig{Name: "unknown_key", Config: withKey(t, valid, "channeltest_no_such_key", 1), Field: "channeltest_no_such_key"})
	for _, f := range m.ConfigFields {
		if f.Type == "string" {
			cases = append(cases, InvalidConfig{Name: "number_for_" + f.Name, Config: withKey(t, valid, f.Name, 12345), Field: f.Name})
			break
		}
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			p := s.start(t)
			fe := p.Configure(t, c.Config)
			if len(fe) == 0 {
				t.Fatalf("configuration %s was accepted; want field errors", c.Config)
			}
			if c.Field != "" && !hasField(fe, c.Field) {
				t.Errorf("field errors %v do not name %q", fe, c.Field)
			}
			for _, e := range fe {
				for _, secret := range secrets {
					if strings.Contains(e.Message, secret) || strings.Contains(e.Field, secret) {
						t.Errorf("field error %q repeats a secret value", e.Field)
					}
				}
			}
		})
	}
}

func withKey(t *testing.T, base map[string]any, key string, value any) json.RawMessage {
	t.Helper()
	m := make(map[string]any, len(base)+1)
	for k, v := range base {
		m[k] = v
	}
	m[key] = value
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hasField(fe sdk.FieldErrors, name string) bool {
	for _, e := range fe {
		if e.Field == name || strings.HasPrefix(e.Field, name+".") || strings.HasPrefix(e.Field, name+"[") {
			return true
		}
	}
	return false
}

func (s *suite) deliver(t *testing.T) {
	p := s.configured(t)
	ack := s.tg.Inbound(t, p)
	if !ack.OK {
		t.Fatalf("the provider was answered %s; want a positive acknowledgement", ack.Detail)
	}
	ds := p.Host.Deliveries()
	if len(ds) != 1 {
		t.Fatalf("%d messages stored; want 1", len(ds))
	}
	d := ds[0]
	if d.Message.Author.ExternalID == "" {
		t.Error("the message has no Author.ExternalID (the provider's id of the sender)")
	}
	if d.Message.SentAt.IsZero() {
		t.Error("the message has no SentAt (the provider's timestamp)")
	}
	if s.tg.CheckDelivery != nil {
		s.tg.CheckDelivery(t, d)
	}
}

func (s *suite) redelivery(t *testing.T) {
	p := s.configured(t)
	for i := 1; i <= 2; i++ {
		if ack := s.tg.Inbound(t, p); !ack.OK {
			t.Fatalf("delivery %d: the provider was answered %s; a redelivery must be acknowledged too", i, ack.Detail)
		}
	}
	if ds := p.Host.Deliveries(); len(ds) != 1 {
		t.Fatalf("%d messages stored after a redelivery; want 1 (same ExternalID both times?)", len(ds))
	}
}

func (s *suite) coreFailure(t *testing.T) {
	p := s.configured(t)
	p.Host.FailDeliver(errors.New("disk full"))
	ack := s.tg.Inbound(t, p)
	if ack.OK || !ack.Retry {
		t.Errorf("with the core failing, the provider was answered %s; want an answer that makes it retry (HTTP 5xx, SMTP 4xx)", ack.Detail)
	}
	if p.Host.DeliverCalls() == 0 {
		t.Error("the plugin answered without calling Host.Deliver")
	}
	if n := len(p.Host.Deliveries()); n != 0 {
		t.Fatalf("%d messages stored while the core failed", n)
	}
	p.Host.FailDeliver(nil)
	if ack := s.tg.Inbound(t, p); !ack.OK {
		t.Fatalf("the provider's retry was answered %s after the core recovered", ack.Detail)
	}
	if n := len(p.Host.Deliveries()); n != 1 {
		t.Fatalf("%d messages stored after the retry; want 1", n)
	}
}

func (s *suite) attachments(t *testing.T) {
	p := s.configured(t)
	if ack := s.tg.InboundWithAttachments(t, p); !ack.OK {
		t.Fatalf("the provider was answered %s", ack.Detail)
	}
	ds := p.Host.Deliveries()
	if len(ds) != 1 {
		t.Fatalf("%d messages stored; want 1", len(ds))
	}
	got := ds[0].Files
	if len(ds[0].Rejected) > 0 {
		t.Errorf("files rejected by the core: %v (adjust Target.Policy?)", ds[0].Rejected)
	}
	if len(got) != len(s.tg.WantFiles) {
		t.Fatalf("%d files stored; want %d", len(got), len(s.tg.WantFiles))
	}
	for i, want := range s.tg.WantFiles {
		g := got[i]
		if g.Filename != want.Filename {
			t.Errorf("file %d: name %q, want %q", i, g.Filename, want.Filename)
		}
		if want.ContentType != "" && g.ContentType != want.ContentType {
			t.Errorf("file %d: content type %q, want %q", i, g.ContentType, want.ContentType)
		}
		if !bytes.Equal(g.Data, want.Data) {
			t.Errorf("file %d (%s): %d bytes stored differ from the %d bytes sent", i, want.Filename, len(g.Data), len(want.Data))
		}
	}
}

func (s *suite) badSignature(t *testing.T) {
	p := s.configured(t)
	resp := p.WebhookRequest(t, s.tg.BadSignature(t))
	if resp.Status != http.StatusUnauthorized {
		t.Errorf("a badly signed request was answered %d; want 401", resp.Status)
	}
	if n := p.Host.DeliverCalls(); n != 0 {
		t.Errorf("a badly signed request reached Host.Deliver %d times", n)
	}
}

func (s *suite) malformedWebhook(t *testing.T) {
	p := s.configured(t)
	resp := p.Webhook(t, http.MethodPost, "/", http.Header{"Content-Type": {"application/json"}}, []byte("\x00{not json"))
	if resp.Status < 400 || resp.Status >= 500 {
		t.Errorf("an unsigned, malformed request was answered %d; want a 4xx (401, 400 or 404)", resp.Status)
	}
	if n := p.Host.DeliverCalls(); n != 0 {
		t.Errorf("a malformed request reached Host.Deliver %d times", n)
	}
	// The plugin keeps serving.
	_ = p.Describe(t)
}

func (s *suite) sendOK(t *testing.T) {
	p := s.configured(t)
	msg := s.tg.Reply(t)
	res, se := p.Send(t, msg)
	if se != nil {
		t.Fatalf("Send: %v (retryable %v)", se, se.Retryable)
	}
	if res.ExternalID == "" {
		t.Error("SendResult.ExternalID is empty; want the provider's message id")
	}
	if s.tg.CheckSent != nil {
		s.tg.CheckSent(t, msg, res)
	}
}

func (s *suite) sendAttachment(t *testing.T) {
	p := s.configured(t)
	if !p.Describe(t).Capabilities.AttachmentsOut {
		t.Skip("the manifest does not announce AttachmentsOut")
	}
	f := File{Filename: "report.pdf", ContentType: "application/pdf", Data: bytes.Repeat([]byte("%PDF-1.4 channeltest\n"), 5000)}
	msg := s.tg.Reply(t)
	msg.Attachments = append(msg.Attachments, p.Host.StoreAttachment(f))
	res, se := p.Send(t, msg)
	if se != nil {
		t.Fatalf("Send with an attachment: %v", se)
	}
	s.tg.CheckSentAttachment(t, res, f)
}

func (s *suite) sendFailure(t *testing.T, f SendFailure) {
	if s.tg.Reply == nil {
		t.Fatal("Target.SendFailures needs Target.Reply")
	}
	p := s.configured(t)
	f.Arrange(t)
	res, se := p.Send(t, s.tg.Reply(t))
	if se == nil {
		t.Fatalf("Send succeeded (%+v); want a *sdk.SendError", res)
	}
	if se.Retryable != f.Retryable {
		t.Errorf("SendError %q: Retryable = %v, want %v", se.Error(), se.Retryable, f.Retryable)
	}
	if f.Code != "" && se.Code != f.Code {
		t.Errorf("SendError.Code = %q, want %q", se.Code, f.Code)
	}
}

func (s *suite) stop(t *testing.T) {
	p := s.configured(t)
	p.Stop(t)
}
