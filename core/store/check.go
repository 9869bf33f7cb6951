package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/patchbayhq/patchbay/core/ticket"
)

// maxViolations bounds the problems Check reports.
const maxViolations = 50

// Check verifies the store's internal consistency on one snapshot: every
// ticket has exactly the index entries its current fields call for and no
// index entry points at a ticket whose fields disagree; conversation
// entries name the latest ticket of their conversation; every comment is
// listed under its ticket and its dedupe entry (if any) points back at it;
// identities point at users that list them; sequences are ahead of every
// id; every pending reply has an outbox entry (and the reverse) with its
// due-index entry. It returns nil or an error listing the violations. It reads the whole
// store (use it in tests, the crash suite and `patchbay check`).
func (s *Store) Check(ctx context.Context) error {
	var problems []error
	bad := func(format string, args ...any) {
		if len(problems) < maxViolations {
			problems = append(problems, fmt.Errorf(format, args...))
		}
	}
	err := s.View(func(r *ReadTx) error {
		all := func(prefix string, keysOnly bool) ([]kvPair, error) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return r.r.scan([]byte(prefix), nil, 1<<31-1, keysOnly)
		}
		// Tickets and the index entries they require.
		want := map[string]bool{}
		convLatest := map[string]uint64{}
		tickets, err := all(pTicket, false)
		if err != nil {
			return err
		}
		lastTicket, _ := r.LastID(SeqTicket)
		for _, p := range tickets {
			var t ticket.Ticket
			if err := json.Unmarshal(p.Value, &t); err != nil {
				bad("ticket key %x: %v", p.Key, err)
				continue
			}
			if t.ID != getU64(p.Key[len(pTicket):]) {
				bad("ticket key %x holds id %d", p.Key, t.ID)
			}
			if t.ID > lastTicket {
				bad("ticket %d above the ticket sequence %d", t.ID, lastTicket)
			}
			if t.Status == ticket.StatusSolved && t.SolvedAt.IsZero() {
				bad("ticket %d solved without solved_at", t.ID)
			}
			for _, k := range indexKeys(&t) {
				want[string(k)] = true
			}
			if t.Channel != "" && t.ConversationKey != "" {
				ck := string(convKey(t.Channel, t.ConversationKey))
				if t.ID > convLatest[ck] {
					convLatest[ck] = t.ID
				}
			}
		}
		for _, prefix := range []string{pIxAll, pIxStatus, pIxChannel, pIxReq, pIxAssignee, pIxSolved, pIxTag, pIxPriority, pIxGroup, pIxVia, pIxUpdated} {
			pairs, err := all(prefix, true)
			if err != nil {
				return err
			}
			for _, p := range pairs {
				if !want[string(p.Key)] {
					bad("stale index entry %q", p.Key)
				}
				delete(want, string(p.Key))
			}
		}
		for k := range want {
			bad("missing index entry %q", k)
		}
		convs, err := all(pConv, false)
		if err != nil {
			return err
		}
		for _, p := range convs {
			if latest, ok := convLatest[string(p.Key)]; !ok || latest != getU64(p.Value) {
				bad("conversation %q names ticket %d, latest is %d", p.Key, getU64(p.Value), latest)
			}
			delete(convLatest, string(p.Key))
		}
		for k, id := range convLatest {
			bad("conversation %q of ticket %d missing", k, id)
		}
		convIn, err := all(pConvIn, false)
		if err != nil {
			return err
		}
		for _, p := range convIn {
			if len(p.Value) != 8 || getU64(p.Value) == 0 {
				bad("conversation inbound record %q is not a time", p.Key)
			}
		}
		// Comments.
		comments, err := all(pComment, false)
		if err != nil {
			return err
		}
		lastComment, _ := r.LastID(SeqComment)
		listed := map[string]bool{}
		tcs, err := all(pTicketCmts, true)
		if err != nil {
			return err
		}
		for _, p := range tcs {
			listed[string(p.Key)] = true
		}
		extSeen := map[string]uint64{}
		for _, p := range comments {
			var c ticket.Comment
			if err := json.Unmarshal(p.Value, &c); err != nil {
				bad("comment key %x: %v", p.Key, err)
				continue
			}
			if c.ID > lastComment {
				bad("comment %d above the comment sequence %d", c.ID, lastComment)
			}
			tk := string(ticketCommentKey(c.TicketID, c.ID))
			if !listed[tk] {
				bad("comment %d not listed under ticket %d", c.ID, c.TicketID)
			}
			delete(listed, tk)
			if _, ok, _ := r.r.get(ticketKey(c.TicketID)); !ok {
				bad("comment %d on missing ticket %d", c.ID, c.TicketID)
			}
		}
		for k := range listed {
			bad("ticket comment entry %x without comment", k)
		}
		// Outbox: entries and their due index agree; a pending reply is
		// queued; a queued reply is pending.
		obs, err := all(pOutbox, false)
		if err != nil {
			return err
		}
		dues, err := all(pOutboxDue, true)
		if err != nil {
			return err
		}
		dueKeys := map[string]bool{}
		for _, p := range dues {
			dueKeys[string(p.Key)] = true
		}
		queued := map[uint64]bool{}
		for _, p := range obs {
			var e OutboxEntry
			if err := json.Unmarshal(p.Value, &e); err != nil {
				bad("outbox key %x: %v", p.Key, err)
				continue
			}
			queued[e.CommentID] = true
			dk := string(outboxDueKey(e.NextAttemptAt, e.CommentID))
			if !dueKeys[dk] {
				bad("outbox entry %d missing from the due index", e.CommentID)
			}
			delete(dueKeys, dk)
			c, err := r.Comment(e.CommentID)
			if err != nil {
				bad("outbox entry %d: %v", e.CommentID, err)
			} else if c.Delivery == nil || c.Delivery.Status != ticket.DeliveryPending {
				bad("outbox entry %d for a reply that is not pending", e.CommentID)
			}
		}
		for k := range dueKeys {
			bad("stale outbox due entry %x", k)
		}
		for _, p := range comments {
			var c ticket.Comment
			if json.Unmarshal(p.Value, &c) == nil && c.Delivery != nil && c.Delivery.Status == ticket.DeliveryPending && !queued[c.ID] {
				bad("reply %d is pending but not queued: it would never be sent", c.ID)
			}
		}
		exts, err := all(pExtIn, false)
		if err != nil {
			return err
		}
		for _, p := range exts {
			cid := getU64(p.Value[8:])
			c, err := r.Comment(cid)
			if err != nil {
				bad("dedupe entry %q: comment %d: %v", p.Key, cid, err)
				continue
			}
			ext := p.Key[bytes.IndexByte(p.Key, 0)+1:]
			if c.ExternalID != string(ext) || c.TicketID != getU64(p.Value) {
				bad("dedupe entry %q points at comment %d (%q, ticket %d)", p.Key, cid, c.ExternalID, c.TicketID)
			}
			if prev, dup := extSeen[string(p.Key)]; dup {
				bad("message %q stored as comments %d and %d", p.Key, prev, cid)
			}
			extSeen[string(p.Key)] = cid
		}
		// Users and identities.
		idns, err := all(pIdentity, false)
		if err != nil {
			return err
		}
		for _, p := range idns {
			u, err := r.User(getU64(p.Value))
			if err != nil {
				bad("identity %q: %v", p.Key, err)
				continue
			}
			parts := bytes.SplitN(p.Key[len(pIdentity):], []byte{0}, 2)
			found := false
			for _, i := range u.Identities {
				if len(parts) == 2 && i.Type == string(parts[0]) && i.Value == string(parts[1]) {
					found = true
				}
			}
			if !found {
				bad("identity %q points at user %d who does not list it", p.Key, u.ID)
			}
		}
		lastEvent, _ := r.LastID(SeqEvent)
		evs, err := r.r.scan([]byte(pEvent), eventKey(lastEvent+1), 1, true)
		if err != nil {
			return err
		}
		if len(evs) > 0 {
			bad("event %x above the event sequence %d", evs[0].Key, lastEvent)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("store: %d consistency violations (first %d): %w", len(problems), len(problems), errors.Join(problems...))
	}
	return nil
}
