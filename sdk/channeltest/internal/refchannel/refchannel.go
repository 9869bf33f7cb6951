// Package refchannel is a small but complete webhook channel used to test
// the conformance kit: HMAC-signed webhooks, files fetched from the
// provider's API as streams, replies posted to the API with provider errors
// mapped to retryable or permanent SendErrors. It is also a model for
// plugin authors.
//
// The provider it speaks to is invented: it signs a webhook with
// X-Ref-Signature: hex(HMAC-SHA256(secret, X-Ref-Timestamp + "." + body)).
package refchannel

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/patchbayhq/patchbay/sdk"
)

// Tolerance is how old a signed webhook may be.
const Tolerance = 5 * time.Minute

// Config is the channel's config block.
type Config struct {
	SigningSecret string `json:"signing_secret"`
	APIURL        string `json:"api_url"`
	APIToken      string `json:"api_token"`
}

// Event is the provider's webhook body.
type Event struct {
	ID           string `json:"id"`
	Conversation string `json:"conversation"`
	From         struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"from"`
	Text  string `json:"text"`
	TS    int64  `json:"ts"`
	Files []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Type string `json:"type"`
		Size int64  `json:"size"`
	} `json:"files"`
}

// Channel is the reference channel.
type Channel struct {
	mu   sync.RWMutex
	cfg  Config
	host sdk.Host
	http *http.Client
	now  func() time.Time
}

// New returns an unconfigured channel.
func New() *Channel {
	return &Channel{http: &http.Client{Timeout: 30 * time.Second}, now: time.Now}
}

// Sign returns the signature headers for body at ts, as the provider signs.
func Sign(secret string, ts time.Time, body []byte) http.Header {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(stamp + "."))
	mac.Write(body)
	return http.Header{
		"X-Ref-Timestamp": {stamp},
		"X-Ref-Signature": {hex.EncodeToString(mac.Sum(nil))},
		"Content-Type":    {"application/json"},
	}
}

// Describe returns the manifest.
func (c *Channel) Describe(context.Context) (sdk.Manifest, error) {
	return sdk.Manifest{
		Kind:        "ref",
		Version:     "1.0.0",
		DisplayName: "Reference channel",
		Capabilities: sdk.Capabilities{
			AttachmentsIn: true, AttachmentsOut: true, MaxAttachmentBytes: 50 << 20, Webhooks: true,
		},
		ConfigFields: []sdk.ConfigField{
			{Name: "signing_secret", Type: "string", Required: true, Secret: true, Description: "webhook signing secret"},
			{Name: "api_url", Type: "string", Required: true, Description: "provider API base URL"},
			{Name: "api_token", Type: "string", Secret: true, Description: "provider API token"},
		},
	}, nil
}

// Configure validates and applies the configuration.
func (c *Channel) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	var cfg Config
	if err := req.Decode(&cfg); err != nil {
		return err
	}
	var fe sdk.FieldErrors
	if cfg.SigningSecret == "" {
		fe = append(fe, sdk.FieldError{Field: "signing_secret", Message: "is required"})
	}
	if u, err := url.Parse(cfg.APIURL); cfg.APIURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		fe = append(fe, sdk.FieldError{Field: "api_url", Message: "must be an http(s) URL"})
	}
	if len(fe) > 0 {
		return fe
	}
	cfg.APIURL = strings.TrimRight(cfg.APIURL, "/")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg, c.host = cfg, req.Host
	return nil
}

// Start has no receivers to start.
func (c *Channel) Start(context.Context) error { return nil }

// Stop has nothing to stop.
func (c *Channel) Stop(context.Context) error { return nil }

func (c *Channel) config() (Config, sdk.Host) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.cfg, c.host
}

func answer(status int, msg string) *sdk.WebhookResponse {
	return &sdk.WebhookResponse{Status: status, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte(msg)}
}

// verify checks the provider's signature and timestamp.
func (c *Channel) verify(secret string, req *sdk.WebhookRequest) bool {
	stamp := req.Header.Get("X-Ref-Timestamp")
	sig, err := hex.DecodeString(req.Header.Get("X-Ref-Signature"))
	if stamp == "" || err != nil || len(sig) == 0 {
		return false
	}
	sec, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		return false
	}
	if age := c.now().Sub(time.Unix(sec, 0)); age > Tolerance || age < -Tolerance {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(stamp + "."))
	mac.Write(req.Body)
	return hmac.Equal(sig, mac.Sum(nil))
}

// HandleWebhook verifies, parses and delivers one event.
func (c *Channel) HandleWebhook(ctx context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
	cfg, host := c.config()
	if req.Method != http.MethodPost {
		return answer(http.StatusMethodNotAllowed, "POST only"), nil
	}
	if !c.verify(cfg.SigningSecret, req) {
		return answer(http.StatusUnauthorized, "bad signature"), nil
	}
	var ev Event
	if err := json.Unmarshal(req.Body, &ev); err != nil || ev.ID == "" || ev.From.ID == "" {
		return answer(http.StatusBadRequest, "malformed event"), nil
	}
	conv := ev.Conversation
	if conv == "" {
		conv = ev.From.ID
	}
	msg := &sdk.InboundMessage{
		ExternalID:      ev.ID,
		ConversationKey: conv,
		Author:          sdk.Party{ExternalID: ev.From.ID, Name: ev.From.Name},
		Text:            ev.Text,
		SentAt:          time.Unix(ev.TS, 0).UTC(),
		Raw:             req.Body,
		RawContentType:  "application/json",
		// The webhook signature was checked: the author is the provider's.
		AuthorVerified: true,
	}
	for _, f := range ev.Files {
		id := f.ID
		msg.Attachments = append(msg.Attachments, sdk.Attachment{
			Filename: f.Name, ContentType: f.Type, Size: f.Size,
			Open: func(ctx context.Context) (io.ReadCloser, error) { return c.download(ctx, cfg, id) },
		})
	}
	if _, err := host.Deliver(ctx, msg); err != nil {
		return answer(http.StatusServiceUnavailable, "try again later"), nil
	}
	return answer(http.StatusOK, "ok"), nil
}

// download streams a file from the provider's API.
func (c *Channel) download(ctx context.Context, cfg Config, id string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.APIURL+"/files/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+cfg.APIToken)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("download file %s: provider answered %d", id, resp.StatusCode)
	}
	return resp.Body, nil
}

// OutgoingMessage is what Send posts to the provider.
type OutgoingMessage struct {
	To          string            `json:"to"`
	Text        string            `json:"text"`
	Attachments map[string]string `json:"attachments,omitempty"` // name -> base64
}

// Send posts one reply.
func (c *Channel) Send(ctx context.Context, msg *sdk.OutboundMessage) (*sdk.SendResult, error) {
	cfg, _ := c.config()
	out := OutgoingMessage{To: msg.Recipient.ExternalID, Text: msg.Text}
	for _, a := range msg.Attachments {
		rc, err := a.Open(ctx)
		if err != nil {
			return nil, sdk.Retryable("attachment_unavailable", err, 0)
		}
		data, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			return nil, sdk.Retryable("attachment_unavailable", err, 0)
		}
		if out.Attachments == nil {
			out.Attachments = map[string]string{}
		}
		out.Attachments[a.Filename] = base64.StdEncoding.EncodeToString(data)
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, sdk.Permanent("encode", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.APIURL+"/messages", bytes.NewReader(body))
	if err != nil {
		return nil, sdk.Permanent("bad_request", err)
	}
	req.Header.Set("Authorization", "Bearer "+cfg.APIToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", msg.IdempotencyKey)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, sdk.Retryable("network", err, 0)
	}
	defer func() { _ = resp.Body.Close() }()
	var reply struct {
		ID    string `json:"id"`
		Error string `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&reply)
	switch {
	case resp.StatusCode == http.StatusOK && reply.ID != "":
		return &sdk.SendResult{ExternalID: reply.ID}, nil
	case resp.StatusCode == http.StatusTooManyRequests:
		after, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return nil, sdk.Retryable("rate_limited", errors.New("the provider is rate limiting"), time.Duration(after)*time.Second)
	case resp.StatusCode >= 500:
		return nil, sdk.Retryable("provider_unavailable", fmt.Errorf("the provider answered %d", resp.StatusCode), 0)
	default:
		code := reply.Error
		if code == "" {
			code = "rejected"
		}
		return nil, sdk.Permanent(code, fmt.Errorf("the provider refused the message (%d)", resp.StatusCode))
	}
}
