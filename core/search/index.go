package search

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
)

// FormatVersion names the layout of the index (mapping, analyzers, document
// fields). An index written with another version is rebuilt from the store.
const FormatVersion = "patchbay-search-2"

// Keys of the index's own bookkeeping (bleve internal values). Both are
// written in the same batch as the documents they describe, so after a
// crash the index and its cursor agree.
var (
	keyFormat = []byte("patchbay_format")
	keySeq    = []byte("patchbay_seq")
)

// ErrRebuilding is returned by Search while the index is being rebuilt
// from the store.
var ErrRebuilding = errors.New("search: the index is being rebuilt")

// Options configure an Index.
type Options struct {
	// Dir is the index directory (the command uses data_dir/search).
	Dir string
	// Logger receives progress and errors; nil discards them.
	Logger hclog.Logger
	// Registerer receives the index's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// BatchEvents is how many events one incremental batch reads at most
	// (default 4096). A batch takes whatever is waiting: one event at a
	// time when the load is light (searchable within milliseconds), more
	// under load, so that a busy ticket is re-indexed once per batch
	// rather than once per comment and the follower keeps up.
	BatchEvents int
	// Clock returns the current time (relative dates); nil is time.Now.
	Clock func() time.Time
}

// Index is the full-text index of tickets: derived data kept beside the
// store and fed from its event log. It is safe for concurrent use.
type Index struct {
	st    *store.Store
	opts  Options
	log   hclog.Logger
	m     *metrics
	idx   bleve.Index
	ready atomic.Bool
	// indexed is the seq of the last event the index covers.
	indexed atomic.Uint64
	// rebuilt/total report rebuild progress (tickets).
	rebuilt, total atomic.Uint64
	// window is newestFirst's first span of ticket ids (firstWindow).
	window uint64

	closeOnce sync.Once
}

// Open opens the index in opts.Dir, or prepares a fresh one when it is
// missing, unreadable, of another format, or out of step with the store
// (the store was restored from a backup, or the events after the index's
// cursor were trimmed from the log). A fresh index is filled by Run (or
// Rebuild); until then Search answers ErrRebuilding.
func Open(st *store.Store, opts Options) (*Index, error) {
	if opts.Dir == "" {
		return nil, errors.New("search: Options.Dir is required")
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.BatchEvents <= 0 {
		opts.BatchEvents = 4096
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	x := &Index{st: st, opts: opts, log: opts.Logger, m: newMetrics(opts.Registerer), window: firstWindow}
	idx, seq, why := x.openExisting()
	if why != "" {
		if idx != nil {
			_ = idx.Close()
		}
		x.log.Info("rebuilding the search index from the store", "reason", why, "dir", opts.Dir)
		var err error
		if idx, err = create(opts.Dir); err != nil {
			return nil, err
		}
		seq = 0
	} else {
		x.ready.Store(true)
	}
	x.idx = idx
	x.indexed.Store(seq)
	return x, nil
}

// openExisting opens the index on disk and checks it against the store.
// A non-empty reason means it must be rebuilt.
func (x *Index) openExisting() (bleve.Index, uint64, string) {
	if _, err := os.Stat(x.opts.Dir); errors.Is(err, os.ErrNotExist) {
		return nil, 0, "no index yet"
	}
	idx, err := bleve.Open(x.opts.Dir)
	if err != nil {
		x.log.Warn("the search index cannot be opened", "error", err)
		return nil, 0, "unreadable index"
	}
	format, err := idx.GetInternal(keyFormat)
	if err != nil || string(format) != FormatVersion {
		if len(format) == 0 {
			return idx, 0, "unfinished build"
		}
		return idx, 0, "index format " + strconv.Quote(string(format)) + ", want " + FormatVersion
	}
	raw, err := idx.GetInternal(keySeq)
	if err != nil || len(raw) != 8 {
		return idx, 0, "no cursor"
	}
	seq := binary.BigEndian.Uint64(raw)
	var last, first uint64
	err = x.st.View(func(r *store.ReadTx) error {
		var err error
		if last, err = r.LastID(store.SeqEvent); err != nil {
			return err
		}
		first, err = r.FirstEventSeq()
		return err
	})
	switch {
	case err != nil:
		return idx, 0, "store: " + err.Error()
	case seq > last:
		return idx, 0, "the index is ahead of the store (restored from a backup?)"
	case first > seq+1, first == 0 && last > seq:
		return idx, 0, "events after the index's cursor were trimmed from the log"
	}
	return idx, seq, ""
}

// create removes whatever is in dir and makes an empty index there.
func create(dir string) (bleve.Index, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("search: remove old index: %w", err)
	}
	m, err := newMapping()
	if err != nil {
		return nil, err
	}
	// unsafe_batch: a batch returns once searchable, and is persisted in the
	// background. A crash loses the unpersisted tail together with the
	// cursor that covers it (both are in the same snapshot), and the
	// follower indexes those events again.
	idx, err := bleve.NewUsing(dir, m, scorch.Name, scorch.Name, map[string]any{"unsafe_batch": true})
	if err != nil {
		return nil, fmt.Errorf("search: create index: %w", err)
	}
	return idx, nil
}

// Close persists what is indexed and closes the index. Call it after Run
// returned.
func (x *Index) Close() error {
	var err error
	x.closeOnce.Do(func() {
		if x.ready.Load() {
			x.flush(10 * time.Second)
		}
		err = x.idx.Close()
	})
	return err
}

// flush waits (up to wait) until everything indexed so far is on disk, so
// that a clean restart resumes exactly where it stopped. Batches are
// persisted in the background; without this a restart would index the
// unpersisted tail again (which is correct, only slower).
func (x *Index) flush(wait time.Duration) {
	done := make(chan error, 1)
	b := x.idx.NewBatch()
	b.SetInternal(keySeq, u64(x.indexed.Load()))
	b.SetPersistedCallback(func(err error) { done <- err })
	if err := x.idx.Batch(b); err != nil {
		x.log.Warn("persisting the search index failed; it catches up on the next start", "error", err)
		return
	}
	select {
	case err := <-done:
		if err != nil {
			x.log.Warn("persisting the search index failed; it catches up on the next start", "error", err)
		}
	case <-time.After(wait):
		x.log.Warn("persisting the search index timed out; it catches up on the next start")
	}
}

// Ready reports whether the index is built (Search answers).
func (x *Index) Ready() bool { return x.ready.Load() }

// Indexed returns the seq of the last event the index covers.
func (x *Index) Indexed() uint64 { return x.indexed.Load() }

// Run builds the index if needed, then follows the store's event log,
// indexing every change in small batches as soon as it is committed, until
// ctx ends.
func (x *Index) Run(ctx context.Context) error {
	if !x.ready.Load() {
		if err := x.rebuild(ctx); err != nil {
			return err
		}
	}
	backoff := time.Second
	for ctx.Err() == nil {
		wake := x.st.Notify()
		n, err := x.CatchUp(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			x.log.Error("indexing failed; retrying", "error", err, "retry_in", backoff)
			x.m.errors.Inc()
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
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
			return nil
		case <-wake:
		}
	}
	return nil
}

// Rebuild builds the index in opts.Dir from the store, from scratch, and
// closes it (`patchbay reindex`: the server must not be running).
func Rebuild(ctx context.Context, st *store.Store, opts Options) (tickets uint64, err error) {
	if opts.Dir == "" {
		return 0, errors.New("search: Options.Dir is required")
	}
	if err := os.RemoveAll(opts.Dir); err != nil {
		return 0, fmt.Errorf("search: remove old index: %w", err)
	}
	x, err := Open(st, opts)
	if err != nil {
		return 0, err
	}
	err = x.rebuild(ctx)
	if err == nil {
		_, err = x.CatchUp(ctx)
	}
	if cerr := x.Close(); err == nil {
		err = cerr
	}
	return x.rebuilt.Load(), err
}

// rebuildChunk is how many tickets one rebuild batch holds at most (fewer
// segments to merge than small batches: about twice the build rate of
// 500), and maxBatchText bounds the text one batch holds.
const (
	rebuildChunk = 2000
	maxBatchText = 16 << 20
)

// rebuild fills the (empty) index with every ticket in the store. The
// cursor is the event seq read before the first ticket: changes made while
// the rebuild runs come after it and are indexed again by the follower.
func (x *Index) rebuild(ctx context.Context) error {
	started := time.Now()
	var startSeq, lastTicket uint64
	if err := x.st.View(func(r *store.ReadTx) error {
		var err error
		if startSeq, err = r.LastID(store.SeqEvent); err != nil {
			return err
		}
		lastTicket, err = r.LastID(store.SeqTicket)
		return err
	}); err != nil {
		return fmt.Errorf("search: rebuild: %w", err)
	}
	x.total.Store(lastTicket)
	x.rebuilt.Store(0)
	for from := uint64(1); from <= lastTicket; from += rebuildChunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		ids := make([]uint64, 0, rebuildChunk)
		for id := from; id < from+rebuildChunk && id <= lastTicket; id++ {
			ids = append(ids, id)
		}
		n, err := x.indexTickets(ids, nil)
		if err != nil {
			return fmt.Errorf("search: rebuild: %w", err)
		}
		x.rebuilt.Add(uint64(n))
		if from/rebuildChunk%200 == 199 {
			x.log.Info("rebuilding the search index", "tickets", from+rebuildChunk-1, "of", lastTicket)
		}
	}
	b := x.idx.NewBatch()
	b.SetInternal(keySeq, u64(startSeq))
	b.SetInternal(keyFormat, []byte(FormatVersion))
	if err := x.idx.Batch(b); err != nil {
		return fmt.Errorf("search: rebuild: %w", err)
	}
	x.indexed.Store(startSeq)
	x.ready.Store(true)
	x.log.Info("search index built", "tickets", x.rebuilt.Load(), "took", time.Since(started).Round(time.Millisecond))
	return nil
}

// Progress reports a rebuild's progress: tickets indexed and the total.
func (x *Index) Progress() (done, total uint64) { return x.rebuilt.Load(), x.total.Load() }

// CatchUp indexes every event committed after the index's cursor and
// returns how many events it consumed (0: caught up).
func (x *Index) CatchUp(ctx context.Context) (int, error) {
	total := 0
	for ctx.Err() == nil {
		n, err := x.step()
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
	return total, ctx.Err()
}

// step indexes one page of events.
func (x *Index) step() (int, error) {
	after := x.indexed.Load()
	evs, err := x.st.EventsAfter(after, x.opts.BatchEvents)
	if err != nil {
		return 0, err
	}
	if len(evs) == 0 {
		return 0, nil
	}
	if evs[0].Seq != after+1 {
		// The log was trimmed past the cursor while the server ran (it
		// was stopped behind for longer than the event retention).
		return 0, fmt.Errorf("search: events %d to %d are no longer in the log; run patchbay reindex", after+1, evs[0].Seq-1)
	}
	tickets := map[uint64]bool{}
	var users []uint64
	for _, ev := range evs {
		switch {
		case ev.Type == store.EventDeliveryUpdated:
		case ev.Type == store.EventUserUpdated || ev.Type == store.EventUserMerged:
			users = append(users, ev.UserID)
		case ev.TicketID != 0:
			tickets[ev.TicketID] = true
		}
	}
	ids := make([]uint64, 0, len(tickets))
	for id := range tickets {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	seq := evs[len(evs)-1].Seq
	start := time.Now()
	if _, err := x.indexTickets(ids, users, func(b *bleve.Batch) { b.SetInternal(keySeq, u64(seq)) }); err != nil {
		return 0, err
	}
	x.indexed.Store(seq)
	x.m.batches.Inc()
	x.m.events.Add(float64(len(evs)))
	x.m.batchSeconds.Observe(time.Since(start).Seconds())
	return len(evs), nil
}

// indexTickets (re)indexes the given tickets and every ticket requested by
// the given users, reading their current state in one snapshot, in one
// batch; extra adds bookkeeping to the batch. It returns how many tickets
// were indexed.
func (x *Index) indexTickets(ids, users []uint64, extra ...func(*bleve.Batch)) (int, error) {
	b := x.idx.NewBatch()
	n := 0
	err := x.st.View(func(r *store.ReadTx) error {
		seen := make(map[uint64]bool, len(ids))
		for _, u := range users {
			cur := ""
			for {
				list, next, err := r.ListTickets(store.TicketFilter{RequesterID: u, Limit: store.MaxLimit, Cursor: cur})
				if err != nil {
					return err
				}
				for _, t := range list {
					ids = append(ids, t.ID)
				}
				if next == "" || len(list) == 0 {
					break
				}
				cur = store.EncodeCursor(list[len(list)-1].ID)
			}
		}
		users := map[uint64]*ticket.User{}
		size := 0
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			t, err := r.Ticket(id)
			if errors.Is(err, store.ErrNotFound) {
				continue // an id never committed
			}
			if err != nil {
				return err
			}
			doc, textBytes, err := document(r, t, users)
			if err != nil {
				return err
			}
			if err := b.Index(docID(t.ID), doc); err != nil {
				return err
			}
			n++
			// Bound a batch's memory: long mail threads make big documents.
			if size += textBytes; size > maxBatchText {
				if err := x.idx.Batch(b); err != nil {
					return err
				}
				b, size = x.idx.NewBatch(), 0
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, f := range extra {
		f(b)
	}
	if err := x.idx.Batch(b); err != nil {
		return 0, err
	}
	x.m.tickets.Add(float64(n))
	return n, nil
}

// docID is a ticket's document id: fixed width, so that the ids' string
// order is their numeric order (the tie-break of every sort).
func docID(id uint64) string { return fmt.Sprintf("%020d", id) }

func parseDocID(s string) (uint64, error) { return strconv.ParseUint(s, 10, 64) }

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// document returns the indexed form of a ticket with its comments and
// requester (users caches requesters within one batch), and the size of
// its text.
func document(r *store.ReadTx, t *ticket.Ticket, users map[uint64]*ticket.User) (map[string]any, int, error) {
	comments, err := r.Comments(t.ID, 0, 0)
	if err != nil {
		return nil, 0, err
	}
	bodies := make([]string, len(comments))
	size := len(t.Subject)
	var cids strings.Builder
	for i, c := range comments {
		bodies[i] = c.Body
		size += len(c.Body)
		if i > 0 {
			cids.WriteByte(' ')
		}
		cids.WriteString(strconv.FormatUint(c.ID, 10))
	}
	u, ok := users[t.RequesterID]
	if !ok {
		u, err = r.User(t.RequesterID)
		if errors.Is(err, store.ErrNotFound) {
			u, err = nil, nil
		}
		if err != nil {
			return nil, 0, err
		}
		users[t.RequesterID] = u
	}
	var people []string
	if u != nil {
		people = append(people, u.Name, u.Email, u.Phone)
		for _, idn := range u.Identities {
			people = append(people, idn.Value)
		}
	}
	orAbsent := func(s string) string {
		if s == "" {
			return absent
		}
		return s
	}
	assignee := absent
	if t.AssigneeID != 0 {
		assignee = strconv.FormatUint(t.AssigneeID, 10)
	}
	tags := t.Tags
	if tags == nil {
		tags = []string{}
	}
	return map[string]any{
		fieldSubject:   t.Subject,
		fieldComments:  bodies,
		fieldCommentID: cids.String(),
		fieldPeople:    people,
		fieldTagText:   tags,
		fieldStatus:    string(t.Status),
		fieldPriority:  orAbsent(string(t.Priority)),
		fieldChannel:   orAbsent(t.Channel),
		fieldVia:       strings.ToLower(t.Via),
		fieldGroup:     orAbsent(strings.ToLower(t.Group)),
		fieldTags:      tags,
		fieldAssignee:  assignee,
		fieldRequester: strconv.FormatUint(t.RequesterID, 10),
		fieldCreated:   t.CreatedAt.UTC(),
		fieldUpdated:   t.UpdatedAt.UTC(),
		fieldTicketID:  float64(t.ID),
	}, size, nil
}
