package wire_test

import (
	"context"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/patchbayhq/patchbay/internal/wire"
	sdk "github.com/patchbayhq/patchbay/internal/wire/sdktypes"
	pb "github.com/patchbayhq/patchbay/proto/channel/v1"
)

// viaWire marshals m and unmarshals it into a fresh message of its type, as
// gRPC does.
func viaWire[M proto.Message](t *testing.T, m M) M {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	out := m.ProtoReflect().New().Interface().(M)
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return out
}

var at = time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)

func TestConversionsRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		// run converts want to proto, through the wire and back.
		run func(t *testing.T) (got, want any)
	}{
		{"manifest full", func(t *testing.T) (any, any) {
			m := sdk.Manifest{Kind: "slack", Version: "1.2.0", ProtocolVersion: sdk.ProtocolVersion, DisplayName: "Slack", Description: "DMs",
				Capabilities: sdk.Capabilities{AttachmentsIn: true, AttachmentsOut: true, MaxAttachmentBytes: 1 << 30, Threads: true, HTML: true, ReplyWindow: 24 * time.Hour, Webhooks: true, WebhookTimeout: 3 * time.Second},
				ConfigFields: []sdk.ConfigField{{Name: "bot_token", Type: "string", Required: true, Secret: true, Description: "xoxb", Default: "d"}, {Name: "api_url", Type: "string"}}}
			return wire.ManifestFromProto(viaWire(t, wire.ManifestToProto(m))), m
		}},
		{"manifest empty", func(t *testing.T) (any, any) {
			m := sdk.Manifest{ProtocolVersion: sdk.ProtocolVersion}
			return wire.ManifestFromProto(viaWire(t, wire.ManifestToProto(m))), m
		}},
		{"manifest protocol version is the SDK's", func(t *testing.T) (any, any) {
			got := wire.ManifestFromProto(viaWire(t, wire.ManifestToProto(sdk.Manifest{Kind: "x", ProtocolVersion: 99})))
			return got.ProtocolVersion, sdk.ProtocolVersion
		}},
		{"policy", func(t *testing.T) (any, any) {
			p := sdk.AttachmentPolicy{Allow: []string{".pdf", ".png"}, MaxBytes: 20 << 20}
			return wire.PolicyFromProto(viaWire(t, wire.PolicyToProto(p))), p
		}},
		{"policy empty", func(t *testing.T) (any, any) {
			return wire.PolicyFromProto(viaWire(t, wire.PolicyToProto(sdk.AttachmentPolicy{}))), sdk.AttachmentPolicy{}
		}},
		{"field errors", func(t *testing.T) (any, any) {
			fe := sdk.FieldErrors{{Field: "token", Message: "is required"}, {Message: "general"}}
			resp := viaWire(t, &pb.ConfigureResponse{FieldErrors: wire.FieldErrorsToProto(fe)})
			return wire.FieldErrorsFromProto(resp.FieldErrors), fe
		}},
		{"field errors none", func(t *testing.T) (any, any) {
			return wire.FieldErrorsFromProto(wire.FieldErrorsToProto(nil)), sdk.FieldErrors(nil)
		}},
		{"webhook request", func(t *testing.T) (any, any) {
			r := &sdk.WebhookRequest{Method: "POST", Path: "/events", RawQuery: "hub.mode=subscribe&hub.challenge=1",
				Header: http.Header{"X-Slack-Signature": {"v0=abc"}, "Accept": {"a", "b"}}, Body: []byte(`{"a":1}`), RemoteAddr: "10.0.0.1:443"}
			return wire.WebhookRequestFromProto(viaWire(t, wire.WebhookRequestToProto(r))), r
		}},
		{"webhook request minimal", func(t *testing.T) (any, any) {
			r := &sdk.WebhookRequest{Method: "GET", Path: "/"}
			return wire.WebhookRequestFromProto(viaWire(t, wire.WebhookRequestToProto(r))), r
		}},
		{"webhook response", func(t *testing.T) (any, any) {
			r := &sdk.WebhookResponse{Status: 401, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte("no")}
			return wire.WebhookResponseFromProto(viaWire(t, wire.WebhookResponseToProto(r))), r
		}},
		{"inbound full", func(t *testing.T) (any, any) {
			m := &sdk.InboundMessage{ExternalID: "<id@x>", ConversationKey: "<root@x>", ReplyTo: []string{"<a@x>", "<b@x>"},
				Author:  sdk.Party{ExternalID: "ada@x.test", IdentityType: "email", Name: "Ada", Email: "ada@x.test", Phone: "+1"},
				Subject: "VPN", Text: "down", HTML: "<p>down</p>", SentAt: at, Raw: []byte("raw"), RawContentType: "message/rfc822",
				TicketHint: 42, TicketHintVerified: true, AutoSubmitted: true, Metadata: map[string]string{"k": "v"},
				AuthorVerified: true, HeaderThreading: true,
				CC: []sdk.Party{{ExternalID: "bob@x.test", IdentityType: "email", Email: "bob@x.test"}, {ExternalID: "cy@x.test", Name: "Cy"}}}
			got, ids := wire.InboundFromProto(viaWire(t, wire.InboundToProto(m, []string{"s1", "s2"})))
			return []any{got, ids}, []any{m, []string{"s1", "s2"}}
		}},
		{"inbound minimal", func(t *testing.T) (any, any) {
			m := &sdk.InboundMessage{ExternalID: "1", ConversationKey: "c"}
			got, ids := wire.InboundFromProto(viaWire(t, wire.InboundToProto(m, nil)))
			return []any{got, ids}, []any{m, []string(nil)}
		}},
		{"receipt", func(t *testing.T) (any, any) {
			r := &sdk.Receipt{TicketID: 7, CommentID: 9, Duplicate: true}
			return wire.ReceiptFromProto(viaWire(t, wire.ReceiptToProto(r))), r
		}},
		{"outbound", func(t *testing.T) (any, any) {
			m := &sdk.OutboundMessage{IdempotencyKey: "k", TicketID: 1, CommentID: 2, ConversationKey: "c",
				Recipient: sdk.Party{ExternalID: "u"}, Subject: "s", Text: "t", HTML: "<b>t</b>", ThreadExternalIDs: []string{"a", "b"},
				LastInboundAt: at, Author: sdk.Party{Name: "Agent"}, AutoReply: true,
				Attachments: []sdk.Attachment{{ID: "att1", Filename: "f.pdf", ContentType: "application/pdf", Size: 10}}}
			got := wire.OutboundFromProto(viaWire(t, wire.OutboundToProto(m)), nil)
			for i := range got.Attachments {
				if got.Attachments[i].Open == nil {
					t.Error("outbound attachment has no Open")
				}
				got.Attachments[i].Open = nil
			}
			return got, m
		}},
		{"send error", func(t *testing.T) (any, any) {
			e := &sdk.SendError{Code: "rate_limited", Message: "slow down", Retryable: true, RetryAfter: 7 * time.Second}
			res, got := wire.SendResultFromProto(viaWire(t, wire.SendResultToProto(nil, e)))
			return []any{res, got}, []any{(*sdk.SendResult)(nil), e}
		}},
		{"send error message from the wrapped error", func(t *testing.T) (any, any) {
			e := sdk.Permanent("window_closed", io.ErrUnexpectedEOF)
			_, got := wire.SendResultFromProto(viaWire(t, wire.SendResultToProto(nil, e)))
			return got, &sdk.SendError{Code: "window_closed", Message: io.ErrUnexpectedEOF.Error()}
		}},
		{"send result", func(t *testing.T) (any, any) {
			r := &sdk.SendResult{ExternalID: "wamid.1"}
			got, e := wire.SendResultFromProto(viaWire(t, wire.SendResultToProto(r, nil)))
			return []any{got, e}, []any{r, (*sdk.SendError)(nil)}
		}},
		{"delivery update", func(t *testing.T) (any, any) {
			u := sdk.DeliveryUpdate{ExternalID: "wamid.1", Status: "failed", Error: "131047", At: at}
			return wire.DeliveryUpdateFromProto(viaWire(t, wire.DeliveryUpdateToProto(u))), u
		}},
		{"status", func(t *testing.T) (any, any) {
			s := sdk.Status{State: sdk.StateAuthFailed, Message: "invalid_auth"}
			return wire.StatusFromProto(viaWire(t, wire.StatusToProto(s))), s
		}},
		{"staged header", func(t *testing.T) (any, any) {
			h := wire.StagedHeader{Filename: "a.pdf", ContentType: "application/pdf", SHA256: strings.Repeat("ab", 32), Size: -1, Raw: true}
			return wire.StagedHeaderFromProto(viaWire(t, wire.StagedHeaderToProto(h))), h
		}},
		{"staged", func(t *testing.T) (any, any) {
			s := wire.Staged{ID: "st1", Rejected: true, Reason: "type", Size: 12}
			return wire.StagedFromProto(viaWire(t, wire.StagedToProto(s))), s
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, want := c.run(t)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %#v\nwant %#v", got, want)
			}
		})
	}
}

func TestConversionsFromNil(t *testing.T) {
	// A peer may leave any message field unset; conversions give zero values.
	if m := wire.ManifestFromProto(nil); m.Kind != "" || m.ConfigFields != nil {
		t.Errorf("manifest %+v", m)
	}
	if p := wire.PartyFromProto(nil); p != (sdk.Party{}) {
		t.Errorf("party %+v", p)
	}
	msg, ids := wire.InboundFromProto(nil)
	if msg == nil || msg.ExternalID != "" || ids != nil || !msg.SentAt.IsZero() {
		t.Errorf("inbound %+v %v", msg, ids)
	}
	out := wire.OutboundFromProto(&pb.SendRequest{}, nil)
	if out == nil || out.Attachments != nil {
		t.Errorf("outbound %+v", out)
	}
	a := wire.AttachmentRefFromProto(&pb.AttachmentRef{Id: "x"}, nil)
	if _, err := a.Open(context.Background()); err == nil {
		t.Error("an attachment without a host opened")
	}
}

// FuzzInboundFromProto feeds arbitrary bytes as a DeliverRequest (what the
// host receives from a plugin) through the conversions.
func FuzzInboundFromProto(f *testing.F) {
	seed, _ := proto.Marshal(&pb.DeliverRequest{Message: wire.InboundToProto(&sdk.InboundMessage{ExternalID: "1", ConversationKey: "c", SentAt: at, Metadata: map[string]string{"a": "b"}}, []string{"s"})})
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var req pb.DeliverRequest
		if err := proto.Unmarshal(data, &req); err != nil {
			return
		}
		msg, ids := wire.InboundFromProto(req.GetMessage())
		again, ids2 := wire.InboundFromProto(wire.InboundToProto(msg, ids))
		if again.ExternalID != msg.ExternalID || len(ids2) != len(ids) || !again.SentAt.Equal(msg.SentAt) {
			t.Errorf("second round trip differs: %+v vs %+v", again, msg)
		}
	})
}
