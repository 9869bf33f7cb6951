package outbox

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
	"github.com/patchbayhq/patchbay/core/ticket"
	"github.com/patchbayhq/patchbay/sdk"
)

// While the store refuses writes (disk short of space) the worker sends
// nothing — it could not record the result, and would send the reply again
// on every scan — and once space returns the reply is sent exactly once.
func TestNoSendWhileTheStoreRefusesWrites(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 40)
	st, err := store.Open(store.Options{
		Dir:       t.TempDir(),
		FreeSpace: func(string) (uint64, error) { return free.Load(), nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st}
	id := e.reply(e.seed(), "hello")

	free.Store(1 << 20) // far below the reserve
	s := &fakeSender{script: []func(int) (*sdk.SendResult, error){ok}}
	stop := e.run(s, Options{})
	defer stop()
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if n := s.count(); n != 0 {
			t.Fatalf("%d sends while the store refused writes", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := e.delivery(id); d.Status != ticket.DeliveryPending {
		t.Fatalf("delivery while short of space: %+v", d)
	}

	free.Store(1 << 40)
	e.waitStatus(id, ticket.DeliverySent)
	time.Sleep(200 * time.Millisecond) // a resend would show up here
	if n := s.count(); n != 1 {
		t.Fatalf("%d sends after space returned, want 1", n)
	}
}
