package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/internal/bench"
	"github.com/patchbayhq/patchbay/internal/e2etest"
)

// waFixture is a WhatsApp channel against a loopback fake Graph API.
type waFixture struct {
	phoneNumberID, token, secret, verify string
	graph                                *bench.FakeGraph
}

func newWA(t *testing.T) *waFixture {
	t.Helper()
	f := &waFixture{
		phoneNumberID: "106540352242922",
		token:         "EAAwatoken-e2e-7b1c9d",
		secret:        "wa-app-secret-e2e-4f8a2c",
		verify:        "wa-verify-e2e-91d3",
	}
	g, err := bench.NewFakeGraph(f.phoneNumberID, f.token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	f.graph = g
	return f
}

// hcl is the channel block for instance name.
func (f *waFixture) hcl(name string) string {
	return fmt.Sprintf(`
channel %q {
  plugin = "whatsapp"
  config {
    phone_number_id = %q
    access_token    = env("E2E_WA_TOKEN")
    app_secret      = env("E2E_WA_SECRET")
    verify_token    = env("E2E_WA_VERIFY")
    api_url         = %q
  }
}
`, name, f.phoneNumberID, f.graph.URL)
}

func (f *waFixture) env() []string {
	return []string{"E2E_WA_TOKEN=" + f.token, "E2E_WA_SECRET=" + f.secret, "E2E_WA_VERIFY=" + f.verify}
}

// message is a signed notification carrying one text message.
func (f *waFixture) message(waID, wamid, text string) (body []byte, sig string) {
	body = bench.WhatsAppText(f.phoneNumberID, waID, "Customer "+waID, wamid, text, time.Now())
	return body, bench.SignWhatsApp(f.secret, body)
}

// loadClient is an HTTP client for many concurrent loopback requests.
func loadClient(conns int) *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns},
	}
}

type hookAnswer struct {
	status     int
	retryAfter string
	body       string
}

// postHook posts a webhook body with an optional signature header.
func postHook(ctx context.Context, hc *http.Client, u string, body []byte, sigHeader, sig string) (hookAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return hookAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set(sigHeader, sig)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return hookAnswer{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return hookAnswer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b)}, nil
}

// apiTicket and apiComment are the API's JSON, as far as the suites read it.
type apiTicket struct {
	ID              uint64    `json:"id"`
	Status          string    `json:"status"`
	Channel         string    `json:"channel"`
	Via             string    `json:"via"`
	ConversationKey string    `json:"conversation_key"`
	FollowUpOf      uint64    `json:"follow_up_of"`
	UpdatedAt       time.Time `json:"updated_at"`
	Tags            []string  `json:"tags"`
}

type apiComment struct {
	ID         uint64 `json:"id"`
	TicketID   uint64 `json:"ticket_id"`
	Body       string `json:"body"`
	Public     bool   `json:"public"`
	ExternalID string `json:"external_id"`
	Delivery   *struct {
		Status     string `json:"status"`
		Error      string `json:"error"`
		Attempts   int    `json:"attempts"`
		ExternalID string `json:"external_id"`
	} `json:"delivery"`
}

// listTickets pages through GET /api/v1/tickets?query, newest first, and
// stops early when stop returns true for a ticket (nil: read all).
func listTickets(t *testing.T, c *e2etest.Core, query url.Values, stop func(apiTicket) bool) []apiTicket {
	t.Helper()
	var all []apiTicket
	cursor := ""
	for page := 0; page < 100000; page++ {
		q := url.Values{}
		for k, v := range query {
			q[k] = v
		}
		q.Set("limit", "100")
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var out struct {
			Tickets    []apiTicket `json:"tickets"`
			NextCursor *string     `json:"next_cursor"`
		}
		if st := c.JSON("GET", "/api/v1/tickets?"+q.Encode(), nil, &out); st != http.StatusOK {
			t.Fatalf("list tickets: status %d", st)
		}
		for _, tk := range out.Tickets {
			if stop != nil && stop(tk) {
				return all
			}
			all = append(all, tk)
		}
		if out.NextCursor == nil || *out.NextCursor == "" {
			return all
		}
		cursor = *out.NextCursor
	}
	t.Fatal("list tickets: too many pages")
	return nil
}

// listComments pages through a ticket's comments, oldest first.
func listComments(t *testing.T, c *e2etest.Core, id uint64) []apiComment {
	t.Helper()
	var all []apiComment
	cursor := ""
	for page := 0; page < 100000; page++ {
		p := "/api/v1/tickets/" + strconv.FormatUint(id, 10) + "/comments?limit=100"
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		var out struct {
			Comments   []apiComment `json:"comments"`
			NextCursor *string      `json:"next_cursor"`
		}
		if st := c.JSON("GET", p, nil, &out); st != http.StatusOK {
			t.Fatalf("list comments of %d: status %d", id, st)
		}
		all = append(all, out.Comments...)
		if out.NextCursor == nil || *out.NextCursor == "" {
			return all
		}
		cursor = *out.NextCursor
	}
	t.Fatal("list comments: too many pages")
	return nil
}
