package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patchbayhq/patchbay/core/store"
)

// bulkWrite writes records 0…n-1 into st from `workers` goroutines, each
// committing Update functions of `per` records so that the group commit
// packs them into large synced transactions. newWriter gives each worker
// its own write function (for per-worker state such as a random source);
// progress is logged every logEvery records under label. It returns the
// first error.
func bulkWrite(ctx context.Context, st *store.Store, n, per, workers, logEvery int, label string, logf func(string, ...any),
	newWriter func(worker int) func(tx *store.Tx, i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for w := range workers {
		write := newWriter(w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				from := int(next.Add(int64(per))) - per
				if from >= n || ctx.Err() != nil {
					return
				}
				to := min(from+per, n)
				err := st.Update(ctx, func(tx *store.Tx) error {
					for i := from; i < to; i++ {
						if err := write(tx, i); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				if to%logEvery < per && to > 0 {
					logf("%s: %d written (%.0f/s)", label, to, float64(to)/time.Since(start).Seconds())
				}
			}
		}()
	}
	wg.Wait()
	if e, ok := firstErr.Load().(error); ok {
		return e
	}
	return ctx.Err()
}
