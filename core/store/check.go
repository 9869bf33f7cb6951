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
// due-index entry; every raw payload record names its comment's bytes; no
// reply in the failed-reply index is queued. It returns nil or an error
// listing the violations. It reads the whole store (use it in tests, the
// crash suite and `patchbay check`).
func (s *Store) Check(ctx context.Context) error {
	c := &checkRun{ctx: ctx}
	err := s.View(func(r *ReadTx) error {
		c.r = r
		// The checks run in this order: later ones use what earlier
		// ones gathered (the comments, the queued replies).
		checks := []func() error{
			c.tickets,
			c.ticketIndexes,
			c.conversations,
			c.conversationInbound,
			c.comments,
			c.rawPayloads,
			c.outbox,
			c.pendingReplies,
			c.failedReplies,
			c.dedupeEntries,
			c.identities,
			c.eventSequence,
		}
		for _, check := range checks {
			if err := check(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(c.problems) > 0 {
		return fmt.Errorf("store: %d consistency violations (first %d): %w", len(c.problems), len(c.problems), errors.Join(c.problems...))
	}
	return nil
}

// checkRun is one Check over one snapshot: the violations found so far
// and what one check gathers for a later one.
type checkRun struct {
	ctx      context.Context
	r        *ReadTx
	problems []error

	wantIndex  map[string]bool   // index keys the tickets call for, not yet seen
	convLatest map[string]uint64 // conversation key -> latest ticket id, not yet seen
	commentKVs []kvPair          // every comment record
	queued     map[uint64]bool   // comment ids with an outbox entry
}

// bad records one violation (up to maxViolations).
func (c *checkRun) bad(format string, args ...any) {
	if len(c.problems) < maxViolations {
		c.problems = append(c.problems, fmt.Errorf(format, args...))
	}
}

// all reads every record under prefix (keys only if keysOnly), stopping
// first if the context is done.
func (c *checkRun) all(prefix string, keysOnly bool) ([]kvPair, error) {
	if err := c.ctx.Err(); err != nil {
		return nil, err
	}
	return c.r.r.scan([]byte(prefix), nil, 1<<31-1, keysOnly)
}

// tickets checks each ticket record and gathers the index entries and
// conversation records the tickets call for.
func (c *checkRun) tickets() error {
	c.wantIndex = map[string]bool{}
	c.convLatest = map[string]uint64{}
	tickets, err := c.all(pTicket, false)
	if err != nil {
		return err
	}
	lastTicket, _ := c.r.LastID(SeqTicket)
	for _, p := range tickets {
		var t ticket.Ticket
		if err := json.Unmarshal(p.Value, &t); err != nil {
			c.bad("ticket key %x: %v", p.Key, err)
			continue
		}
		if t.ID != getU64(p.Key[len(pTicket):]) {
			c.bad("ticket key %x holds id %d", p.Key, t.ID)
		}
		if t.ID > lastTicket {
			c.bad("ticket %d above the ticket sequence %d", t.ID, lastTicket)
		}
		if t.Status == ticket.StatusSolved && t.SolvedAt.IsZero() {
			c.bad("ticket %d solved without solved_at", t.ID)
		}
		for _, k := range indexKeys(&t) {
			c.wantIndex[string(k)] = true
		}
		if t.Channel != "" && t.ConversationKey != "" {
			ck := string(convKey(t.Channel, t.ConversationKey))
			if t.ID > c.convLatest[ck] {
				c.convLatest[ck] = t.ID
			}
		}
	}
	return nil
}

// ticketIndexes checks that the ticket indexes hold exactly the entries
// the tickets call for.
func (c *checkRun) ticketIndexes() error {
	for _, prefix := range []string{pIxAll, pIxStatus, pIxChannel, pIxReq, pIxAssignee, pIxSolved, pIxTag, pIxPriority, pIxGroup, pIxVia, pIxUpdated} {
		pairs, err := c.all(prefix, true)
		if err != nil {
			return err
		}
		for _, p := range pairs {
			if !c.wantIndex[string(p.Key)] {
				c.bad("stale index entry %q", p.Key)
			}
			delete(c.wantIndex, string(p.Key))
		}
	}
	for k := range c.wantIndex {
		c.bad("missing index entry %q", k)
	}
	return nil
}

// conversations checks that each conversation record names the latest
// ticket of its conversation, and that none is missing.
func (c *checkRun) conversations() error {
	convs, err := c.all(pConv, false)
	if err != nil {
		return err
	}
	for _, p := range convs {
		if latest, ok := c.convLatest[string(p.Key)]; !ok || latest != getU64(p.Value) {
			c.bad("conversation %q names ticket %d, latest is %d", p.Key, getU64(p.Value), latest)
		}
		delete(c.convLatest, string(p.Key))
	}
	for k, id := range c.convLatest {
		c.bad("conversation %q of ticket %d missing", k, id)
	}
	return nil
}

// conversationInbound checks that each conversation inbound record holds
// a time.
func (c *checkRun) conversationInbound() error {
	convIn, err := c.all(pConvIn, false)
	if err != nil {
		return err
	}
	for _, p := range convIn {
		if len(p.Value) != 8 || getU64(p.Value) == 0 {
			c.bad("conversation inbound record %q is not a time", p.Key)
		}
	}
	return nil
}

// comments checks that every comment is within the comment sequence,
// listed under its ticket and on a ticket that exists, and that every
// ticket comment entry has its comment. It keeps the comment records for
// pendingReplies.
func (c *checkRun) comments() error {
	comments, err := c.all(pComment, false)
	if err != nil {
		return err
	}
	c.commentKVs = comments
	lastComment, _ := c.r.LastID(SeqComment)
	listed := map[string]bool{}
	tcs, err := c.all(pTicketCmts, true)
	if err != nil {
		return err
	}
	for _, p := range tcs {
		listed[string(p.Key)] = true
	}
	for _, p := range comments {
		var cm ticket.Comment
		if err := json.Unmarshal(p.Value, &cm); err != nil {
			c.bad("comment key %x: %v", p.Key, err)
			continue
		}
		if cm.ID > lastComment {
			c.bad("comment %d above the comment sequence %d", cm.ID, lastComment)
		}
		tk := string(ticketCommentKey(cm.TicketID, cm.ID))
		if !listed[tk] {
			c.bad("comment %d not listed under ticket %d", cm.ID, cm.TicketID)
		}
		delete(listed, tk)
		if _, ok, _ := c.r.r.get(ticketKey(cm.TicketID)); !ok {
			c.bad("comment %d on missing ticket %d", cm.ID, cm.TicketID)
		}
	}
	for k := range listed {
		c.bad("ticket comment entry %x without comment", k)
	}
	return nil
}

// rawPayloads checks that each raw payload record belongs to a comment
// and names its bytes (inline, or a claimed chunked attachment of that
// comment).
func (c *checkRun) rawPayloads() error {
	raws, err := c.all(pRawInfo, false)
	if err != nil {
		return err
	}
	for _, p := range raws {
		id := getU64(p.Key[len(pRawInfo):])
		var info RawInfo
		if err := json.Unmarshal(p.Value, &info); err != nil {
			c.bad("raw payload record of comment %d: %v", id, err)
			continue
		}
		c.rawPayload(id, info)
	}
	return nil
}

// rawPayload checks one raw payload record of comment id.
func (c *checkRun) rawPayload(id uint64, info RawInfo) {
	if _, ok, _ := c.r.r.get(commentKey(id)); !ok {
		c.bad("raw payload record of missing comment %d", id)
	}
	if info.AttachmentID == "" {
		if _, ok, _ := c.r.r.get(rawKey(id)); !ok {
			c.bad("raw payload of comment %d missing", id)
		}
		return
	}
	m, err := c.r.Attachment(info.AttachmentID)
	switch {
	case err != nil:
		c.bad("raw payload of comment %d: %v", id, err)
	case !m.Raw || !m.Complete || m.Staged || m.CommentID != id || m.Size != info.Size:
		c.bad("raw payload of comment %d: attachment %s is not its claimed, complete raw payload", id, m.ID)
	}
}

// outbox checks that the outbox entries and their due index agree and
// that each entry is for a pending reply. It gathers the queued replies
// for pendingReplies and failedReplies.
func (c *checkRun) outbox() error {
	obs, err := c.all(pOutbox, false)
	if err != nil {
		return err
	}
	dues, err := c.all(pOutboxDue, true)
	if err != nil {
		return err
	}
	dueKeys := map[string]bool{}
	for _, p := range dues {
		dueKeys[string(p.Key)] = true
	}
	c.queued = map[uint64]bool{}
	for _, p := range obs {
		var e OutboxEntry
		if err := json.Unmarshal(p.Value, &e); err != nil {
			c.bad("outbox key %x: %v", p.Key, err)
			continue
		}
		c.queued[e.CommentID] = true
		dk := string(outboxDueKey(e.NextAttemptAt, e.CommentID))
		if !dueKeys[dk] {
			c.bad("outbox entry %d missing from the due index", e.CommentID)
		}
		delete(dueKeys, dk)
		cm, err := c.r.Comment(e.CommentID)
		if err != nil {
			c.bad("outbox entry %d: %v", e.CommentID, err)
		} else if cm.Delivery == nil || cm.Delivery.Status != ticket.DeliveryPending {
			c.bad("outbox entry %d for a reply that is not pending", e.CommentID)
		}
	}
	for k := range dueKeys {
		c.bad("stale outbox due entry %x", k)
	}
	return nil
}

// pendingReplies checks that every pending reply is queued (otherwise it
// would never be sent).
func (c *checkRun) pendingReplies() error {
	for _, p := range c.commentKVs {
		var cm ticket.Comment
		if json.Unmarshal(p.Value, &cm) == nil && cm.Delivery != nil && cm.Delivery.Status == ticket.DeliveryPending && !c.queued[cm.ID] {
			c.bad("reply %d is pending but not queued: it would never be sent", cm.ID)
		}
	}
	return nil
}

// failedReplies checks that the failed-reply index names failed replies
// that are not queued (a retry removes the entry with the queueing).
func (c *checkRun) failedReplies() error {
	failed, err := c.all(pFailed, true)
	if err != nil {
		return err
	}
	for _, p := range failed {
		cid := getU64(p.Key[len(p.Key)-8:])
		cm, err := c.r.Comment(cid)
		if err != nil {
			c.bad("failed-reply entry %q: comment %d: %v", p.Key, cid, err)
			continue
		}
		if c.queued[cid] || (cm.Delivery != nil && cm.Delivery.Status == ticket.DeliveryPending) {
			c.bad("failed-reply entry %q for reply %d, which is queued", p.Key, cid)
		}
	}
	return nil
}

// dedupeEntries checks that each inbound dedupe entry points at the
// comment (and ticket) of its external message id, once.
func (c *checkRun) dedupeEntries() error {
	exts, err := c.all(pExtIn, false)
	if err != nil {
		return err
	}
	extSeen := map[string]uint64{}
	for _, p := range exts {
		cid := getU64(p.Value[8:])
		cm, err := c.r.Comment(cid)
		if err != nil {
			c.bad("dedupe entry %q: comment %d: %v", p.Key, cid, err)
			continue
		}
		ext := p.Key[bytes.IndexByte(p.Key, 0)+1:]
		if cm.ExternalID != string(ext) || cm.TicketID != getU64(p.Value) {
			c.bad("dedupe entry %q points at comment %d (%q, ticket %d)", p.Key, cid, cm.ExternalID, cm.TicketID)
		}
		if prev, dup := extSeen[string(p.Key)]; dup {
			c.bad("message %q stored as comments %d and %d", p.Key, prev, cid)
		}
		extSeen[string(p.Key)] = cid
	}
	return nil
}

// identities checks that each identity points at a user who lists it.
func (c *checkRun) identities() error {
	idns, err := c.all(pIdentity, false)
	if err != nil {
		return err
	}
	for _, p := range idns {
		u, err := c.r.User(getU64(p.Value))
		if err != nil {
			c.bad("identity %q: %v", p.Key, err)
			continue
		}
		parts := bytes.SplitN(p.Key[len(pIdentity):], []byte{0}, 2)
		if !userListsIdentity(u, parts) {
			c.bad("identity %q points at user %d who does not list it", p.Key, u.ID)
		}
	}
	return nil
}

// userListsIdentity reports whether u lists the identity whose key parts
// (type, value) are given.
func userListsIdentity(u *ticket.User, parts [][]byte) bool {
	if len(parts) != 2 {
		return false
	}
	for _, i := range u.Identities {
		if i.Type == string(parts[0]) && i.Value == string(parts[1]) {
			return true
		}
	}
	return false
}

// eventSequence checks that no event lies above the event sequence.
func (c *checkRun) eventSequence() error {
	lastEvent, _ := c.r.LastID(SeqEvent)
	evs, err := c.r.r.scan([]byte(pEvent), eventKey(lastEvent+1), 1, true)
	if err != nil {
		return err
	}
	if len(evs) > 0 {
		c.bad("event %x above the event sequence %d", evs[0].Key, lastEvent)
	}
	return nil
}
