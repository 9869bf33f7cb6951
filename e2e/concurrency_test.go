package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/patchbayhq/patchbay/internal/bench"
	"github.com/patchbayhq/patchbay/internal/e2etest"
)

// TestLostUpdateAnswers412 runs the lost update against the real core
// and WhatsApp plugin: a customer's message makes a ticket; agents A and
// B read it; A sets tags [billing, vip] with If-Match; B, from the same
// read, sets [billing, refund] with the now stale If-Match and gets 412
// precondition_failed, and A's tags survive. A later customer message
// moves the version on, so A's reply sent with A's ETag is refused too.
func TestLostUpdateAnswers412(t *testing.T) {
	t.Parallel()
	bin := binaries(t)
	fx := newWA(t)
	core := e2etest.Start(t, bin, e2etest.Options{Channels: fx.hcl("wa"), Env: fx.env(), WaitRunning: []string{"wa"}})
	send := func(wamid, text string) {
		body, sig := fx.message("3319876543", wamid, text)
		if a, err := postHook(context.Background(), http.DefaultClient, core.URL+"/hooks/wa", body, bench.WhatsAppSignatureHeader, sig); err != nil || a.status != 200 {
			t.Fatalf("message %s: %v %+v", wamid, err, a)
		}
	}
	send("wamid.lost.1", "my invoice is wrong")
	tks := listTickets(t, core, nil, nil)
	if len(tks) != 1 {
		t.Fatalf("tickets: %+v", tks)
	}
	path := fmt.Sprintf("/api/v1/tickets/%d", tks[0].ID)

	token := func(name, email string) string {
		var out struct {
			Token string `json:"token"`
		}
		if st := core.JSON("POST", "/api/v1/tokens", map[string]any{"name": name, "email": email}, &out); st != http.StatusCreated {
			t.Fatalf("token for %s: %d", name, st)
		}
		return out.Token
	}
	a, b := token("Agent A", "a@lost.test"), token("Agent B", "b@lost.test")
	call := func(tok, method, p string, body any, ifMatch string) (int, http.Header, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			buf, _ := json.Marshal(body)
			rd = bytes.NewReader(buf)
		}
		req, err := http.NewRequest(method, core.URL+p, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if ifMatch != "" {
			req.Header.Set("If-Match", ifMatch)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, out
	}
	// Both read the same version.
	_, ha, readA := call(a, "GET", path, nil, "")
	_, hb, _ := call(b, "GET", path, nil, "")
	etag := ha.Get("ETag")
	var read struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(readA, &read); err != nil || etag == "" || hb.Get("ETag") != etag || etag != `"`+read.Version+`"` {
		t.Fatalf("reads: ETag %q / %q, version %q (%v)", etag, hb.Get("ETag"), read.Version, err)
	}
	st, hA, body := call(a, "PATCH", path, map[string]any{"tags": []string{"billing", "vip"}}, etag)
	if st != http.StatusOK || hA.Get("ETag") == etag {
		t.Fatalf("A's patch: %d ETag %q: %s", st, hA.Get("ETag"), body)
	}
	st, _, body = call(b, "PATCH", path, map[string]any{"tags": []string{"billing", "refund"}}, etag)
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if st != http.StatusPreconditionFailed || json.Unmarshal(body, &e) != nil || e.Error.Code != "precondition_failed" {
		t.Fatalf("B's stale patch: %d %s", st, body)
	}
	var now apiTicket
	if core.JSON("GET", path, nil, &now) != http.StatusOK || !slices.Equal(now.Tags, []string{"billing", "vip"}) {
		t.Fatalf("A's tags lost: %+v", now.Tags)
	}
	// The customer writes again: A's ETag is stale now, so A's reply with
	// it is refused and nothing is sent.
	send("wamid.lost.2", "are you there?")
	st, _, body = call(a, "POST", path+"/comments", map[string]any{"body": "checking", "public": true}, hA.Get("ETag"))
	if st != http.StatusPreconditionFailed {
		t.Fatalf("reply after a customer message with the old ETag: %d %s", st, body)
	}
	if n := len(listComments(t, core, tks[0].ID)); n != 2 {
		t.Fatalf("%d comments, want the customer's 2", n)
	}
}
