package api

import (
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/core/store"
)

// defaultHubRing is how many recent events the hub keeps in memory.
const defaultHubRing = 1024

// hub follows the store's durable event log with one goroutine and keeps
// the most recent events in memory, so that N open event streams cost one
// log read per commit instead of N. A stream whose position is older than
// the ring (a client resuming from far back) reads the log directly until
// it catches up.
type hub struct {
	st      *store.Store
	log     hclog.Logger
	done    <-chan struct{}
	maxRing int

	once sync.Once

	mu      sync.Mutex
	ring    []store.Event // recent events, ascending Seq
	last    uint64        // highest Seq read from the log
	wake    chan struct{} // closed (and replaced) when the ring grows
	stopped bool          // the follower ended (store closed or server closed)
}

func newHub(st *store.Store, log hclog.Logger, done <-chan struct{}) *hub {
	return &hub{st: st, log: log, done: done, maxRing: defaultHubRing, wake: make(chan struct{})}
}

// start launches the follower on first use; it runs until the server's
// Close or the store closes.
func (h *hub) start() {
	h.once.Do(func() {
		var last uint64
		err := h.st.View(func(tx *store.ReadTx) error {
			var err error
			last, err = tx.LastID(store.SeqEvent)
			return err
		})
		if err != nil {
			h.stop()
			return
		}
		h.mu.Lock()
		h.last = last
		h.mu.Unlock()
		go h.follow()
	})
}

func (h *hub) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.stopped {
		h.stopped = true
		close(h.wake)
	}
}

// follow reads new events after every commit into the ring.
func (h *hub) follow() {
	defer h.stop()
	retry := time.NewTimer(0)
	<-retry.C
	for {
		notify := h.st.Notify()
		h.mu.Lock()
		last := h.last
		h.mu.Unlock()
		evs, err := h.st.EventsAfter(last, eventBatch)
		switch {
		case errors.Is(err, store.ErrStoreClosed), errors.Is(err, badger.ErrDBClosed):
			return
		case err != nil:
			h.log.Warn("event hub: reading the event log failed; retrying", "error", err)
			retry.Reset(time.Second)
			select {
			case <-retry.C:
				continue
			case <-h.done:
				return
			}
		}
		if len(evs) > 0 {
			h.append(evs)
			if len(evs) == eventBatch {
				continue
			}
		}
		select {
		case <-notify:
		case <-h.done:
			return
		}
	}
}

func (h *hub) append(evs []store.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ring = append(h.ring, evs...)
	if over := len(h.ring) - h.maxRing; over > 0 {
		h.ring = append(h.ring[:0:0], h.ring[over:]...)
	}
	h.last = evs[len(evs)-1].Seq
	close(h.wake)
	h.wake = make(chan struct{})
}

// next returns up to limit events after seq pos. With none to return, wake
// is closed when there may be more. A position older than the ring (or a
// stopped hub) reads the log directly.
func (h *hub) next(pos uint64, limit int) (evs []store.Event, wake <-chan struct{}, err error) {
	h.start()
	h.mu.Lock()
	if !h.stopped {
		if pos >= h.last {
			w := h.wake
			h.mu.Unlock()
			return nil, w, nil
		}
		if len(h.ring) > 0 && pos+1 >= h.ring[0].Seq {
			i := sort.Search(len(h.ring), func(i int) bool { return h.ring[i].Seq > pos })
			out := append([]store.Event(nil), h.ring[i:min(i+limit, len(h.ring))]...)
			h.mu.Unlock()
			return out, nil, nil
		}
	}
	h.mu.Unlock()
	notify := h.st.Notify()
	evs, err = h.st.EventsAfter(pos, limit)
	return evs, notify, err
}
