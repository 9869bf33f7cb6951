package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// Sources of events written by the engine (spaceSource markers).
const (
	sourceTrigger    = "trigger"
	sourceAutomation = "automation"
)

// group is one ticket create/update: the consecutive ticket events of one
// store.Update function (same ticket, same transaction time).
type group struct {
	ticketID uint64
	at       time.Time
	created  bool
	comments []*ticket.Comment
	events   []store.Event // the ticket and comment events
	snaps    []eventSnap   // the ticket events' fields, in order
	end      uint64        // cursor after this group
}

// eventSnap is the fields of a ticket as one of its events recorded them.
type eventSnap struct {
	at   time.Time
	snap fieldSnap
}

func relevant(ev *store.Event) bool {
	switch ev.Type {
	case store.EventTicketCreated, store.EventTicketUpdated, store.EventCommentCreated:
		return ev.TicketID != 0
	}
	return false
}

// groupEvents splits a page of events into updates. The last group is
// dropped when the page was full (it may continue on the next page), unless
// it is the only one.
//
// The comments' JSON is decoded only with withComments (triggers or
// auto-replies read them).
func groupEvents(evs []store.Event, full, withComments bool) []*group {
	var gs []*group
	var cur *group
	for i := range evs {
		ev := &evs[i]
		if relevant(ev) {
			if cur == nil || cur.ticketID != ev.TicketID || !cur.at.Equal(ev.At) {
				cur = &group{ticketID: ev.TicketID, at: ev.At}
				gs = append(gs, cur)
			}
			cur.events = append(cur.events, *ev)
			if ev.Type != store.EventCommentCreated {
				// Decoded here, on the follower, not on the store's writer.
				if raw, ok := ev.Data.(json.RawMessage); ok {
					if snap, ok := decodeFieldSnap(raw); ok {
						cur.snaps = append(cur.snaps, eventSnap{at: ev.At, snap: snap})
					}
				}
			}
			switch ev.Type {
			case store.EventTicketCreated:
				cur.created = true
			case store.EventCommentCreated:
				if raw, ok := ev.Data.(json.RawMessage); ok && withComments {
					var c ticket.Comment
					if json.Unmarshal(raw, &c) == nil {
						cur.comments = append(cur.comments, &c)
					}
				}
			}
		}
		if len(gs) > 0 {
			gs[len(gs)-1].end = ev.Seq
		}
	}
	if full && len(gs) > 1 {
		gs = gs[:len(gs)-1]
	}
	return gs
}

// followEvents runs triggers and auto-replies over the event log until ctx
// ends, waking on every commit.
func (e *Engine) followEvents(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		wake := e.st.Notify()
		n, err := e.ProcessEvents(ctx)
		if err != nil {
			if isStopping(ctx, err) {
				return
			}
			e.log.Error("trigger processing failed; retrying", "error", err, "retry_in", backoff)
			e.m.errors.WithLabelValues("trigger").Inc()
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, time.Minute)
			continue
		}
		backoff = time.Second
		if n > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
	}
}

// Cursor returns the seq of the last event the trigger follower processed.
func (e *Engine) Cursor() (uint64, error) {
	var c uint64
	err := e.st.View(func(r *store.ReadTx) error {
		var err error
		c, err = getU64(r, spaceCursor, cursorTriggers)
		return err
	})
	return c, err
}

// ProcessEvents runs triggers over every event committed after the cursor
// and returns how many events it consumed (0: it is caught up). Each batch
// of updates commits with the cursor that covers it, so every update's
// actions happen exactly once even across crashes.
func (e *Engine) ProcessEvents(ctx context.Context) (int, error) {
	total := 0
	for ctx.Err() == nil {
		n, err := e.processPage(ctx)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
	return total, ctx.Err()
}

// maxEventPage bounds how far a page grows to hold one whole update.
const maxEventPage = 1 << 16

// groupError marks a failure of one group's processing (as opposed to a
// failure of the commit).
type groupError struct {
	index int
	err   error
}

func (g *groupError) Error() string { return g.err.Error() }
func (g *groupError) Unwrap() error { return g.err }

// processPage runs triggers and auto-replies over one page of the event
// log and commits them with the cursor past it; it returns how many events
// it consumed (0: none after the cursor). A group whose actions fail is
// logged and skipped, after the groups before it are committed.
func (e *Engine) processPage(ctx context.Context) (int, error) {
	p, err := e.readPage()
	if err != nil || p == nil {
		return 0, err
	}
	for len(p.groups) > 0 || p.cursor < p.end {
		fired, sent, err := e.commitPage(ctx, p)
		var ge *groupError
		if errors.As(err, &ge) {
			// Commit the groups before the failing one, then skip it: a
			// group whose actions cannot apply must not stall the log.
			g := p.groups[ge.index]
			e.log.Error("trigger actions failed; skipping this update", "ticket_id", g.ticketID, "error", ge.err)
			e.m.errors.WithLabelValues("trigger").Inc()
			if ge.index == 0 {
				return e.skipGroup(ctx, p.cursor, g)
			}
			p.groups, p.end = p.groups[:ge.index], p.groups[ge.index-1].end
			continue
		}
		if err != nil {
			return 0, err
		}
		e.m.events.Add(float64(p.end - p.cursor))
		e.m.triggers.Add(float64(fired))
		e.m.autoReplies.Add(float64(sent))
		return int(p.end - p.cursor), nil
	}
	return 0, nil
}

// eventPage is one page of the event log with what processing it needs.
type eventPage struct {
	cursor   uint64 // the trigger cursor the page follows
	end      uint64 // the cursor after the page
	groups   []*group
	marks    map[uint64]string // the engine's source markers, by event seq
	triggers []*Rule
	replies  map[string]*AutoReply
}

// readPage reads the cursor, the active triggers and auto-replies, and
// the page of events after the cursor, grouped by update. It returns nil
// when no event follows the cursor.
func (e *Engine) readPage() (*eventPage, error) {
	cursor, err := e.Cursor()
	if err != nil {
		return nil, err
	}
	p := &eventPage{cursor: cursor}
	if p.triggers, err = e.active(KindTrigger); err != nil {
		return nil, err
	}
	if p.replies, err = e.activeAutoReplies(); err != nil {
		return nil, err
	}
	// One page of the log. An update (the events of one transaction) is
	// never split across pages: when a full page holds a single update
	// that may go on, the page is read again, twice as long.
	var evs []store.Event
	var full bool
	for limit := e.opts.EventBatch; ; limit *= 2 {
		evs, err = e.st.EventsAfter(cursor, limit)
		if err != nil || len(evs) == 0 {
			return nil, err
		}
		full = len(evs) == limit
		p.groups = groupEvents(evs, full, len(p.triggers) > 0 || len(p.replies) > 0)
		if !full || len(p.groups) != 1 || !relevant(&evs[len(evs)-1]) || limit >= maxEventPage {
			break
		}
	}
	p.end = evs[len(evs)-1].Seq
	if len(p.groups) > 0 && full {
		p.end = p.groups[len(p.groups)-1].end
	}
	// The engine's source markers of the page's events, in one scan: a
	// marker is committed with its event and removed only by
	// processPage's commits (with the cursor, checked there), so the
	// snapshot holds exactly the markers the update will find.
	if p.marks, err = e.sourceMarks(cursor, p.end); err != nil {
		return nil, err
	}
	return p, nil
}

// commitPage processes the page's groups in one update that moves the
// cursor to the page's end, and returns how many triggers fired and
// auto-replies were sent. A group's failure is a *groupError.
func (e *Engine) commitPage(ctx context.Context, p *eventPage) (fired, sent int, err error) {
	e.beginMarking()
	err = e.st.Update(ctx, func(tx *store.Tx) error {
		fired, sent = 0, 0
		c, err := getU64(&tx.ReadTx, spaceCursor, cursorTriggers)
		if err != nil {
			return err
		}
		if c != p.cursor {
			return fmt.Errorf("rules: trigger cursor moved from %d to %d: another engine runs on this store", p.cursor, c)
		}
		for i, g := range p.groups {
			f, s, err := e.processGroup(tx, g, p.marks, p.triggers, p.replies)
			if err != nil {
				return &groupError{index: i, err: err}
			}
			fired += f
			sent += s
		}
		return putU64(tx, spaceCursor, cursorTriggers, p.end)
	})
	// The actions' writes carry markers (markWrites), committed or not
	// by now.
	e.endMarking(fired > 0 || sent > 0)
	return fired, sent, err
}

// skipGroup moves the cursor from cursor past group g without running its
// actions, dropping its events' source markers, and returns how many
// events that consumed. If the cursor has moved meanwhile it changes
// nothing.
func (e *Engine) skipGroup(ctx context.Context, cursor uint64, g *group) (int, error) {
	err := e.st.Update(ctx, func(tx *store.Tx) error {
		c, err := getU64(&tx.ReadTx, spaceCursor, cursorTriggers)
		if err != nil || c != cursor {
			return err
		}
		for _, ev := range g.events {
			if err := tx.DeleteRuleValue(spaceSource, id20(ev.Seq)); err != nil {
				return err
			}
		}
		return putU64(tx, spaceCursor, cursorTriggers, g.end)
	})
	if err != nil {
		return 0, err
	}
	return int(g.end - cursor), nil
}

// sourceMarks returns the source markers of the events after cursor up to
// end, by event seq. A marker is committed with its event by an engine
// update (markWrites) and removed only by the follower with the cursor, so
// the follower reads every marker after the cursor once and reuses that
// set while no update that may write markers ran or ended since
// (Engine.writesGen): the inbound traffic, which writes none, costs no
// read.
func (e *Engine) sourceMarks(cursor, end uint64) (map[uint64]string, error) {
	marks := map[uint64]string{}
	if end <= cursor {
		return marks, nil
	}
	e.marksMu.Lock()
	defer e.marksMu.Unlock()
	k := &e.marks
	if gen, quiet := e.writesGen(); !quiet || !k.valid || k.gen != gen || cursor < k.from {
		// Read the count before the markers: an update ending meanwhile
		// makes the next page read them again.
		set := map[uint64]string{}
		err := e.st.View(func(r *store.ReadTx) error {
			from := id20(cursor + 1)
			for {
				kvs, err := r.RuleValues(spaceSource, "", from, 256)
				if err != nil {
					return err
				}
				for _, kv := range kvs {
					set[parseID20(kv.Key)] = string(kv.Value)
				}
				if len(kvs) < 256 {
					return nil
				}
				from = kvs[len(kvs)-1].Key + "\x00"
			}
		})
		if err != nil {
			k.valid = false
			return nil, err
		}
		*k = markKnowledge{valid: true, gen: gen, from: cursor, set: set}
	}
	for seq, src := range k.set {
		if seq <= cursor {
			delete(k.set, seq) // consumed with an earlier cursor
		} else if seq <= end {
			marks[seq] = src
		}
	}
	return marks, nil
}

// processGroup tracks status times, then (unless the update was written by
// triggers themselves) runs the trigger cycle and the channel auto-reply
// for one update. It returns how many triggers fired and auto-replies were
// queued.
func (e *Engine) processGroup(tx *store.Tx, g *group, marks map[uint64]string, triggers []*Rule, replies map[string]*AutoReply) (int, int, error) {
	// The update's source: the engine's own writes are marked. A group
	// counts as written by triggers only when every event of it is (two
	// updates with the same transaction time may share a group).
	source, fromTriggers := "", true
	for _, ev := range g.events {
		src, ok := marks[ev.Seq]
		if !ok {
			fromTriggers = false
			continue
		}
		if string(src) != sourceTrigger {
			fromTriggers = false
		}
		if source == "" || source == sourceTrigger {
			source = string(src)
		}
		if err := tx.DeleteRuleValue(spaceSource, id20(ev.Seq)); err != nil {
			return 0, 0, err
		}
	}
	rec, prev, err := trackTicket(tx, g)
	if err != nil {
		return 0, 0, err
	}
	if fromTriggers {
		// Loop protection: the trigger cycle that wrote this update already
		// ran every trigger to a fixed point.
		return 0, 0, nil
	}
	if len(triggers) == 0 && len(replies) == 0 {
		return 0, 0, nil // nothing can fire: the ticket need not be read
	}
	t, err := tx.Ticket(g.ticketID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	if t.Status == ticket.StatusClosed {
		return 0, 0, nil // closed is final: triggers do not run on it
	}
	up := &update{created: g.created, via: "api", prev: prev, base: snapOf(t)}
	if rec.Fields != nil {
		after := *rec.Fields
		up.after = &after
	}
	for _, c := range g.comments {
		up.comments = append(up.comments, c.Body)
	}
	switch {
	case len(g.comments) > 0:
		up.via = g.comments[0].Via
	case source == sourceAutomation:
		up.via = ticket.ViaRule
	}
	subj := &subject{t: t, now: g.at, statusSince: rec.Since, update: up}
	cs := &changeSet{t: t, at: tx.Now()}
	before := fieldsOf(t)
	fired := e.runTriggerCycle(subj, cs, triggers)
	ar, err := autoReplyDue(tx, t, g, replies)
	if err != nil {
		return 0, 0, err
	}
	if ar != nil {
		cs.replies = append(cs.replies, ar.Body)
		if err := tx.PutRuleValue(spaceReplied, id20(t.ID), []byte("1")); err != nil {
			return 0, 0, err
		}
	}
	if fired == 0 && ar == nil {
		return 0, 0, nil
	}
	return fired, boolInt(ar != nil), markWrites(tx, sourceTrigger, func() error {
		_, err := writeChanges(tx, cs, before, ruleAuthor)
		return err
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// runTriggerCycle is Zendesk's trigger cycle: triggers run in order; when
// one fires, its actions apply and the cycle restarts from the top with the
// triggers that have not fired yet, until a pass fires none or
// MaxTriggerPasses restarts. Each trigger fires at most once per update.
func (e *Engine) runTriggerCycle(subj *subject, cs *changeSet, triggers []*Rule) int {
	fired := 0
	done := make(map[uint64]bool)
	for pass := 0; pass < e.opts.MaxTriggerPasses; pass++ {
		hit := false
		for _, tr := range triggers {
			if done[tr.ID] || !tr.Conditions.match(subj) {
				continue
			}
			done[tr.ID] = true
			fired++
			hit = true
			for i := range tr.Actions {
				if err := tr.Actions[i].apply(cs, KindTrigger, tr.ID); err != nil {
					e.log.Warn("trigger action skipped", "trigger_id", tr.ID, "ticket_id", cs.t.ID, "action", tr.Actions[i].Field, "error", err)
					e.m.errors.WithLabelValues("action").Inc()
				}
			}
			break
		}
		if !hit {
			return fired
		}
	}
	e.log.Warn("trigger cycle stopped at the pass limit", "ticket_id", cs.t.ID, "passes", e.opts.MaxTriggerPasses)
	return fired
}

// markWrites runs write and marks every event it appended as written by
// source, so the trigger follower knows where the update came from.
func markWrites(tx *store.Tx, source string, write func() error) error {
	first, err := tx.LastID(store.SeqEvent)
	if err != nil {
		return err
	}
	if err := write(); err != nil {
		return err
	}
	last, err := tx.LastID(store.SeqEvent)
	if err != nil {
		return err
	}
	for seq := first + 1; seq <= last; seq++ {
		if err := tx.PutRuleValue(spaceSource, id20(seq), []byte(source)); err != nil {
			return err
		}
	}
	return nil
}

// sinceRecord is what the engine remembers of a ticket between updates:
// when it last entered each status, and the fields "changed" conditions
// compare (as of the last update the follower read).
type sinceRecord struct {
	Current ticket.Status               `json:"current"`
	Since   map[ticket.Status]time.Time `json:"since"`
	Fields  *fieldSnap                  `json:"fields,omitempty"`
}

func decodeSince(b []byte) (any, error) {
	rec := &sinceRecord{}
	if err := json.Unmarshal(b, rec); err != nil {
		return nil, fmt.Errorf("rules: decode %s: %w", spaceSince, err)
	}
	if rec.Since == nil {
		rec.Since = map[ticket.Status]time.Time{}
	}
	return rec, nil
}

// clone returns a deep copy of the record.
func (r *sinceRecord) clone() *sinceRecord {
	c := &sinceRecord{Current: r.Current, Since: make(map[ticket.Status]time.Time, len(r.Since))}
	for s, at := range r.Since {
		c.Since[s] = at
	}
	if r.Fields != nil {
		f := *r.Fields
		c.Fields = &f
	}
	return c
}

// fieldSnap is the part of a ticket "changed" conditions look at.
type fieldSnap struct {
	Status     ticket.Status   `json:"status"`
	Priority   ticket.Priority `json:"priority,omitempty"`
	Group      string          `json:"group,omitempty"`
	AssigneeID uint64          `json:"assignee_id,omitempty"`
}

// trackTicket updates the ticket's record from the group's ticket events
// and returns it with the fields as they were before the group (nil when
// unknown: the ticket predates the engine). A closed ticket's record, and
// its auto-reply marker, go: closed is final.
func trackTicket(tx *store.Tx, g *group) (*sinceRecord, *fieldSnap, error) {
	// The record as the writer cache keeps it decoded (shared: cloned
	// before any change).
	obj, found, err := tx.RuleObject(spaceSince, id20(g.ticketID), decodeSince)
	if err != nil {
		return nil, nil, err
	}
	rec := &sinceRecord{Since: map[ticket.Status]time.Time{}}
	if found {
		rec = obj.(*sinceRecord).clone()
	}
	prev := rec.Fields
	if g.created {
		prev = &fieldSnap{}
	}
	changed := false
	for _, es := range g.snaps {
		snap := es.snap
		if snap.Status != rec.Current {
			rec.Current = snap.Status
			rec.Since[snap.Status] = es.at
			changed = true
		}
		if rec.Fields == nil || *rec.Fields != snap {
			rec.Fields = &snap
			changed = true
		}
	}
	switch {
	case rec.Current == ticket.StatusClosed:
		if err := tx.DeleteRuleValue(spaceReplied, id20(g.ticketID)); err != nil {
			return nil, nil, err
		}
		if found {
			if err := tx.DeleteRuleValue(spaceSince, id20(g.ticketID)); err != nil {
				return nil, nil, err
			}
		}
	case changed:
		if err := putJSON(tx, spaceSince, id20(g.ticketID), rec); err != nil {
			return nil, nil, err
		}
	}
	return rec, prev, nil
}
