package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	gomcp "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/patchbayhq/patchbay/internal/e2etest"
)

// mailSink is a local SMTP server standing in for the operator's relay: it
// keeps every message the email plugin sends.
type mailSink struct {
	addr  string
	mu    sync.Mutex
	mails [][]byte
}

func startMailSink(t *testing.T) *mailSink {
	t.Helper()
	k := &mailSink{}
	s := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &sinkSession{k: k}, nil }))
	s.Domain = "relay.test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k.addr = ln.Addr().String()
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return k
}

func (k *mailSink) received() [][]byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.mails)
}

type sinkSession struct{ k *mailSink }

func (s *sinkSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (s *sinkSession) Reset()                                 {}
func (s *sinkSession) Logout() error                          { return nil }
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.k.mu.Lock()
	s.k.mails = append(s.k.mails, b)
	s.k.mu.Unlock()
	return nil
}

// mcpBearer adds the token to every request of the SDK's HTTP client.
type mcpBearer struct{ token string }

func (b mcpBearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// mcpCall calls a tool; a transport failure fails the test.
func mcpCall(t *testing.T, cs *gomcp.ClientSession, name string, args map[string]any) *gomcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &gomcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

func mcpText(res *gomcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*gomcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// mcpOK decodes a successful result's structured content into out.
func mcpOK(t *testing.T, res *gomcp.CallToolResult, out any) {
	t.Helper()
	if res.IsError {
		t.Fatalf("tool error: %s", mcpText(res))
	}
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
}

// mcpErrCode returns the API error code of a tool error.
func mcpErrCode(t *testing.T, res *gomcp.CallToolResult) string {
	t.Helper()
	if !res.IsError {
		t.Fatalf("not a tool error: %s", mcpText(res))
	}
	var out struct {
		Error struct {
			Code  string `json:"code"`
			Field string `json:"field"`
		} `json:"error"`
	}
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &out); err != nil || out.Error.Code == "" {
		t.Fatalf("tool error without the API's code: %s / %s", b, mcpText(res))
	}
	return out.Error.Code
}

// TestMCPEndToEnd runs the real core with the real email plugin and drives
// its MCP server with the SDK's client over both transports: streamable
// HTTP at /mcp, and `patchbay mcp` on stdio. Over each: initialize, list the
// tools, search for a ticket that arrived by email (by a word of its body),
// read it, reply (the relay receives the mail), add a note, update with a
// stale if_match (precondition_failed, nothing changes), a read token is
// refused on write tools, and no token is refused.
func TestMCPEndToEnd(t *testing.T) {
	bin := binaries(t)
	sink := startMailSink(t)
	smtpIn := e2etest.FreePort(t)
	core := e2etest.Start(t, bin, e2etest.Options{Channels: fmt.Sprintf(`
channel "support" {
  plugin = "email"
  config {
    address     = "support@acme.test"
    smtp_listen = %q
    outbound    = %q
  }
}
`, smtpIn, "smtp://"+sink.addr+"?tls=none"), WaitRunning: []string{"support"}})

	token := func(email, scope string) string {
		var out struct {
			Token string `json:"token"`
		}
		if st := core.JSON("POST", "/api/v1/tokens", map[string]any{"email": email, "scope": scope}, &out); st != http.StatusCreated {
			t.Fatalf("POST tokens: %d", st)
		}
		return out.Token
	}
	writer, reader := token("bot@acme.test", "write"), token("auditor@acme.test", "read")

	transports := []struct {
		name    string
		connect func(t *testing.T, token string) *gomcp.ClientSession
	}{
		{"streamable-http", func(t *testing.T, token string) *gomcp.ClientSession {
			return mcpConnect(t, &gomcp.StreamableClientTransport{Endpoint: core.URL + "/mcp", HTTPClient: &http.Client{Transport: mcpBearer{token}}})
		}},
		{"stdio", func(t *testing.T, token string) *gomcp.ClientSession {
			cmd := exec.Command(bin.Patchbay, "mcp", "-url", core.URL, "-token-env", "PB_E2E_MCP_TOKEN")
			cmd.Env = append(os.Environ(), "PB_E2E_MCP_TOKEN="+token)
			cmd.Stderr = &bytes.Buffer{}
			return mcpConnect(t, &gomcp.CommandTransport{Command: cmd})
		}},
	}
	for i, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			word := fmt.Sprintf("zanzibarquux%d", i)
			msgID := fmt.Sprintf("<mcp-e2e-%d@customer.test>", i)
			mail := "From: Ada <ada@customer.test>\r\nTo: support@acme.test\r\nSubject: Printer trouble\r\nMessage-ID: " + msgID +
				"\r\n\r\nThe printer shows " + word + " on its display.\r\n"
			if err := smtp.SendMail(smtpIn, nil, "ada@customer.test", []string{"support@acme.test"}, []byte(mail)); err != nil {
				t.Fatalf("SMTP: %v", err)
			}

			cs := tr.connect(t, writer)
			if ir := cs.InitializeResult(); ir == nil || ir.ServerInfo.Name != "patchbay" {
				t.Fatalf("initialize: %+v", ir)
			}
			lt, err := cs.ListTools(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tl := range lt.Tools {
				names = append(names, tl.Name)
			}
			slices.Sort(names)
			want := []string{"add_internal_note", "apply_macro", "get_ticket", "list_channels", "list_view_tickets", "list_views",
				"lookup_user", "reply_to_ticket", "search_tickets", "update_ticket"}
			if !slices.Equal(names, want) {
				t.Fatalf("tools %v", names)
			}

			// The index follows the store within about a second: poll.
			var found struct {
				Tickets []map[string]any `json:"tickets"`
			}
			e2etest.Eventually(t, 15*time.Second, "the mail found by search_tickets", func() bool {
				mcpOK(t, mcpCall(t, cs, "search_tickets", map[string]any{"query": word}), &found)
				return len(found.Tickets) == 1
			})
			id := found.Tickets[0]["id"]
			if m, _ := found.Tickets[0]["match"].(map[string]any); m == nil || !strings.Contains(fmt.Sprint(m["snippet"]), word) {
				t.Errorf("search hit without a snippet of %q: %v", word, found.Tickets[0]["match"])
			}

			var got struct {
				Ticket    map[string]any   `json:"ticket"`
				Requester map[string]any   `json:"requester"`
				Comments  []map[string]any `json:"comments"`
			}
			mcpOK(t, mcpCall(t, cs, "get_ticket", map[string]any{"id": id}), &got)
			if got.Ticket["channel"] != "support" || got.Requester["email"] != "ada@customer.test" || len(got.Comments) != 1 ||
				!strings.Contains(fmt.Sprint(got.Comments[0]["body"]), word) {
				t.Fatalf("get_ticket: %+v", got)
			}
			version := fmt.Sprint(got.Ticket["version"])

			// The reply goes out by mail.
			before := len(sink.received())
			var reply struct {
				Comment map[string]any `json:"comment"`
			}
			mcpOK(t, mcpCall(t, cs, "reply_to_ticket", map[string]any{"id": id, "body": "Please switch it off and on.", "if_match": version,
				"idempotency_key": fmt.Sprintf("e2e-reply-%d", i)}), &reply)
			if d, _ := reply.Comment["delivery"].(map[string]any); d["status"] != "pending" {
				t.Fatalf("reply delivery %v", reply.Comment["delivery"])
			}
			e2etest.Eventually(t, 60*time.Second, "the reply at the relay", func() bool {
				for _, m := range sink.received()[before:] {
					if bytes.Contains(m, []byte("Please switch it off and on.")) && bytes.Contains(m, []byte(msgID)) {
						return true
					}
				}
				return false
			})

			var note struct {
				Comment map[string]any `json:"comment"`
			}
			mcpOK(t, mcpCall(t, cs, "add_internal_note", map[string]any{"id": id, "body": "Known firmware bug."}), &note)
			if note.Comment["public"] != false {
				t.Fatalf("note %v", note.Comment)
			}

			// The version read before the reply is stale now.
			if code := mcpErrCode(t, mcpCall(t, cs, "update_ticket", map[string]any{"id": id, "status": "solved", "if_match": version})); code != "precondition_failed" {
				t.Fatalf("stale if_match: %s", code)
			}
			mcpOK(t, mcpCall(t, cs, "get_ticket", map[string]any{"id": id}), &got)
			if got.Ticket["status"] == "solved" || len(got.Comments) != 3 {
				t.Fatalf("after the stale update: status %v, %d comments", got.Ticket["status"], len(got.Comments))
			}

			// A read token reads, and is refused on write tools.
			ro := tr.connect(t, reader)
			mcpOK(t, mcpCall(t, ro, "get_ticket", map[string]any{"id": id}), &got)
			for _, w := range []string{"reply_to_ticket", "add_internal_note"} {
				if code := mcpErrCode(t, mcpCall(t, ro, w, map[string]any{"id": id, "body": "from a read token"})); code != "insufficient_scope" {
					t.Fatalf("%s with a read token: %s", w, code)
				}
			}
			if code := mcpErrCode(t, mcpCall(t, ro, "update_ticket", map[string]any{"id": id, "status": "solved"})); code != "insufficient_scope" {
				t.Fatalf("update_ticket with a read token: %s", code)
			}
		})
	}

	t.Run("no token", func(t *testing.T) {
		req, _ := http.NewRequest("POST", core.URL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("/mcp without a token: %d", res.StatusCode)
		}
		// The stdio bridge refuses to start without a token, and with one
		// the core refuses, naming the problem on standard error.
		for _, tc := range []struct {
			token, want string
			code        int
		}{{"", "PB_E2E_MCP_TOKEN", 2}, {"pbt_not-a-real-token", "refused the token", 1}} {
			cmd := exec.Command(bin.Patchbay, "mcp", "-url", core.URL, "-token-env", "PB_E2E_MCP_TOKEN")
			cmd.Env = append(os.Environ(), "PB_E2E_MCP_TOKEN="+tc.token)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			cmd.Stdin = strings.NewReader("")
			err := cmd.Run()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("patchbay mcp with token %q: %v, stderr %q", tc.token, err, stderr.String())
			}
			if tc.token != "" && strings.Contains(stderr.String(), tc.token) {
				t.Errorf("the token appears on standard error: %q", stderr.String())
			}
		}
	})
}

func mcpConnect(t *testing.T, tr gomcp.Transport) *gomcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := gomcp.NewClient(&gomcp.Implementation{Name: "e2e", Version: "1"}, nil).Connect(ctx, tr, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}
