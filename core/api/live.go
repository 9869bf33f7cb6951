package api

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// CodeTooManyStreams answers an event stream over the token's limit
// (Options.MaxStreamsPerToken).
const CodeTooManyStreams = "too_many_streams"

// liveRequest is one authenticated request in progress: what ends it early
// when its token is revoked or the server shuts down.
type liveRequest struct {
	tokenID string
	stream  bool
	cancel  context.CancelFunc
	rc      *http.ResponseController
}

// end cancels the request's context and gives its pending write an
// immediate deadline: a handler blocked writing to a client that stopped
// reading returns at once, and one waiting for events sees ctx done.
func (lr *liveRequest) end() {
	lr.cancel()
	_ = lr.rc.SetWriteDeadline(time.Now())
}

// liveRequests tracks authenticated requests in progress by token, so that
// revoking a token ends its open event streams and other long answers
// (backups, downloads) at once, and caps each token's event streams.
type liveRequests struct {
	maxStreams int

	mu      sync.Mutex
	byToken map[string]map[*liveRequest]struct{}
	streams map[string]int
}

func newLiveRequests(maxStreams int) *liveRequests {
	return &liveRequests{maxStreams: maxStreams, byToken: map[string]map[*liveRequest]struct{}{}, streams: map[string]int{}}
}

// add registers a request of tokenID; a stream over the token's limit is
// refused with 429.
func (l *liveRequests) add(lr *liveRequest) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lr.stream {
		if l.streams[lr.tokenID] >= l.maxStreams {
			return &Error{Status: http.StatusTooManyRequests, Code: CodeTooManyStreams,
				Message: fmt.Sprintf("this token already has %d open event streams, the most allowed; close one (a client needs only one stream)", l.maxStreams)}
		}
		l.streams[lr.tokenID]++
	}
	set := l.byToken[lr.tokenID]
	if set == nil {
		set = map[*liveRequest]struct{}{}
		l.byToken[lr.tokenID] = set
	}
	set[lr] = struct{}{}
	return nil
}

// remove unregisters a finished request.
func (l *liveRequests) remove(lr *liveRequest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	set := l.byToken[lr.tokenID]
	if _, ok := set[lr]; !ok {
		return
	}
	delete(set, lr)
	if len(set) == 0 {
		delete(l.byToken, lr.tokenID)
	}
	if lr.stream {
		if l.streams[lr.tokenID]--; l.streams[lr.tokenID] <= 0 {
			delete(l.streams, lr.tokenID)
		}
	}
}

// revoke ends every request of tokenID in progress except self (the
// request revoking it, when a token revokes itself) and returns how many.
func (l *liveRequests) revoke(tokenID string, self *liveRequest) int {
	l.mu.Lock()
	var ended []*liveRequest
	for lr := range l.byToken[tokenID] {
		if lr != self {
			ended = append(ended, lr)
		}
	}
	l.mu.Unlock()
	for _, lr := range ended {
		lr.end()
	}
	return len(ended)
}

// endStreams ends every open event stream (server shutdown).
func (l *liveRequests) endStreams() {
	l.mu.Lock()
	var ended []*liveRequest
	for _, set := range l.byToken {
		for lr := range set {
			if lr.stream {
				ended = append(ended, lr)
			}
		}
	}
	l.mu.Unlock()
	for _, lr := range ended {
		lr.end()
	}
}

// openStreams returns how many event streams tokenID has open.
func (l *liveRequests) openStreams(tokenID string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.streams[tokenID]
}
