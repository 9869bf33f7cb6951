package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/go-hclog"
)

// Errors returned by the store.
var (
	// ErrNotFound is returned for an unknown ticket, comment, user, token…
	ErrNotFound = errors.New("not found")
	// ErrStoreClosed is returned by calls on a closed Store.
	ErrStoreClosed = errors.New("store: closed")
	// ErrTooLarge is returned when one Update function writes more than one
	// Badger transaction can hold.
	ErrTooLarge = errors.New("store: update too large for one transaction")
)

// Store is Patchbay's Badger database. Every write goes through one
// group-commit writer goroutine (Update); reads run concurrently (View).
type Store struct {
	db   *badger.DB
	opts Options
	log  hclog.Logger

	reqs       chan *request
	closing    chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once
	bg         sync.WaitGroup

	notifyMu sync.Mutex
	notifyCh chan struct{}

	// Pipelined commits (Badger managed mode): the writer seals commit
	// units and hands them to the committer goroutine, which commits them
	// one after the other; meanwhile the writer already runs the next
	// functions, reading the pending units' writes as overlays.
	commitCh      chan *unit
	idle          chan struct{} // a token: the committer is waiting for work
	committerDone chan struct{}
	lastTs        uint64 // writer-owned: last commit timestamp handed out

	mu        sync.Mutex
	durableTs uint64     // every commit up to here is synced
	pending   []*overlay // sealed, not yet durable units, oldest first
	epoch     uint64     // bumped by a failed commit: later units built on it fail
	failErr   error
	readers   map[uint64]int // active snapshot read timestamps

	// viewing counts running Views; Close sets closed (no new View
	// starts) and waits on viewsDone until none runs.
	viewing   int
	closed    bool
	viewsDone *sync.Cond

	// commitHook, when set (tests), runs before each unit's commit; an
	// error fails that commit as a Badger error would.
	commitHook func(updates int) error

	// space refuses writes while the disk is short of space (space.go).
	space *spaceGuard

	// events holds the newest committed events for followers
	// (eventring.go).
	events *eventRing

	// cache is the writer's cache of hot records (cache.go); nil when
	// disabled. Owned by the writer goroutine.
	cache *writerCache

	// commits counts synced commits (tests and metrics).
	statsMu sync.Mutex
	stats   Stats
}

// Stats are counters of the writer.
type Stats struct {
	Commits uint64 // synced Badger commits
	Updates uint64 // Update functions committed
	// CommitTime is the total time spent in synced commits.
	CommitTime time.Duration
}

type request struct {
	ctx  context.Context
	fn   func(*Tx) error
	done chan error
	ov   *overlay
}

// unit is one Badger transaction in the making: the writes of several
// Update functions, committed at one timestamp with one sync.
type unit struct {
	ts     uint64
	readTs uint64
	epoch  uint64
	base   *badger.Txn // read-only snapshot at readTs
	txn    *badger.Txn // the write transaction
	layers []*overlay  // pending units when this one started, newest first
	merged *overlay    // writes of this unit's functions so far
	reqs   []*request
	bytes  int
}

// Open opens (creating if needed) the store in opts.Dir and starts the
// writer and the value-log GC.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("store: no data directory")
	}
	opts.defaults()
	if err := checkOpenSpace(opts); err != nil { // space.go
		return nil, fmt.Errorf("store: open %s: %w", opts.Dir, err)
	}
	db, err := badger.OpenManaged(opts.badgerOptions())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", opts.Dir, err)
	}
	s := &Store{
		db:         db,
		opts:       opts,
		log:        opts.Logger,
		reqs:       make(chan *request, 4*opts.MaxBatch),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
		notifyCh:   make(chan struct{}),

		commitCh:      make(chan *unit, 2),
		idle:          make(chan struct{}, 1),
		committerDone: make(chan struct{}),
		readers:       map[uint64]int{},
		space:         newSpaceGuard(opts),
	}
	s.events = newEventRing(eventRingSize)
	if opts.WriterCacheBytes > 0 {
		s.cache = newWriterCache(opts.WriterCacheBytes)
	}
	s.viewsDone = sync.NewCond(&s.mu)
	s.space.debtFn = s.compactionDebt // space.go
	s.durableTs = db.MaxVersion()
	s.lastTs = s.durableTs
	s.idle <- struct{}{}
	go s.committer()
	go s.writer()
	if opts.GCInterval > 0 {
		s.bg.Add(1)
		go s.gcLoop(opts.GCInterval)
	}
	if s.space.enabled() {
		s.bg.Add(1)
		go s.spaceLoop(opts.spaceEvery)
	}
	if err := s.upgradeIndexes(context.Background()); err != nil {
		if !errors.Is(err, ErrInsufficientSpace) {
			_ = s.Close()
			return nil, err
		}
		// Short of disk: serve (reads work, writes resume when space is
		// freed); the upgrade runs at the next start.
		s.log.Error("ticket indexes not upgraded: list filters by tag, priority, group, via and update time may miss older tickets until the next start", "error", err)
	}
	return s, nil
}

// Close stops the writer (queued updates fail with ErrStoreClosed), stops
// GC and closes Badger.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.writerDone
		s.bg.Wait()
		// Refuse new reads and wait for running ones: Badger panics on a
		// read of a closed database.
		s.mu.Lock()
		s.closed = true
		for s.viewing > 0 {
			s.viewsDone.Wait()
		}
		s.mu.Unlock()
		err = s.db.Close()
	})
	return err
}

func (s *Store) now() time.Time { return s.opts.Clock() }

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return s.stats
}

// Update runs fn in the next group commit and returns once that commit is
// synced to disk: a nil error means fn's writes are durable. fn runs on the
// writer goroutine, after the functions queued before it in the same batch
// (it sees their writes), so it must be quick and do no I/O other than
// reading the store through tx. If fn returns an error (or panics) its
// writes are discarded and that error is returned; other functions in the
// batch are not affected. If the commit fails every function of the batch
// gets the error. fn may run again never: it runs at most once.
func (s *Store) Update(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case <-s.closing:
		return ErrStoreClosed
	default:
	}
	select {
	case s.reqs <- r:
	case <-s.closing:
		return ErrStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-s.writerDone:
		select {
		case err := <-r.done:
			return err
		default:
			return ErrStoreClosed
		}
	case <-ctx.Done():
		// fn may still commit; the caller must treat this as unknown.
		return ctx.Err()
	}
}

// View runs fn on a consistent snapshot of committed data.
func (s *Store) View(fn func(*ReadTx) error) error {
	ts, err := s.acquireView()
	if err != nil {
		return err
	}
	defer s.releaseView(ts)
	txn := s.db.NewTransactionAt(ts, false)
	defer txn.Discard()
	return fn(&ReadTx{r: badgerReader{txn}})
}

// acquireView registers a View: its snapshot and the running-view count.
func (s *Store) acquireView() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrStoreClosed
	}
	s.viewing++
	ts := s.durableTs
	s.readers[ts]++
	return ts, nil
}

// releaseView ends a View started with acquireView at ts.
func (s *Store) releaseView(ts uint64) {
	s.releaseRead(ts)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.viewing--; s.viewing == 0 {
		s.viewsDone.Broadcast()
	}
}

func (s *Store) releaseRead(ts uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readers[ts]--; s.readers[ts] <= 0 {
		delete(s.readers, ts)
	}
}

// discardTs is the timestamp below which no reader needs old versions.
func (s *Store) discardTs() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.durableTs
	for r := range s.readers {
		if r < ts {
			ts = r
		}
	}
	return ts
}

// Notify returns a channel that is closed after the next successful commit.
// Call it again after each wake-up (before reading, so no commit is missed).
func (s *Store) Notify() <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	return s.notifyCh
}

func (s *Store) notify() {
	s.notifyMu.Lock()
	close(s.notifyCh)
	s.notifyCh = make(chan struct{})
	s.notifyMu.Unlock()
}

// writer is the single goroutine that runs every Update function. It runs
// each request as soon as it arrives, into the current commit unit, and
// seals the unit when the committer is idle (or the unit is full): while one
// unit is being synced the next one fills up, so sync time and function time
// overlap and a busy store commits many requests per sync.
func (s *Store) writer() {
	var u *unit
	defer func() {
		if u != nil {
			s.seal(u)
		}
		close(s.commitCh)
		<-s.committerDone
		s.failQueued()
		close(s.writerDone)
	}()
	for {
		var idle <-chan struct{}
		if u != nil {
			idle = s.idle
		}
		select {
		case r := <-s.reqs:
			if u == nil {
				u = s.startUnit()
			}
			u = s.runOne(u, r)
		case <-idle:
			// Take what is already queued, then hand the unit over.
		drain:
			for len(u.reqs) < s.opts.MaxBatch {
				select {
				case r := <-s.reqs:
					u = s.runOne(u, r)
				default:
					break drain
				}
			}
			if len(u.reqs) == 0 {
				// Every function failed: nothing to commit, and the
				// committer is still idle.
				s.seal(u)
				select {
				case s.idle <- struct{}{}:
				default:
				}
			} else {
				s.seal(u)
			}
			u = nil
		case <-s.closing:
			return
		}
	}
}

func (s *Store) failQueued() {
	for {
		select {
		case r := <-s.reqs:
			r.done <- ErrStoreClosed
		default:
			return
		}
	}
}

// runFn runs one Update function, turning a panic into an error.
func runFn(fn func(*Tx) error, tx *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: update function panicked: %v", p)
		}
	}()
	return fn(tx)
}

// startUnit opens a commit unit reading the durable snapshot plus every
// pending unit.
func (s *Store) startUnit() *unit {
	s.mu.Lock()
	u := &unit{readTs: s.durableTs, epoch: s.epoch, merged: newOverlay()}
	u.layers = make([]*overlay, 0, len(s.pending))
	for i := len(s.pending) - 1; i >= 0; i-- {
		u.layers = append(u.layers, s.pending[i])
	}
	s.readers[u.readTs]++
	s.mu.Unlock()
	u.base = s.db.NewTransactionAt(u.readTs, false)
	u.txn = s.db.NewTransactionAt(u.readTs, true)
	return u
}

// seal hands the unit to the committer; its writes become a pending layer
// for the units after it.
func (s *Store) seal(u *unit) {
	u.base.Discard()
	s.releaseRead(u.readTs)
	if len(u.reqs) == 0 {
		u.txn.Discard()
		return
	}
	s.lastTs++
	u.ts = s.lastTs
	s.mu.Lock()
	if u.epoch == s.epoch {
		s.pending = append(s.pending, u.merged)
	} // else: built on a failed commit; the committer fails it, and no later
	// unit may read it.
	s.mu.Unlock()
	s.commitCh <- u
}

// runOne runs one request's function in unit u and returns the unit to
// continue with (a new one when u had to be sealed).
func (s *Store) runOne(u *unit, r *request) *unit {
	if err := r.ctx.Err(); err != nil {
		r.done <- err
		return u
	}
	if err := s.space.admit(); err != nil { // disk short: refused unrun (space.go)
		r.done <- err
		return u
	}
	tx := newTx(s, u)
	if err := runFn(r.fn, tx); err != nil {
		r.done <- err
		return u
	}
	r.ov = tx.ov
	if err := tx.ov.apply(u.txn); err != nil {
		// The write transaction now holds part of r's writes: rebuild it
		// from the unit's merged writes, seal it, and give r a unit of its
		// own (its reads stay valid: the sealed unit is a layer).
		u.txn.Discard()
		u.txn = s.db.NewTransactionAt(u.readTs, true)
		if rerr := u.merged.apply(u.txn); rerr != nil {
			for _, a := range u.reqs {
				a.done <- fmt.Errorf("store: rebuild batch: %w", rerr)
			}
			u.reqs = nil
			u.merged = newOverlay()
			if s.cache != nil {
				s.cache.clear() // it holds the failed functions' writes
			}
		}
		s.seal(u)
		u = s.startUnit()
		if err2 := tx.ov.apply(u.txn); err2 != nil {
			u.txn.Discard()
			u.txn = s.db.NewTransactionAt(u.readTs, true)
			if errors.Is(err2, badger.ErrTxnTooBig) {
				err2 = ErrTooLarge
			}
			r.done <- fmt.Errorf("store: %w", err2)
			return u
		}
	}
	tx.ov.mergeInto(u.merged)
	if s.cache != nil {
		s.cache.absorb(tx.ov)
	}
	u.reqs = append(u.reqs, r)
	u.bytes += tx.ov.bytes
	if u.bytes >= s.opts.MaxBatchBytes || len(u.reqs) >= s.opts.MaxBatch {
		s.seal(u)
		u = s.startUnit()
	}
	return u
}

// committer commits sealed units in order, each with one synced write, and
// answers their callers once it is durable. A failed commit fails every
// unit built on top of it.
func (s *Store) committer() {
	defer close(s.committerDone)
	commits := 0
	for u := range s.commitCh {
		var hookErr error
		if s.commitHook != nil {
			hookErr = s.commitHook(len(u.reqs))
		}
		s.mu.Lock()
		err := error(nil)
		if u.epoch != s.epoch {
			err = fmt.Errorf("store: an earlier commit of the batch failed: %w", s.failErr)
		}
		s.mu.Unlock()
		if err == nil && hookErr == nil {
			// Badger faults (SIGBUS) on a full disk: refuse the unit
			// while the disk is short of space (space.go).
			err = s.space.beforeCommit()
		}
		var took time.Duration
		if err == nil && hookErr == nil {
			start := time.Now()
			if cerr := u.txn.CommitAt(u.ts, nil); cerr != nil {
				err = fmt.Errorf("store: commit: %w", cerr)
				s.log.Error("commit failed", "updates", len(u.reqs), "error", cerr)
			}
			took = time.Since(start)
		} else {
			u.txn.Discard()
			if err == nil {
				err = fmt.Errorf("store: commit: %w", hookErr)
			}
		}
		s.mu.Lock()
		if len(s.pending) > 0 && s.pending[0] == u.merged {
			s.pending = s.pending[1:]
		}
		if err == nil {
			s.durableTs = u.ts
		} else if u.epoch == s.epoch {
			s.epoch++
			s.failErr = err
			s.pending = nil
		}
		s.mu.Unlock()
		for _, r := range u.reqs {
			r.done <- err
		}
		select {
		case s.idle <- struct{}{}:
		default:
		}
		if err == nil {
			// Before Notify: a woken follower finds the events.
			s.events.committed(u.merged)
			s.statsMu.Lock()
			s.stats.Commits++
			s.stats.Updates += uint64(len(u.reqs))
			s.stats.CommitTime += took
			s.statsMu.Unlock()
			s.notify()
			if commits++; commits%256 == 0 {
				s.db.SetDiscardTs(s.discardTs())
			}
		}
	}
}

// gcLoop runs Badger's value-log GC periodically: each run rewrites value
// log files that are at least half garbage, until none is left.
func (s *Store) gcLoop(every time.Duration) {
	defer s.bg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case <-t.C:
			if s.opts.EventRetention > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), every)
				if n, err := s.TrimEvents(ctx, s.now().Add(-s.opts.EventRetention)); err != nil {
					s.log.Warn("event log trim failed", "error", err)
				} else if n > 0 {
					s.log.Debug("event log trimmed", "events", n)
				}
				cancel()
			}
			s.db.SetDiscardTs(s.discardTs())
			n := 0
			// A GC run rewrites up to half a value-log file before it
			// deletes it: only with that much free above the reserve.
			for s.space.allows(vlogFileSize/2) && s.db.RunValueLogGC(0.5) == nil {
				n++
				select {
				case <-s.closing:
					return
				default:
				}
			}
			if n > 0 {
				s.log.Debug("value log GC", "files_rewritten", n)
			}
		}
	}
}
