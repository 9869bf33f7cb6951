package rules

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/patchbayhq/patchbay/core/store"
)

// Options configure an Engine. Every field has a default.
type Options struct {
	// Logger receives the engine's logs (never secrets); nil discards.
	Logger hclog.Logger
	// Clock is the time source of automations and webhook retries (tests
	// inject one, shared with the store); nil is time.Now.
	Clock func() time.Time
	// Registerer receives the engine's metrics; nil registers none.
	Registerer prometheus.Registerer
	// AutomationInterval is how often automations run (default 1m).
	AutomationInterval time.Duration
	// AutoCloseAfter is the delay of the standard "close solved tickets"
	// automation created on first start (default 96h, Zendesk's 4 days).
	// It is then an ordinary automation an admin may edit or delete.
	AutoCloseAfter time.Duration
	// EventBatch is how many events one trigger transaction reads at most
	// (default 256).
	EventBatch int
	// MaxTriggerPasses bounds how many times the trigger set restarts
	// after a trigger fired within one update (default 10).
	MaxTriggerPasses int
	// HTTPClient makes webhook calls; nil is a client with WebhookTimeout
	// that enforces WebhookNetworks on every connection and never follows
	// redirects. A client given here is used as is (its own dialer decides
	// where it may connect).
	HTTPClient *http.Client
	// WebhookNetworks says which internal networks webhooks may reach (none
	// by default; see NetworkPolicy). A webhook whose URL names a literal
	// address it refuses cannot be saved.
	WebhookNetworks NetworkPolicy
	// WebhookTimeout bounds one webhook call (default 10s).
	WebhookTimeout time.Duration
	// WebhookMaxAttempts ends retrying with status failed (default 10).
	WebhookMaxAttempts int
	// WebhookWorkers is how many webhook calls run at once (default 4).
	WebhookWorkers int
	// WebhookBaseBackoff is the first retry delay (default 10s), doubled on
	// each retry up to WebhookMaxBackoff (default 1h), with jitter.
	WebhookBaseBackoff, WebhookMaxBackoff time.Duration
	// DeliveryRetention is how long finished webhook deliveries stay in
	// the delivery log (default 30 days).
	DeliveryRetention time.Duration
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.AutomationInterval <= 0 {
		o.AutomationInterval = time.Minute
	}
	if o.AutoCloseAfter <= 0 {
		o.AutoCloseAfter = 96 * time.Hour
	}
	if o.EventBatch <= 0 {
		o.EventBatch = 256
	}
	if o.MaxTriggerPasses <= 0 {
		o.MaxTriggerPasses = 10
	}
	if o.WebhookTimeout <= 0 {
		o.WebhookTimeout = 10 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = o.WebhookNetworks.client(o.WebhookTimeout)
	}
	if o.WebhookMaxAttempts <= 0 {
		o.WebhookMaxAttempts = 10
	}
	if o.WebhookWorkers <= 0 {
		o.WebhookWorkers = 4
	}
	if o.WebhookBaseBackoff <= 0 {
		o.WebhookBaseBackoff = 10 * time.Second
	}
	if o.WebhookMaxBackoff <= 0 {
		o.WebhookMaxBackoff = time.Hour
	}
	if o.DeliveryRetention <= 0 {
		o.DeliveryRetention = 30 * 24 * time.Hour
	}
}

// Engine runs triggers, automations and webhook deliveries, and keeps the
// definitions of every rule kind. Create it with New, start it with Run.
type Engine struct {
	st   *store.Store
	opts Options
	log  hclog.Logger
	m    *metrics

	mu    sync.Mutex
	cache map[Kind][]*Rule // active rules by kind, ordered; nil: reload
	arc   map[string]*AutoReply
	gen   uint64 // bumped by every definition change

	// marks is what the follower knows of the source markers (triggers.go
	// sourceMarks). markWrites counts the engine's updates that may have
	// written markers (and webhook deliveries), bumped when each one has
	// ended; marksInFlight counts those running. See writesQuiet.
	marksMu       sync.Mutex
	marks         markKnowledge
	markWrites    atomic.Uint64
	marksInFlight atomic.Int64
}

// beginMarking is called before an update that may write source markers
// or webhook deliveries; endMarking(wrote) after it returned.
func (e *Engine) beginMarking() { e.marksInFlight.Add(1) }

func (e *Engine) endMarking(wrote bool) {
	if wrote {
		e.markWrites.Add(1) // before the in-flight count drops: see writesQuiet
	}
	e.marksInFlight.Add(-1)
}

// writesGen returns the count of ended marker-writing updates, and whether
// none was running when it was read. Knowledge taken from a read that
// started when the count was gen is still exact if writesGen later
// returns (gen, true): an update that committed markers since then has
// either ended (the count moved) or is still running.
func (e *Engine) writesGen() (uint64, bool) {
	quiet := e.marksInFlight.Load() == 0 // first: see endMarking
	return e.markWrites.Load(), quiet
}

// markKnowledge is the set of source markers after a cursor, as read by
// the follower when markWrites was at gen: while no update that may write
// markers has ended since, the set is still exact.
type markKnowledge struct {
	valid bool
	gen   uint64
	from  uint64            // the markers of every seq > from are known
	set   map[uint64]string // seq -> source
}

// New returns an engine over the store. It does nothing until Run.
func New(st *store.Store, opts Options) *Engine {
	opts.defaults()
	return &Engine{st: st, opts: opts, log: opts.Logger, m: newMetrics(opts.Registerer), cache: map[Kind][]*Rule{}}
}

// Run seeds the standard automations on first start, then follows the event
// log for triggers and auto-replies, runs automations every
// AutomationInterval and delivers webhooks, until ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	if err := e.Seed(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){e.followEvents, e.runAutomationLoop, e.runWebhookLoop} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx)
		}()
	}
	wg.Wait()
	return nil
}

// Seed prepares the engine's state on first start: the trigger cursor at
// the end of the existing event log, and the standard "close solved
// tickets" automation, created once. Until an admin edits or deletes that
// automation through the API, its delay follows Options.AutoCloseAfter
// (the config's tickets.auto_close_after) on every start; once an admin
// changed it, the admin's version stands and is never recreated. Run calls
// Seed; it is idempotent.
func (e *Engine) Seed(ctx context.Context) error {
	auto := e.autoCloseRule()
	if err := compileRule(auto); err != nil {
		return err
	}
	var retuned *autoCloseMeta
	err := e.st.Update(ctx, func(tx *store.Tx) error {
		retuned = nil
		// A first start on an existing store begins after its history:
		// triggers apply to updates from now on, as when one is created.
		if _, ok, err := tx.RuleValue(spaceCursor, cursorTriggers); err != nil {
			return err
		} else if !ok {
			last, err := tx.LastID(store.SeqEvent)
			if err != nil {
				return err
			}
			if err := putU64(tx, spaceCursor, cursorTriggers, last); err != nil {
				return err
			}
		}
		if _, ok, err := tx.RuleValue(spaceMeta, metaSeeded); err != nil {
			return err
		} else if ok {
			return e.retuneAutoClose(tx, auto, &retuned)
		}
		if err := e.insertRule(tx, auto); err != nil {
			return err
		}
		if err := putJSON(tx, spaceMeta, metaAutoClose, &autoCloseMeta{ID: auto.ID, Hours: e.opts.AutoCloseAfter.Hours()}); err != nil {
			return err
		}
		return tx.PutRuleValue(spaceMeta, metaSeeded, []byte("1"))
	})
	if err != nil {
		return fmt.Errorf("rules: seed: %w", err)
	}
	if retuned != nil {
		e.log.Info("auto-close automation follows tickets.auto_close_after", "automation_id", retuned.ID, "hours", retuned.Hours)
	}
	e.invalidate()
	return nil
}

// Engine bookkeeping keys (spaceMeta).
const (
	metaSeeded    = "seeded_auto_close" // the standard automation was created once
	metaAutoClose = "auto_close"        // autoCloseMeta while the config governs it
)

// autoCloseMeta names the seeded auto-close automation and the delay it
// was last given from the configuration. It is removed when an admin
// updates or deletes that automation: from then on it is theirs.
type autoCloseMeta struct {
	ID    uint64  `json:"id"`
	Hours float64 `json:"hours"`
}

// autoCloseRule is the standard "close solved tickets" automation with the
// configured delay.
func (e *Engine) autoCloseRule() *Rule {
	return &Rule{
		Kind:   KindAutomation,
		Title:  "Close ticket " + humanDuration(e.opts.AutoCloseAfter) + " after status is set to solved",
		Active: true,
		Conditions: &Conditions{All: []Condition{
			{Field: "status", Operator: OpIs, Value: "solved"},
			{Field: "hours_since_solved", Operator: OpGreaterThan, Value: e.opts.AutoCloseAfter.Hours()},
		}},
		Actions: []Action{{Field: ActStatus, Value: "closed"}},
	}
}

// retuneAutoClose gives the seeded automation the configured delay when
// the configuration changed and no admin has edited it; *done reports it.
func (e *Engine) retuneAutoClose(tx *store.Tx, auto *Rule, done **autoCloseMeta) error {
	var m autoCloseMeta
	if ok, err := getJSON(&tx.ReadTx, spaceMeta, metaAutoClose, &m); err != nil || !ok {
		return err
	}
	hours := e.opts.AutoCloseAfter.Hours()
	if m.Hours == hours {
		return nil
	}
	var cur Rule
	if ok, err := getJSON(&tx.ReadTx, ruleSpace(KindAutomation), id20(m.ID), &cur); err != nil {
		return err
	} else if !ok {
		return tx.DeleteRuleValue(spaceMeta, metaAutoClose)
	}
	cur.Title, cur.Conditions, cur.Actions = auto.Title, auto.Conditions, auto.Actions
	cur.UpdatedAt = tx.Now()
	if err := putJSON(tx, ruleSpace(KindAutomation), id20(m.ID), &cur); err != nil {
		return err
	}
	m.Hours = hours
	*done = &m
	return putJSON(tx, spaceMeta, metaAutoClose, &m)
}

// releaseAutoClose hands the seeded automation to the admins when they
// update or delete it: the configuration no longer changes it.
func releaseAutoClose(tx *store.Tx, kind Kind, id uint64) error {
	if kind != KindAutomation {
		return nil
	}
	var m autoCloseMeta
	if ok, err := getJSON(&tx.ReadTx, spaceMeta, metaAutoClose, &m); err != nil || !ok || m.ID != id {
		return err
	}
	return tx.DeleteRuleValue(spaceMeta, metaAutoClose)
}

func humanDuration(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		n := int(d / (24 * time.Hour))
		if n == 1 {
			return "1 day"
		}
		return fmt.Sprintf("%d days", n)
	}
	return fmt.Sprintf("%g hours", d.Hours())
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// isStopping reports whether err only means the engine is shutting down.
func isStopping(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, store.ErrStoreClosed)
}
