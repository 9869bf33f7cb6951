package store

import (
	"bytes"
	"encoding/binary"
	"sync"
)

// eventRing keeps the newest committed events (their stored bytes) in
// memory, so followers of the log (the rules engine after every commit,
// the API's event stream) read what was just committed without an
// iterator seek through Badger. It holds contiguous seqs only, appended by
// the committer after each synced commit and before Notify wakes the
// followers; events trimmed from the log leave it too. A follower further
// behind than the ring reads Badger as before.
type eventRing struct {
	mu    sync.Mutex
	first uint64   // seq of buf[0]
	buf   [][]byte // events first, first+1, …
	max   int
}

// eventRingSize is how many events the ring keeps at least (up to twice
// as many).
const eventRingSize = 4096

func newEventRing(max int) *eventRing { return &eventRing{max: max} }

// committed records the events of a unit just made durable, and drops the
// ones it deleted.
func (r *eventRing) committed(ov *overlay) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range ov.order {
		if len(k) != len(pEvent)+8 || k[:len(pEvent)] != pEvent {
			continue
		}
		seq := binary.BigEndian.Uint64([]byte(k[len(pEvent):]))
		e := ov.m[k]
		switch {
		case e.del:
			r.dropThrough(seq)
		case len(r.buf) > 0 && seq == r.first+uint64(len(r.buf)):
			r.buf = append(r.buf, e.val)
		default:
			// Not the next seq (the first events, or a gap after a
			// failed commit reused seqs): start again from this one.
			r.first, r.buf = seq, append(r.buf[:0:0], e.val)
		}
	}
	// Keep between max and 2×max events: the copy is paid once per max
	// events, not on every commit.
	if len(r.buf) > 2*r.max {
		over := len(r.buf) - r.max
		r.first += uint64(over)
		r.buf = append(make([][]byte, 0, 2*r.max+1), r.buf[over:]...)
	}
}

// dropThrough forgets the events up to seq (trimmed from the log).
func (r *eventRing) dropThrough(seq uint64) {
	if len(r.buf) == 0 || seq < r.first {
		return
	}
	n := seq - r.first + 1
	if n >= uint64(len(r.buf)) {
		r.buf, r.first = nil, 0
		return
	}
	r.first += n
	r.buf = r.buf[n:]
}

// after returns up to limit events with Seq > seq, and false when the ring
// cannot answer (seq is older than what it holds).
func (r *eventRing) after(seq uint64, limit int) ([]Event, bool, error) {
	if r == nil {
		return nil, false, nil
	}
	r.mu.Lock()
	if len(r.buf) == 0 || seq+1 < r.first {
		r.mu.Unlock()
		return nil, false, nil
	}
	var raw [][]byte
	if i := seq + 1 - r.first; i < uint64(len(r.buf)) {
		raw = r.buf[i:min(uint64(len(r.buf)), i+uint64(limit))]
		raw = append([][]byte(nil), raw...)
	}
	r.mu.Unlock()
	out := make([]Event, 0, len(raw))
	for _, b := range raw {
		ev, err := decodeEvent(bytes.Clone(b))
		if err != nil {
			return nil, false, err
		}
		out = append(out, ev)
	}
	return out, true, nil
}
