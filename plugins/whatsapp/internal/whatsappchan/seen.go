package whatsappchan

import "sync"

// seenSet remembers the ids of the last messages the core confirmed as
// durable, so that Meta's redeliveries (a whole batch is redelivered when
// one message failed) skip the media downloads and the round trip to the
// core. It is bounded: the oldest ids are forgotten first, after which the
// core's own dedupe still applies.
type seenSet struct {
	mu   sync.Mutex
	ids  map[string]struct{}
	ring []string
	next int
}

const seenCapacity = 10000

func (s *seenSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[id]
	return ok
}

func (s *seenSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = make(map[string]struct{}, seenCapacity)
		s.ring = make([]string, seenCapacity)
	}
	if _, ok := s.ids[id]; ok {
		return
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.ids, old)
	}
	s.ring[s.next] = id
	s.ids[id] = struct{}{}
	s.next = (s.next + 1) % len(s.ring)
}
