package channeltest_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/sdk"
	"github.com/patchbayhq/patchbay/sdk/channeltest"
)

// lineChannel receives over its own TCP listener, like an SMTP channel: a
// client writes "id|from|text\n" and reads "250 ok" once the core stored
// the message, or "451 try later" when it could not. It has no webhooks.
type lineChannel struct {
	mu     sync.Mutex
	host   sdk.Host
	listen string
	ln     net.Listener
	wg     sync.WaitGroup
}

func (c *lineChannel) Describe(context.Context) (sdk.Manifest, error) {
	return sdk.Manifest{Kind: "line-proto", Version: "0.1.0", ConfigFields: []sdk.ConfigField{{Name: "listen", Type: "string", Required: true}}}, nil
}

func (c *lineChannel) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	var cfg struct {
		Listen string `json:"listen"`
	}
	if err := req.Decode(&cfg); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return sdk.FieldErrors{{Field: "listen", Message: "must be host:port"}}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.host, c.listen = req.Host, cfg.Listen
	return nil
}

func (c *lineChannel) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.ln = ln
	c.mu.Unlock()
	c.wg.Add(1)
	go c.serve(ln)
	return c.host.ReportStatus(ctx, sdk.Status{State: sdk.StateConnected, Message: ln.Addr().String()})
}

func (c *lineChannel) serve(ln net.Listener) {
	defer c.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer conn.Close()
			line, err := bufio.NewReader(conn).ReadString('\n')
			parts := strings.SplitN(strings.TrimSpace(line), "|", 3)
			if err != nil || len(parts) != 3 {
				fmt.Fprint(conn, "500 syntax\n")
				return
			}
			_, err = c.host.Deliver(context.Background(), &sdk.InboundMessage{ExternalID: parts[0], ConversationKey: parts[1], Author: sdk.Party{ExternalID: parts[1]}, Text: parts[2], SentAt: time.Now()})
			if err != nil {
				fmt.Fprint(conn, "451 try later\n")
				return
			}
			fmt.Fprint(conn, "250 ok\n")
		}()
	}
}

func (c *lineChannel) Stop(context.Context) error {
	c.mu.Lock()
	ln := c.ln
	c.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	c.wg.Wait()
	return nil
}

func (c *lineChannel) HandleWebhook(context.Context, *sdk.WebhookRequest) (*sdk.WebhookResponse, error) {
	return &sdk.WebhookResponse{Status: http.StatusNotFound}, nil
}

func (c *lineChannel) Send(context.Context, *sdk.OutboundMessage) (*sdk.SendResult, error) {
	return nil, sdk.Permanent("unsupported", errors.New("this channel cannot reply"))
}

// lineReceiver speaks the line protocol to the address the plugin reported.
func lineReceiver(t testing.TB, p *channeltest.Plugin) channeltest.Ack {
	t.Helper()
	st := p.Host.Statuses()
	if len(st) == 0 {
		t.Fatal("the plugin reported no listening address")
	}
	conn, err := net.Dial("tcp", st[len(st)-1].Message)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "msg-1|alice|hello over tcp\n")
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	reply = strings.TrimSpace(reply)
	return channeltest.Ack{OK: strings.HasPrefix(reply, "2"), Retry: strings.HasPrefix(reply, "4"), Detail: reply}
}

// TestSuiteWithoutWebhooks runs the suite against a channel that receives
// on its own listener, as the email channel does with SMTP.
func TestSuiteWithoutWebhooks(t *testing.T) {
	channeltest.Run(t, channeltest.Target{
		New:     func() sdk.Channel { return &lineChannel{} },
		Config:  []byte(`{"listen":"127.0.0.1:0"}`),
		Start:   true,
		Inbound: lineReceiver,
		InvalidConfigs: []channeltest.InvalidConfig{
			{Name: "bad_listen", Config: []byte(`{"listen":"nowhere"}`), Field: "listen"},
		},
		CheckDelivery: func(t testing.TB, d channeltest.Delivery) {
			if d.Message.Text != "hello over tcp" || d.Message.ExternalID != "msg-1" {
				t.Errorf("stored %+v", d.Message)
			}
		},
	})
}
