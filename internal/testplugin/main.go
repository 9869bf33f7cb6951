// Command testplugin is a channel plugin for the core's own tests
// (core/pluginhost, core/cmd/patchbay). Its behaviour is driven by its
// config block and by the webhook paths it is sent, so that tests can make
// a real plugin process deliver, fail, reveal its environment, spawn a
// child or exit. It is never installed by `make build`.
//
// Config keys: "token" (required unless "allow_empty" is true; a field
// error otherwise), "status" (reported with Host.ReportStatus on Start),
// "spawn_child" (start `sleep` in Start, to prove process-group cleanup),
// "state_probe" (write and read back a state value in Configure).
//
// Webhook paths: POST /deliver (body: {"id","conversation","text"}) calls
// Host.Deliver and answers the receipt as JSON, 500 when Deliver fails;
// GET /env?name=X answers X's value with header X-Env-Set: 1 or 0;
// GET /pid and GET /child answer process ids; POST /exit exits the process;
// GET /slow?ms=N logs "slow request started" and answers after N ms;
// GET /log logs the token and "extra_secret" at every level;
// POST /deliver-loop?n=N calls Deliver N times (benchmarks);
// POST /state?key=K&value=V stores and reads back a state value;
// anything else echoes method, path, query and body.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/sdk"
)

type config struct {
	Token      string `json:"token"`
	AllowEmpty bool   `json:"allow_empty"`
	Status     string `json:"status"`
	SpawnChild bool   `json:"spawn_child"`
	StateProbe bool   `json:"state_probe"`
	// EchoSecret makes the plugin leak its token, as a careless plugin
	// might: "configure" fails Configure with it; "send" reports it in its
	// status on Start and in the error of a "fail-echo" send.
	EchoSecret string `json:"echo_secret"`
	// ExtraSecret is a second secret a test sets with env(); GET /log
	// logs it with the token.
	ExtraSecret string `json:"extra_secret"`
}

type channel struct {
	mu     sync.Mutex
	cfg    config
	host   sdk.Host
	logger hclog.Logger
	child  *exec.Cmd
}

// Describe implements sdk.Channel for the test plugin.
func (c *channel) Describe(context.Context) (sdk.Manifest, error) {
	return sdk.Manifest{
		Kind:        "test",
		Version:     "0.0.1",
		DisplayName: "Test channel",
		Description: "Drives the plugin host's tests.",
		Capabilities: sdk.Capabilities{
			Webhooks:       true,
			AttachmentsIn:  true,
			AttachmentsOut: true,
		},
		ConfigFields: []sdk.ConfigField{
			{Name: "token", Type: "string", Required: true, Secret: true, Description: "any non-empty value"},
			{Name: "allow_empty", Type: "bool", Description: "accept an empty token"},
			{Name: "status", Type: "string", Description: "status reported on Start"},
			{Name: "spawn_child", Type: "bool", Description: "start a child process on Start"},
		},
	}, nil
}

// Configure implements sdk.Channel for the test plugin.
func (c *channel) Configure(ctx context.Context, req sdk.ConfigureRequest) error {
	var cfg config
	if err := req.Decode(&cfg); err != nil {
		return err
	}
	if cfg.Token == "" && !cfg.AllowEmpty {
		return sdk.FieldErrors{{Field: "token", Message: "is required"}}
	}
	if cfg.EchoSecret == "configure" {
		return fmt.Errorf("the provider rejected token %s", cfg.Token)
	}
	if cfg.StateProbe {
		// Keeps a generated value in state, as real plugins keep keys.
		if err := req.Host.SetState(ctx, "probe", []byte("v1")); err != nil {
			return fmt.Errorf("state probe: %w", err)
		}
		if v, found, err := req.Host.GetState(ctx, "probe"); err != nil || !found || string(v) != "v1" {
			return fmt.Errorf("state probe: read back %q found=%v err=%v", v, found, err)
		}
	}
	c.mu.Lock()
	c.cfg, c.host, c.logger = cfg, req.Host, req.Logger
	c.mu.Unlock()
	return nil
}

// Start implements sdk.Channel for the test plugin.
func (c *channel) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg.SpawnChild {
		c.child = exec.Command("sleep", "600")
		if err := c.child.Start(); err != nil {
			return fmt.Errorf("spawn child: %w", err)
		}
	}
	if c.cfg.Status != "" {
		msg := "reported on start"
		if c.cfg.EchoSecret == "send" {
			msg = "connected with token " + c.cfg.Token
		}
		return c.host.ReportStatus(ctx, sdk.Status{State: c.cfg.Status, Message: msg})
	}
	return nil
}

// Stop implements sdk.Channel for the test plugin.
func (c *channel) Stop(context.Context) error { return nil }

// HandleWebhook implements sdk.Channel for the test plugin.
func (c *channel) HandleWebhook(ctx context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
	switch req.Path {
	case "/deliver":
		var in struct{ ID, Conversation, Text string }
		if err := json.Unmarshal(req.Body, &in); err != nil {
			return text(http.StatusBadRequest, "bad json"), nil
		}
		c.mu.Lock()
		host := c.host
		c.mu.Unlock()
		rc, err := host.Deliver(ctx, &sdk.InboundMessage{
			ExternalID:      in.ID,
			ConversationKey: in.Conversation,
			Author:          sdk.Party{ExternalID: "u-" + in.Conversation, Name: "Test User"},
			Text:            in.Text,
			SentAt:          time.Now().UTC(),
			Raw:             req.Body,
		})
		if err != nil {
			return text(http.StatusInternalServerError, "deliver failed: "+err.Error()), nil
		}
		b, _ := json.Marshal(rc)
		return &sdk.WebhookResponse{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: b}, nil
	case "/deliver-loop":
		// n Deliver calls in a row, for benchmarks of the Deliver round trip.
		n, _ := strconv.Atoi(query(req.RawQuery, "n"))
		c.mu.Lock()
		host := c.host
		c.mu.Unlock()
		msg := &sdk.InboundMessage{ConversationKey: "bench", Author: sdk.Party{ExternalID: "u-bench"}, Text: "hello", SentAt: time.Now().UTC()}
		for i := 0; i < n; i++ {
			msg.ExternalID = "bench-" + strconv.Itoa(i)
			if _, err := host.Deliver(ctx, msg); err != nil {
				return text(http.StatusInternalServerError, err.Error()), nil
			}
		}
		return text(http.StatusOK, strconv.Itoa(n)), nil
	case "/log":
		// Logs its secrets at every level, as a plugin quoting a
		// provider's answer that echoed them might.
		c.mu.Lock()
		logger, cfg := c.logger, c.cfg
		c.mu.Unlock()
		if logger != nil {
			echo := "provider said: invalid token " + cfg.Token + " / " + cfg.ExtraSecret
			logger.Trace("echo at trace "+cfg.Token, "answer", echo)
			logger.Debug("echo at debug", "answer", echo)
			logger.Info("echo at info", "answer", echo, "quoted", `{"access_token":"`+cfg.Token+`"}`)
			logger.Warn("echo at warn", "answer", echo)
			logger.Error("echo at error", "answer", echo)
		}
		return text(http.StatusOK, "logged"), nil
	case "/slow":
		// Logs that it started (tests wait for the line), then answers
		// after ms milliseconds: an in-flight request during shutdown.
		ms, _ := strconv.Atoi(query(req.RawQuery, "ms"))
		c.mu.Lock()
		logger := c.logger
		c.mu.Unlock()
		if logger != nil {
			logger.Info("slow request started")
		}
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return text(http.StatusOK, "slow done"), nil
	case "/env":
		name := query(req.RawQuery, "name")
		v, ok := os.LookupEnv(name)
		resp := text(http.StatusOK, v)
		resp.Header.Set("X-Env-Set", map[bool]string{true: "1", false: "0"}[ok])
		return resp, nil
	case "/pid":
		return text(http.StatusOK, strconv.Itoa(os.Getpid())), nil
	case "/child":
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.child == nil || c.child.Process == nil {
			return text(http.StatusNotFound, "no child"), nil
		}
		return text(http.StatusOK, strconv.Itoa(c.child.Process.Pid)), nil
	case "/exit":
		go func() {
			time.Sleep(20 * time.Millisecond) // let the answer leave first
			os.Exit(3)
		}()
		return text(http.StatusAccepted, "exiting"), nil
	case "/state":
		key, value := query(req.RawQuery, "key"), query(req.RawQuery, "value")
		c.mu.Lock()
		host := c.host
		c.mu.Unlock()
		if err := host.SetState(ctx, key, []byte(value)); err != nil {
			return text(http.StatusInternalServerError, err.Error()), nil
		}
		got, found, err := host.GetState(ctx, key)
		if err != nil || !found {
			return text(http.StatusInternalServerError, fmt.Sprintf("get state: found=%v err=%v", found, err)), nil
		}
		return text(http.StatusOK, string(got)), nil
	}
	echo, _ := json.Marshal(map[string]string{
		"method": req.Method, "path": req.Path, "query": req.RawQuery,
		"body": string(req.Body), "x_test": req.Header.Get("X-Test"),
	})
	return &sdk.WebhookResponse{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}, "X-Plugin": {"test"}}, Body: echo}, nil
}

// Send implements sdk.Channel for the test plugin.
func (c *channel) Send(_ context.Context, msg *sdk.OutboundMessage) (*sdk.SendResult, error) {
	switch msg.Text {
	case "fail-retry":
		return nil, sdk.Retryable("rate_limited", errors.New("provider said 429"), 2*time.Second)
	case "fail-perm":
		return nil, sdk.Permanent("bad_recipient", errors.New("recipient unknown"))
	case "fail-echo":
		c.mu.Lock()
		token := c.cfg.Token
		c.mu.Unlock()
		return nil, sdk.Permanent("auth", fmt.Errorf("token %s was revoked", token))
	}
	return &sdk.SendResult{ExternalID: "sent-" + msg.IdempotencyKey + "-" + msg.ConversationKey}, nil
}

func text(status int, s string) *sdk.WebhookResponse {
	return &sdk.WebhookResponse{Status: status, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte(s)}
}

func query(raw, key string) string {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return ""
	}
	return v.Get(key)
}

func main() { sdk.Serve(&channel{}) }
