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

	// commits counts synced commits (tests and metrics).
	statsMu sync.Mutex
	stats   Stats
}

// Stats are counters of the writer.
type Stats struct {
	Commits uint64 // synced Badger commits
	Updates uint64 // Update functions committed
}

type request struct {
	ctx  context.Context
	fn   func(*Tx) error
	done chan error
	ov   *overlay
}

// Open opens (creating if needed) the store in opts.Dir and starts the
// writer and the value-log GC.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("store: no data directory")
	}
	opts.defaults()
	db, err := badger.Open(opts.badgerOptions())
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
	}
	go s.writer()
	if opts.GCInterval > 0 {
		s.bg.Add(1)
		go s.gcLoop(opts.GCInterval)
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
	return s.db.View(func(txn *badger.Txn) error {
		return fn(&ReadTx{r: badgerReader{txn}})
	})
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

// writer is the single goroutine that owns every write.
func (s *Store) writer() {
	defer close(s.writerDone)
	batch := make([]*request, 0, s.opts.MaxBatch)
	for {
		var first *request
		select {
		case first = <-s.reqs:
		case <-s.closing:
			s.failQueued()
			return
		}
		batch = append(batch[:0], first)
	drain:
		for len(batch) < s.opts.MaxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.runBatch(batch)
		clear(batch)
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

// runBatch runs the batch's functions one after the other against one
// Badger transaction and commits it once (splitting into several commits
// when the batch outgrows one transaction).
func (s *Store) runBatch(batch []*request) {
	txn := s.db.NewTransaction(true)
	var applied []*request
	bytes := 0
	commit := func() {
		if len(applied) == 0 {
			txn.Discard()
			return
		}
		err := txn.Commit()
		if err != nil {
			err = fmt.Errorf("store: commit: %w", err)
			s.log.Error("commit failed", "updates", len(applied), "error", err)
		}
		for _, r := range applied {
			r.done <- err
		}
		if err == nil {
			s.statsMu.Lock()
			s.stats.Commits++
			s.stats.Updates += uint64(len(applied))
			s.statsMu.Unlock()
			s.notify()
		}
		applied = applied[:0]
		bytes = 0
	}
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		tx := newTx(s, txn)
		if err := runFn(r.fn, tx); err != nil {
			r.done <- err
			continue
		}
		r.ov = tx.ov
		if len(tx.ov.order) == 0 {
			// Read-only function: nothing to commit, but answer only after
			// the writes it may have seen are durable.
			applied = append(applied, r)
			continue
		}
		if err := tx.ov.apply(txn); err != nil {
			// The transaction now holds part of r's writes: rebuild it from
			// the functions before r, commit them, then retry r alone.
			txn.Discard()
			txn = s.db.NewTransaction(true)
			var rebuildErr error
			for _, a := range applied {
				if a.ov != nil {
					if rebuildErr = a.ov.apply(txn); rebuildErr != nil {
						break
					}
				}
			}
			if rebuildErr != nil {
				txn.Discard()
				for _, a := range applied {
					a.done <- fmt.Errorf("store: rebuild batch: %w", rebuildErr)
				}
				applied = applied[:0]
				txn = s.db.NewTransaction(true)
			} else {
				commit()
				txn = s.db.NewTransaction(true)
			}
			if err2 := tx.ov.apply(txn); err2 != nil {
				txn.Discard()
				txn = s.db.NewTransaction(true)
				if errors.Is(err2, badger.ErrTxnTooBig) {
					err2 = ErrTooLarge
				}
				r.done <- fmt.Errorf("store: %w", err2)
				continue
			}
		}
		applied = append(applied, r)
		bytes += tx.ov.bytes
		if bytes >= s.opts.MaxBatchBytes {
			commit()
			txn = s.db.NewTransaction(true)
		}
	}
	commit()
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
			n := 0
			for s.db.RunValueLogGC(0.5) == nil {
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
