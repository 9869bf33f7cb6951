package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/patchbayhq/patchbay/internal/e2etest"
)

// The workspace tests drive headless Chromium through the DevTools protocol
// against the real patchbay serve with the email channel, one core and one
// browser shared by the subtests, which run in order.

// screenshotEnv names the directory to save screenshots of the main pages
// in (e.g. docs/screenshots); unset, none are taken.
const screenshotEnv = "PATCHBAY_SCREENSHOTS"

// chromiumPath finds Chromium. Missing, the test fails under CI=true (CI
// installs it: .ci/run) and is skipped elsewhere.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("PATCHBAY_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	msg := "the workspace browser tests need Chromium: install Debian's chromium (apt-get install -y chromium; .ci/run does it) or set PATCHBAY_CHROMIUM"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser is one headless Chromium tab with what it saw: console errors
// and every request URL.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	// logs returns the core's output, shown when a wait fails.
	logs func() string

	mu       sync.Mutex
	errs     []string
	requests []string
	// resumes counts event-stream requests that resumed (Last-Event-ID or
	// ?after=).
	resumes int
}

func startBrowser(t *testing.T, chrome, base string) *browser {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, base: base}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	console := chromedp.Console(ctx)
	requests := chromedp.Events(ctx, network.RequestWillBeSent)
	// Headers the network stack adds (Cookie, Last-Event-ID on an
	// EventSource's reconnection) are only in the extra info.
	extra := chromedp.Events(ctx, network.RequestWillBeSentExtraInfo)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			// A failed request is logged by the network source (e.g. the
			// 401 of GET /api/v1/session before signing in); those are
			// answers the workspace handles, not errors of the page.
			if (m.Type == chromedp.ConsoleError && m.Source != "network") || m.Type == chromedp.ConsoleException {
				b.mu.Lock()
				b.errs = append(b.errs, fmt.Sprintf("%s (%s:%d)", m.Text, m.URL, m.Line+1))
				b.mu.Unlock()
			}
		}
	}()
	go func() {
		for ev, err := range requests {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.requests = append(b.requests, ev.Request.URL)
			if strings.Contains(ev.Request.URL, "/api/v1/events") {
				if strings.Contains(ev.Request.URL, "after=") {
					b.resumes++
				}
			}
			b.mu.Unlock()
		}
	}()
	go func() {
		for ev, err := range extra {
			if err != nil {
				return
			}
			for k := range ev.Headers {
				if strings.EqualFold(k, "Last-Event-ID") {
					b.mu.Lock()
					b.resumes++
					b.mu.Unlock()
				}
			}
		}
	}()
	return b
}

// do runs actions, failing the test on an error.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\nconsole errors: %v", what, err, b.consoleErrors())
	}
}

// eval evaluates a JavaScript expression and decodes its value.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// wait polls a JavaScript predicate until it holds.
func (b *browser) wait(what, predicate string) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(60*time.Second)))
	if err != nil {
		body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		logs := ""
		if b.logs != nil {
			logs = b.logs()
			if len(logs) > 6000 {
				logs = logs[len(logs)-6000:]
			}
		}
		b.t.Fatalf("waiting for %s: %v\npage text:\n%s\nconsole errors: %v\ncore log (end):\n%s", what, err, body, b.consoleErrors(), logs)
	}
}

func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.errs)
}

func (b *browser) requestURLs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.requests)
}

// controlByLabel returns a CSS selector (#id) for the control whose <label>
// text is exactly name, failing when there is none.
func (b *browser) controlByLabel(name string) chromedp.CSS {
	b.t.Helper()
	id := eval[string](b, fmt.Sprintf(`(() => {
		const l = [...document.querySelectorAll('label')].find((l) => l.textContent.trim() === %q && l.control);
		return l ? l.control.id : '';
	})()`, name))
	if id == "" {
		b.t.Fatalf("no control labelled %q on %s", name, eval[string](b, `location.pathname`))
	}
	return chromedp.CSS("#" + id)
}

// axNames returns the accessible names of the interactive nodes of the
// page, by role, as Chromium computes them for screen readers; controls
// without a name are listed under "UNNAMED <role>".
func (b *browser) axNames() map[string][]string {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		b.t.Fatalf("accessibility tree: %v", err)
	}
	interactive := map[string]bool{"button": true, "textbox": true, "searchbox": true, "combobox": true, "checkbox": true, "link": true, "listbox": true}
	out := map[string][]string{}
	for _, n := range res.Nodes {
		if n.Ignored || n.Role == nil {
			continue
		}
		var role, name string
		_ = json.Unmarshal(n.Role.Value, &role)
		if n.Name != nil {
			_ = json.Unmarshal(n.Name.Value, &name)
		}
		if !interactive[role] {
			continue
		}
		if strings.TrimSpace(name) == "" {
			out["UNNAMED "+role] = append(out["UNNAMED "+role], fmt.Sprint(n.BackendDOMNodeID))
			continue
		}
		out[role] = append(out[role], strings.TrimSpace(name))
	}
	return out
}

// checkA11y fails when an interactive control has no accessible name and
// checks that want (role → names) are present.
// Chromium computes the tree after layout, so the check is retried for a
// while before it fails.
func (b *browser) checkA11y(page string, want map[string][]string) {
	b.t.Helper()
	var problems []string
	for deadline := time.Now().Add(15 * time.Second); ; {
		problems = problems[:0]
		names := b.axNames()
		for k, v := range names {
			if strings.HasPrefix(k, "UNNAMED ") {
				problems = append(problems, fmt.Sprintf("%s: %d %s control(s) without an accessible name", page, len(v), strings.TrimPrefix(k, "UNNAMED ")))
			}
		}
		for role, ns := range want {
			for _, n := range ns {
				if !slices.Contains(names[role], n) {
					problems = append(problems, fmt.Sprintf("%s: no %s named %q (have %q)", page, role, n, names[role]))
				}
			}
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, p := range problems {
		b.t.Error(p)
	}
}

// screenshot saves the page as PNG under $PATCHBAY_SCREENSHOTS, if set.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv(screenshotEnv)
	if dir == "" {
		return
	}
	if !filepath.IsAbs(dir) {
		root, err := e2etest.ModuleRoot()
		if err != nil {
			b.t.Fatal(err)
		}
		dir = filepath.Join(root, dir)
	}
	buf, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// sessionCookie returns the browser's session cookie value ("" if none).
func (b *browser) sessionCookie() string {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base + "/"}})
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == "patchbay_session" {
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
				b.t.Errorf("session cookie is not HttpOnly and SameSite=Strict: %+v", c)
			}
			return c.Value
		}
	}
	return ""
}

// refusePatch makes the browser's PATCH requests of the ticket answer 412
// precondition_failed without reaching the server; stop ends it.
func (b *browser) refusePatch(t *testing.T, ticketID int) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(b.ctx)
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	pattern := fmt.Sprintf("%s/api/v1/tickets/%d", b.base, ticketID)
	if _, err := chromedp.Call(b.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: pattern}}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range paused {
			if err != nil {
				return
			}
			if ev.Request.Method != http.MethodPatch {
				_, _ = chromedp.Call(b.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				continue
			}
			body := `{"error":{"code":"precondition_failed","message":"the ticket changed since you read it"}}`
			_, _ = chromedp.Call(b.ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
				RequestID: ev.RequestID, ResponseCode: http.StatusPreconditionFailed,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/json"}},
				Body:            []byte(body),
			})
		}
	}()
	return func() {
		_, _ = chromedp.Call(b.ctx, fetch.Disable, cdp.Empty{})
		cancel()
		<-done
	}
}

// press types one key as a keyboard does: a keyDown carrying the key's
// text (so a handler that prevents the default also prevents the typing),
// then a keyUp. key is a printable character, "Enter" or "Escape".
func (b *browser) press(key string) {
	b.t.Helper()
	down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: key}
	switch key {
	case "Enter":
		down.Code, down.Text, down.WindowsVirtualKeyCode = "Enter", "\r", 13
	case "Escape":
		down.Code, down.WindowsVirtualKeyCode = "Escape", 27
	default:
		r := []rune(key)[0]
		down.Text = key
		if r >= 'a' && r <= 'z' {
			down.Code, down.WindowsVirtualKeyCode = "Key"+strings.ToUpper(key), int64(r-'a'+'A')
		} else if key == "/" {
			down.Code, down.WindowsVirtualKeyCode = "Slash", 191
		}
	}
	up := down
	up.Type, up.Text = input.DispatchKeyEventTypeKeyUp, ""
	for _, ev := range []input.DispatchKeyEventParams{down, up} {
		if _, err := chromedp.Call(b.ctx, input.DispatchKeyEvent, ev); err != nil {
			b.t.Fatalf("key %s: %v", key, err)
		}
	}
}

// apiAs sends an API request with a bearer token.
func apiAs(t *testing.T, base, token, method, path string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(buf))
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func sendMail(t *testing.T, addr, from, subject, body string) {
	t.Helper()
	msg := fmt.Sprintf("From: Ada Lovelace <%s>\r\nTo: support@acme.test\r\nSubject: %s\r\nMessage-ID: <%d@customer.test>\r\nDate: %s\r\n\r\n%s\r\n",
		from, subject, time.Now().UnixNano(), time.Now().Format(time.RFC1123Z), body)
	if err := smtp.SendMail(addr, nil, from, []string{"support@acme.test"}, []byte(msg)); err != nil {
		t.Fatalf("smtp: %v", err)
	}
}

func TestWorkspaceInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the real binaries and a browser")
	}
	chrome := chromiumPath(t)
	bin := binaries(t)
	sink := startMailSink(t)
	smtpAddr := e2etest.FreePort(t)
	core := e2etest.Start(t, bin, e2etest.Options{
		Channels: fmt.Sprintf(`
channel "support" {
  plugin = "email"
  brand  = "acme"
  config {
    smtp_listen = %q
    address     = "support@acme.test"
    outbound    = "smtp://%s?tls=none"
  }
}
`, smtpAddr, sink.addr),
		WaitRunning: []string{"support"},
	})

	// An agent with a password, set by the admin through the API.
	var tok struct {
		UserID uint64 `json:"user_id"`
		Token  string `json:"token"`
	}
	if st := core.JSON("POST", "/api/v1/tokens", map[string]any{"name": "Grace Hopper", "email": "grace@acme.test"}, &tok); st != 201 {
		t.Fatalf("create agent: %d", st)
	}
	if st, body := core.Do("PUT", fmt.Sprintf("/api/v1/users/%d/password", tok.UserID), map[string]any{"password": "correct horse battery"}); st != 204 {
		t.Fatalf("set password: %d %s", st, body)
	}

	b := startBrowser(t, chrome, core.URL)
	b.logs = core.Logs
	// Each step needs the ones before it: stop at the first that fails.
	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	var ticketID int
	subject := fmt.Sprintf("Printer on fire %d", time.Now().UnixNano()%100000)

	step("sign in with the token", func(t *testing.T) {
		b.t = t
		b.do("open the workspace", chromedp.Navigate(core.URL+"/"))
		b.wait("the sign-in page", `location.pathname === '/signin' && !!document.querySelector('#token-form')`)
		b.checkA11y("sign-in", map[string][]string{"textbox": {"Email", "Password", "API token"}, "button": {"Sign in"}})
		b.screenshot("signin")
		b.do("sign in", chromedp.SendKeys(b.controlByLabel("API token"), e2etest.AdminToken),
			chromedp.Click(chromedp.CSS("#token-form button[type=submit]")))
		b.wait("the inbox", `!!document.querySelector('#ticket-list') && [...document.querySelectorAll('#topbar button')].some((x) => x.textContent === 'Sign out')`)
		if v := b.sessionCookie(); v == "" {
			t.Fatal("no session cookie after signing in")
		}
	})

	step("a mail appears in the inbox without a reload", func(t *testing.T) {
		b.t = t
		eval[bool](b, `(window.__noReload = true)`)
		b.wait("the event stream", `document.querySelector('#live.on') !== null`)
		sendMail(t, smtpAddr, "ada@customer.test", subject, "It is actually on fire.")
		b.wait("the new ticket in the list", fmt.Sprintf(`[...document.querySelectorAll('#ticket-list a')].some((a) => a.textContent.includes(%q))`, subject))
		if !eval[bool](b, `window.__noReload === true`) {
			t.Fatal("the page was reloaded")
		}
		ticketID = eval[int](b, fmt.Sprintf(`Number([...document.querySelectorAll('#ticket-list li')].find((li) => li.textContent.includes(%q)).dataset.id)`, subject))
		want := map[string][]string{"link": {"#" + fmt.Sprint(ticketID) + " " + subject}}
		if st, _ := core.Do("GET", "/api/v1/search?q=printer", nil); st == 200 {
			want["searchbox"] = []string{"Search"}
		} else if eval[bool](b, `!document.getElementById('search-form').hidden`) {
			t.Errorf("the search box is shown while the server answers %d to a search", st)
		}
		b.checkA11y("inbox", want)
		b.screenshot("inbox")
	})

	step("reply and watch the delivery turn sent", func(t *testing.T) {
		b.t = t
		b.do("open the ticket", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#ticket-list li[data-id="%d"] a`, ticketID))))
		b.wait("the conversation", `!!document.querySelector('.comment.customer') && document.querySelector('.comment.customer .body').textContent.includes('actually on fire')`)
		b.checkA11y("ticket", map[string][]string{"textbox": {"Reply"}, "button": {"Send"}, "checkbox": {"Internal note"}, "combobox": {"Status"}})
		b.do("write the reply", chromedp.SendKeys(b.controlByLabel("Reply"), "Please step away from the printer."))
		if txt := eval[string](b, `document.querySelector('form.composer button[type=submit]').textContent`); txt != "Send" {
			t.Fatalf("composer button %q", txt)
		}
		b.do("send", chromedp.Click(chromedp.CSS(`form.composer button[type=submit]`)))
		b.wait("the reply's delivery status to turn sent", `[...document.querySelectorAll('.comment.reply')].some((c) => c.textContent.includes('step away') && c.querySelector('[data-delivery="sent"]'))`)
		e2etest.Eventually(t, 10*time.Second, "the relay to receive the reply", func() bool {
			for _, m := range sink.received() {
				if bytes.Contains(m, []byte("step away from the printer")) {
					return true
				}
			}
			return false
		})
		b.screenshot("ticket")
	})

	step("an internal note is not sent", func(t *testing.T) {
		b.t = t
		b.do("write a note", chromedp.Click(b.controlByLabel("Internal note")),
			chromedp.SendKeys(b.controlByLabel("Reply"), "Checked the fuser: it is the toner."),
			chromedp.Click(chromedp.CSS(`form.composer button[type=submit]`)))
		b.wait("the note in the conversation", `[...document.querySelectorAll('.comment.note')].some((c) => c.textContent.includes('the toner'))`)
		var list struct {
			Comments []struct {
				Body     string `json:"body"`
				Public   bool   `json:"public"`
				Delivery any    `json:"delivery"`
			} `json:"comments"`
		}
		core.JSON("GET", fmt.Sprintf("/api/v1/tickets/%d/comments", ticketID), nil, &list)
		found := false
		for _, c := range list.Comments {
			if strings.Contains(c.Body, "the toner") {
				found = true
				if c.Public || c.Delivery != nil {
					t.Fatalf("the note is public or has a delivery: %+v", c)
				}
			}
		}
		if !found {
			t.Fatal("the note is not stored")
		}
	})

	step("another agent's presence is shown", func(t *testing.T) {
		b.t = t
		st, body := apiAs(t, core.URL, tok.Token, "POST", fmt.Sprintf("/api/v1/tickets/%d/presence", ticketID), map[string]any{"state": "replying"})
		if st == http.StatusNotFound {
			t.Skip("this server has no presence route")
		}
		if st != 200 {
			t.Fatalf("presence: %d %s", st, body)
		}
		b.wait("Grace replying", `document.querySelector('.presence').textContent.includes('Grace Hopper is replying')`)
		if st, body := apiAs(t, core.URL, tok.Token, "DELETE", fmt.Sprintf("/api/v1/tickets/%d/presence", ticketID), nil); st != 204 {
			t.Fatalf("leave: %d %s", st, body)
		}
		b.wait("Grace gone", `!document.querySelector('.presence').textContent.includes('Grace Hopper')`)
	})

	step("keyboard shortcuts", func(t *testing.T) {
		b.t = t
		b.do("go to the inbox", chromedp.Click(chromedp.CSS(`#topbar nav a[href="/"]:not(.brand)`)))
		b.wait("the list", `document.querySelectorAll('#ticket-list li.row').length > 0`)
		b.press("j")
		b.wait("the first ticket selected", `document.activeElement.closest('li.row.selected') !== null`)
		b.press("Enter")
		b.wait("the ticket", `location.pathname.startsWith('/tickets/') && !!document.querySelector('form.composer')`)
		b.press("n")
		b.wait("the note composer", `document.activeElement.id === 'reply-body' && document.getElementById('note-toggle').checked`)
		b.press("Escape")
		b.press("r")
		b.wait("the reply composer", `document.activeElement.id === 'reply-body' && !document.getElementById('note-toggle').checked`)
		if v := eval[string](b, `document.getElementById('reply-body').value`); v != "" {
			t.Errorf("the shortcut keys were typed into the composer: %q", v)
		}
		b.press("Escape")
		b.press("/")
		if eval[bool](b, `!document.getElementById('search-form').hidden`) {
			b.wait("the search box focused", `document.activeElement.id === 'search'`)
		}
	})

	step("a concurrent change is shown, not overwritten", func(t *testing.T) {
		b.t = t
		var tk map[string]any
		core.JSON("GET", fmt.Sprintf("/api/v1/tickets/%d", ticketID), nil, &tk)
		_, versioned := tk["version"]
		if !versioned {
			// This server has no ticket versions, so it cannot refuse a
			// stale change itself: stand in for it in the browser's
			// network stack, answering the page's PATCH with the 412 the
			// API contract specifies after the concurrent change is made.
			stop := b.refusePatch(t, ticketID)
			defer stop()
		}
		b.do("edit the tags", chromedp.SendKeys(b.controlByLabel("Tags"), "from-browser"))
		if st, body := core.Do("PATCH", fmt.Sprintf("/api/v1/tickets/%d", ticketID), map[string]any{"tags": []string{"from-api"}}); st != 200 {
			t.Fatalf("concurrent PATCH: %d %s", st, body)
		}
		b.do("save", chromedp.Click(chromedp.CSS(`form.props button[type=submit]`)))
		b.wait("the conflict message with the new state", `(() => { const c = document.querySelector('.conflict'); return c && !c.hidden && c.textContent.includes('changed by someone else') && c.textContent.includes('from-api') })()`)
		if v := eval[string](b, `document.querySelector('form.props input[name=tags]').value`); v != "from-api" {
			t.Errorf("the Tags field shows %q, not the new state", v)
		}
		core.JSON("GET", fmt.Sprintf("/api/v1/tickets/%d", ticketID), nil, &tk)
		if fmt.Sprint(tk["tags"]) != "[from-api]" {
			t.Fatalf("the other change was overwritten: tags %v", tk["tags"])
		}
		b.screenshot("conflict")
	})

	step("apply a macro after its preview, attach a file to a note", func(t *testing.T) {
		b.t = t
		var macro struct {
			ID int `json:"id"`
		}
		if st := core.JSON("POST", "/api/v1/macros", map[string]any{"title": "Escalate to hardware", "actions": []any{
			map[string]any{"field": "add_tags", "value": []string{"hardware"}},
			map[string]any{"field": "internal_note", "value": "Escalated: {{ticket.subject}}"},
		}}, &macro); st != 201 {
			t.Fatalf("create macro: %d", st)
		}
		b.do("reload the ticket", chromedp.Navigate(fmt.Sprintf("%s/tickets/%d", core.URL, ticketID)))
		b.wait("the macro list", `!!document.querySelector('select[name=macro]')`)
		eval[bool](b, fmt.Sprintf(`(() => { const s = document.querySelector('select[name=macro]'); s.value = '%d'; s.dispatchEvent(new Event('change')); return true })()`, macro.ID))
		b.wait("the preview", fmt.Sprintf(`(() => { const p = document.querySelector('.macros .preview').textContent; return p.includes('hardware') && p.includes('Escalated: %s') })()`, subject))
		if n := eval[int](b, `document.querySelectorAll('.comment.note').length`); n != 1 {
			t.Fatalf("the preview changed the ticket: %d notes", n)
		}
		b.do("apply", chromedp.Click(chromedp.CSS(`.macros button`)))
		b.wait("the macro's note and tag", `document.querySelectorAll('.comment.note').length === 2 && document.querySelector('form.props input[name=tags]').value.includes('hardware')`)

		file := filepath.Join(t.TempDir(), "printer-log.txt")
		if err := os.WriteFile(file, []byte("fuser: 230C, toner: empty\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if !eval[bool](b, `document.getElementById('note-toggle').checked`) {
			b.do("note mode", chromedp.Click(b.controlByLabel("Internal note")))
		}
		b.do("attach and send", chromedp.SetUploadFiles(b.controlByLabel("Attach files"), []string{file}),
			chromedp.SendKeys(b.controlByLabel("Reply"), "The printer's log is attached."),
			chromedp.Click(chromedp.CSS(`form.composer button[type=submit]`)))
		b.wait("the attachment link", `[...document.querySelectorAll('.comment.note .attachments a')].some((a) => a.textContent === 'printer-log.txt')`)
		got := eval[string](b, `(async () => { const a = [...document.querySelectorAll('.comment.note .attachments a')].find((a) => a.textContent === 'printer-log.txt'); const r = await fetch(a.href); return r.status + ' ' + await r.text() })()`)
		if got != "200 fuser: 230C, toner: empty\n" {
			t.Fatalf("downloading the attachment: %q", got)
		}
	})

	step("admin pages", func(t *testing.T) {
		b.t = t
		b.do("open the channels", chromedp.Navigate(core.URL+"/admin/channels"))
		b.wait("the channel table", `[...document.querySelectorAll('table th')].some((x) => x.textContent === 'support')`)
		b.screenshot("admin-channels")
		b.do("open the agents", chromedp.Navigate(core.URL+"/admin/agents"))
		b.wait("the agent list", `document.body.textContent.includes('grace@acme.test')`)
		b.checkA11y("admin agents", nil)
		// An agent added here can sign in with the password given.
		b.do("add an agent", chromedp.SendKeys(b.controlByLabel("Name"), "Katherine Johnson"),
			chromedp.SendKeys(b.controlByLabel("Email"), "katherine@acme.test"),
			chromedp.SendKeys(b.controlByLabel("Password"), "orbital mechanics"),
			chromedp.Click(chromedp.CSS(`form.card button[type=submit]`)))
		b.wait("the new agent in the list", `[...document.querySelectorAll('table th')].some((x) => x.textContent === 'Katherine Johnson')`)
		if st, body := apiAs(t, core.URL, "", "POST", "/api/v1/session", map[string]any{"email": "katherine@acme.test", "password": "orbital mechanics"}); st != 201 {
			t.Fatalf("the new agent cannot sign in: %d %s", st, body)
		}
		// Deactivating removes the password and revokes the agent's tokens.
		if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`(window.confirm = () => true, true)`)); err != nil {
			t.Fatal(err)
		}
		b.do("deactivate", chromedp.Click(chromedp.CSS(`button[aria-label="Deactivate Katherine Johnson"]`)))
		b.wait("the confirmation", `document.getElementById('toast').textContent === 'Katherine Johnson deactivated'`)
		if st, _ := apiAs(t, core.URL, "", "POST", "/api/v1/session", map[string]any{"email": "katherine@acme.test", "password": "orbital mechanics"}); st != 401 {
			t.Fatalf("a deactivated agent signs in: %d", st)
		}

		// Rules are switched off with their checkbox, and edited as JSON the
		// server validates.
		b.do("open the macros", chromedp.Navigate(core.URL+"/admin/macros"))
		b.wait("the macro list", `!!document.querySelector('input[aria-label="Escalate to hardware active"]')`)
		b.checkA11y("admin macros", map[string][]string{"checkbox": {"Escalate to hardware active"}})
		b.do("switch it off", chromedp.Click(chromedp.CSS(`input[aria-label="Escalate to hardware active"]`)))
		e2etest.Eventually(t, 10*time.Second, "the macro to be inactive", func() bool {
			var m struct {
				Macros []struct {
					Active bool `json:"active"`
				} `json:"macros"`
			}
			core.JSON("GET", "/api/v1/macros", nil, &m)
			return len(m.Macros) == 1 && !m.Macros[0].Active
		})
		b.wait("the list drawn again", `document.getElementById('toast').textContent === 'Disabled' && !document.querySelector('.admin-body[aria-busy]') && !!document.querySelector('input[aria-label="Escalate to hardware active"]') && !document.querySelector('input[aria-label="Escalate to hardware active"]').checked`)
		b.do("edit", chromedp.Click(chromedp.CSS(`.admin-body table button`)))
		b.wait("the editor", `!!document.querySelector('textarea.json')`)
		eval[bool](b, `(() => { const t = document.querySelector('textarea.json'); t.value = JSON.stringify({title: 'Escalate', actions: [{field: 'no_such_action', value: 1}]}); return true })()`)
		b.do("save", chromedp.Click(chromedp.CSS(`.editor button[type=submit]`)))
		b.wait("the server's refusal naming the field", `(() => { const e = document.querySelector('.editor .error'); return e && !e.hidden && e.textContent.startsWith('actions[0]') })()`)
		b.screenshot("admin-macros")
	})

	step("works 360 px wide", func(t *testing.T) {
		b.t = t
		b.do("narrow the window", chromedp.EmulateViewport(360, 740), chromedp.Navigate(fmt.Sprintf("%s/tickets/%d", core.URL, ticketID)))
		b.wait("the ticket", `!!document.querySelector('.comment.customer')`)
		if w := eval[int](b, `document.documentElement.scrollWidth`); w > 360 {
			t.Errorf("the ticket page is %d px wide at 360 px", w)
		}
		b.screenshot("ticket-mobile")
		b.do("widen the window", chromedp.EmulateViewport(1280, 900))
	})

	step("dark mode follows the system", func(t *testing.T) {
		b.t = t
		light := eval[string](b, `getComputedStyle(document.body).backgroundColor`)
		if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
			t.Fatal(err)
		}
		defer func() { _, _ = chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}) }()
		b.wait("dark colours", fmt.Sprintf(`getComputedStyle(document.body).backgroundColor !== %q`, light))
		if bg := eval[string](b, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(20, 23, 28)" {
			t.Errorf("dark background %s", bg)
		}
		b.screenshot("ticket-dark")
	})

	step("sign out ends the session", func(t *testing.T) {
		b.t = t
		old := b.sessionCookie()
		b.do("sign out", chromedp.Click(chromedp.CSS(`#topbar .me button`)))
		b.wait("the sign-in page", `location.pathname === '/signin' && !!document.querySelector('#password-form')`)
		req, _ := http.NewRequest("GET", core.URL+"/api/v1/me", nil)
		req.AddCookie(&http.Cookie{Name: "patchbay_session", Value: old})
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Fatalf("the signed-out session answers %d", res.StatusCode)
		}
	})

	step("sign in with a password", func(t *testing.T) {
		b.t = t
		b.do("sign in", chromedp.SendKeys(b.controlByLabel("Email"), "grace@acme.test"),
			chromedp.SendKeys(b.controlByLabel("Password"), "correct horse battery"),
			chromedp.Click(chromedp.CSS("#password-form button[type=submit]")))
		b.wait("the inbox as Grace", `!!document.querySelector('#ticket-list') && document.querySelector('#topbar .who').textContent === 'Grace Hopper'`)
		b.wait("the ticket in the list", fmt.Sprintf(`[...document.querySelectorAll('#ticket-list a')].some((a) => a.textContent.includes(%q))`, subject))
		if n := eval[int](b, `document.querySelectorAll('#topbar a[href="/admin"]').length`); n != 0 {
			t.Error("an agent sees the Admin link")
		}
	})

	step("no request left the origin and no console errors", func(t *testing.T) {
		b.t = t
		for _, u := range b.requestURLs() {
			if !strings.HasPrefix(u, core.URL+"/") && !strings.HasPrefix(u, "data:") && u != "about:blank" {
				t.Errorf("a request left the origin: %s", u)
			}
		}
		if errs := b.consoleErrors(); len(errs) > 0 {
			t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
		}
		if got := len(sink.received()); got != 1 {
			t.Errorf("the relay received %d mails, want only the reply", got)
		}
	})

	step("the page says when the core is unreachable", func(t *testing.T) {
		b.t = t
		// An event the page receives first, so that its stream has an id
		// to resume from.
		if st, body := core.Do("PATCH", fmt.Sprintf("/api/v1/tickets/%d", ticketID), map[string]any{"priority": "high"}); st != 200 {
			t.Fatalf("PATCH: %d %s", st, body)
		}
		b.wait("the change in the list", fmt.Sprintf(`[...document.querySelectorAll('#ticket-list li.row')].some((li) => li.dataset.id === '%d' && li.textContent.includes('high'))`, ticketID))
		core.Stop()
		b.wait("the unreachable banner", `(() => { const x = document.getElementById('banner'); return !x.hidden && x.textContent.includes('cannot be reached') })()`)
		if eval[int](b, `document.querySelectorAll('#ticket-list li.row').length`) == 0 {
			t.Error("the page went blank")
		}
	})

	step("the stream resumes where it stopped when the core is back", func(t *testing.T) {
		b.t = t
		b.mu.Lock()
		b.resumes = 0
		b.mu.Unlock()
		core.Restart()
		b.wait("the banner gone and the stream back", `document.getElementById('banner').hidden && document.querySelector('#live.on') !== null`)
		later := subject + " again"
		sendMail(t, smtpAddr, "ada@customer.test", later, "Now the scanner too.")
		b.wait("the new ticket", fmt.Sprintf(`[...document.querySelectorAll('#ticket-list a')].some((a) => a.textContent.includes(%q))`, later))
		b.mu.Lock()
		resumes := b.resumes
		b.mu.Unlock()
		if resumes == 0 {
			t.Error("the event stream was reconnected without a resume point (Last-Event-ID or after)")
		}
	})
}
